"""An export written to a temporary folder and sent as one download (label, preference and model exports).

Below every app, like ``webapp.access``: the rating and pipeline APIs both answer this way.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.http import FileResponse
from rest_framework.response import Response

from pipeline.data.exports import ExportError


def export_download(*, name: str, write: Callable[[Path], Path], missing: str) -> FileResponse | Response:
    """``write(out)`` exports to ``out`` in a fresh temporary folder and returns the file to send;
    the folder is removed before the answer goes out (the open file outlives its name). A refused
    export (``ExportError``) is a 404 when its message starts with ``missing`` ("no ... run"), else a 400."""
    folder = Path(tempfile.mkdtemp(prefix="export-"))
    try:
        try:
            file = write(folder / name)
        except ExportError as exc:
            return Response({"detail": str(exc)}, status=404 if str(exc).startswith(missing) else 400)
        handle = file.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return FileResponse(handle, as_attachment=True, filename=file.name)
