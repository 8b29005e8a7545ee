"""An upload handler that stops storing a file once it passes IMPORT_MAX_UPLOAD_BYTES.

Django stores an upload (in memory, then in a temporary file) before any view or form can look
at its size, so a form's size check alone still lets a client fill the disk. This handler runs
first, counts each file's bytes as they arrive and skips the rest of a file that is too large:
what came of it is deleted, the request's other fields still arrive, and the file is recorded
in ``request.refused_uploads`` (field name -> file name) for the form to say why it is missing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class CappedUploadHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.IMPORT_MAX_UPLOAD_BYTES:
            if self.request is not None:  # Django hands every handler of an upload its request
                refused = getattr(self.request, "refused_uploads", {})
                refused[self.field_name] = self.file_name
                self.request.refused_uploads = refused  # type: ignore[attr-defined]  # this app's own attribute on the request
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers store the file
