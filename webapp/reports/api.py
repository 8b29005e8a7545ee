"""The report API for staff (token or session) who may see judgements (``webapp.access``): every table of the
report pages as JSON, the same payloads ``python manage.py report SLUG --json`` prints.

The views hand back the selectors' cached payloads unchanged; ``serializers.py`` describes
them for the OpenAPI schema at /api/schema/.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from pipeline.stats import plan_sample_size
from pipeline.stats.planner import NOT_SHOWN_FIRST, plan_shown_first
from webapp.access import SEE_JUDGEMENTS, staff_permission
from webapp.experiments.models import Experiment
from webapp.reports import precision, run_selectors, selectors
from webapp.reports import run_serializers as run_shapes
from webapp.reports import serializers as shapes

NOT_FOUND = OpenApiResponse(shapes.Detail, description="No experiment with this slug.")
# The demo experiment's slug as the example, so that a client (or schemathesis) trying the
# documented example hits real data on a lab set up with `make run`.
SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, required=True, pattern=r"^[-a-zA-Z0-9_]+$",
    description="The experiment's slug.", examples=[OpenApiExample("demo", value="demo")],
)
BASELINE = OpenApiParameter(
    "baseline", OpenApiTypes.STR, description="Policy the others are compared with (default: sft, else the first by name)."
)


@extend_schema(
    summary="Human evaluation: win rates, tests, harmless rates, length control, Bradley–Terry, agreement",
    parameters=[SLUG, BASELINE],
    responses={200: shapes.HumanReport, 400: OpenApiResponse(shapes.Detail, description="Unknown baseline."), 404: NOT_FOUND},
)
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def report(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    try:
        payload = selectors.human_report(experiment, request.query_params.get("baseline") or None)
    except selectors.BaselineError as error:
        return Response({"detail": str(error)}, status=400)
    return Response(payload)


@extend_schema(summary="Stop when precise enough: each interval shown first against the round's target half-width",
               parameters=[SLUG], responses={200: shapes.Precision, 404: NOT_FOUND})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def precision_targets(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return Response(precision.experiment_precision(experiment))


@extend_schema(summary="Rater quality: agreement, gold accuracy, time per item, excluded raters",
               parameters=[SLUG], responses={200: shapes.RaterReport, 404: NOT_FOUND})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def raters(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return Response(selectors.rater_report(experiment))


@extend_schema(summary="AI-labeler alignment: prompt techniques, labeler models, position bias, calibration, reward models",
               parameters=[SLUG], responses={200: run_shapes.AlignmentReport, 404: NOT_FOUND})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def alignment(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return Response(run_selectors.alignment_report(experiment))


@extend_schema(summary="Training curves of every training run", parameters=[SLUG],
               responses={200: run_shapes.TrainingReport, 404: NOT_FOUND})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def training(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return Response(run_selectors.training_report(experiment))


@extend_schema(summary="AI vs human cost per 1,000 labels, per labeling run", parameters=[SLUG],
               responses={200: run_shapes.CostReport, 404: NOT_FOUND})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def cost(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return Response(run_selectors.cost_report(experiment))


@extend_schema(
    summary="Sample size: rated items needed to detect a win-rate difference (the shown-first test, simulated, for one rate vs 50 %)",
    parameters=[shapes.SampleSizeQuery],
    responses={200: shapes.SampleSizePlan, 400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid query; the reasons by field.")},
)
@api_view(["GET"])
def sample_size(request):
    query = shapes.SampleSizeQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    crossed_keys = ("raters_per_item", "rater_pool", "item_sd", "rater_sd", "judge_worth")
    crossed_args = {key: data.pop(key) for key in crossed_keys}
    plan = plan_sample_size(**data).to_dict()
    try:
        crossed = plan_shown_first(data["p1"], data["p0"], two_sample=data["two_sample"], alpha=data["alpha"],
                                   power=data["power"], **crossed_args)
    except ValueError as error:
        return Response({**plan, "crossed": None, "crossed_reason": str(error)})
    return Response({**plan, "crossed": crossed.to_dict() if crossed else None, "crossed_reason": "" if crossed else NOT_SHOWN_FIRST})
