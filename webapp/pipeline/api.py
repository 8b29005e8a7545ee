"""REST API of the pipeline app (staff holding ``SEE_RUNS``): a labeling run's AI labels as a
download in TRL preference format (JSONL, Parquet, or a zipped ``datasets`` folder), and a
training run's model as a plain transformers checkpoint with its card (zip or tar.gz)."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from pipeline.data.exports import single_file
from webapp.access import SEE_RUNS, staff_permission
from webapp.downloads import export_download
from webapp.pipeline.services import exports

SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}  # hf is a folder, sent zipped
ARCHIVES = ("zip", "tar.gz")


@extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The export file."),
                          400: OpenApiResponse(description="Bad format or tie rule, or no labels yet."),
                          404: OpenApiResponse(description="No such labeling run.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_RUNS)])
def export_labels(request, labeling_run_id: int, fmt: str):
    """``?ties=keep`` keeps pairs with p == 0.5, flagged ``tie``."""
    def write(out: Path) -> Path:
        exports.labeling_run_export(run_id=labeling_run_id, out=out, fmt=fmt, ties=request.query_params.get("ties", "drop"))
        return single_file(out)

    return export_download(name=f"labeling-run-{labeling_run_id}-labels{SUFFIXES.get(fmt, '')}", write=write,
                           missing="no labeling run")


def archive_folder(out: Path, archive: str) -> Path:
    """``out`` packed beside it, under its own name, so it unpacks into one folder.

    Half a gigabyte of weights: the zip stores them as they are (ready at once), the tar.gz
    compresses at level 1 (about a third smaller, 4x faster than gzip's default level).
    """
    file = out.with_name(f"{out.name}.{archive}")
    if archive == "zip":
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as packed:
            for path in sorted(out.rglob("*")):
                packed.write(path, f"{out.name}/{path.relative_to(out)}")
    else:
        with tarfile.open(file, "w:gz", compresslevel=1) as packed:
            packed.add(out, arcname=out.name)
    return file


@extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The model folder, archived."),
                          400: OpenApiResponse(description="Bad archive type, or a run without finished weights."),
                          404: OpenApiResponse(description="No such training run.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_RUNS)])
def export_model(request, training_run_id: int, archive: str):
    """The ``export_model`` folder of a training run in one archive (``model.zip``, ``model.tar.gz``)."""
    if archive not in ARCHIVES:
        return Response({"detail": f"archive must be one of {', '.join(ARCHIVES)}, not {archive!r}"}, status=400)
    def write(out: Path) -> Path:
        exports.training_run_model_export(run_id=training_run_id, out=out)
        return archive_folder(out, archive)

    return export_download(name=f"training-run-{training_run_id}-model", write=write, missing="no training run")
