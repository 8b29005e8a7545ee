"""REST API of the pipeline app (staff holding ``SEE_RUNS``): a labeling run's AI labels as a
download in TRL preference format (JSONL, Parquet, or a zipped ``datasets`` folder)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from pipeline.data.exports import ExportError, single_file
from webapp.access import SEE_RUNS, staff_permission
from webapp.pipeline.services import exports

SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}  # hf is a folder, sent zipped


@extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The export file."),
                          400: OpenApiResponse(description="Bad format or tie rule, or no labels yet."),
                          404: OpenApiResponse(description="No such labeling run.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_RUNS)])
def export_labels(request, labeling_run_id: int, fmt: str):
    """``?ties=keep`` keeps pairs with p == 0.5, flagged ``tie``."""
    folder = Path(tempfile.mkdtemp(prefix="labels-export-"))
    try:
        out = folder / f"labeling-run-{labeling_run_id}-labels{SUFFIXES.get(fmt, '')}"
        try:
            exports.labeling_run_export(run_id=labeling_run_id, out=out, fmt=fmt, ties=request.query_params.get("ties", "drop"))
        except ExportError as exc:
            return Response({"detail": str(exc)}, status=404 if str(exc).startswith("no labeling run") else 400)
        file = single_file(out)
        handle = file.open("rb")  # open before the folder goes: the open file outlives its name
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return FileResponse(handle, as_attachment=True, filename=file.name)
