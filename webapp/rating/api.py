"""Read-only REST API for staff (token or session) holding the rating app's view permissions
(``webapp.access``): rounds, progress, judgements, and the export of a round's judgements as
JSONL or CSV."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from pipeline.data.exports import single_file
from webapp.access import SEE_JUDGEMENTS, SEE_ROUNDS, staff_permission
from webapp.csv_cells import csv_writer
from webapp.downloads import export_download
from webapp.experiments.models import Experiment
from webapp.rating import exports, selectors
from webapp.rating.models import Judgement, Mark, Round, RoundRater


class RoundSerializer(serializers.ModelSerializer):
    experiment: serializers.SlugRelatedField[Experiment] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Round
        fields = [
            "id", "name", "experiment", "policies", "mode", "overlap", "gold_share", "instructions",
            "is_open", "lease_minutes", "min_gold_accuracy", "created_at",
        ]


class MarkSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="entry.policy")
    degraded = serializers.BooleanField(source="entry.degraded")

    class Meta:
        model = Mark
        fields = ["alias", "shown_position", "policy", "degraded", "rank", "harmless"]


class JudgementSerializer(serializers.ModelSerializer):
    rater = serializers.CharField(source="rater.username")
    prompt = serializers.IntegerField(source="item.prompt_id")
    is_gold = serializers.BooleanField(source="item.is_gold")
    excluded = serializers.SerializerMethodField()
    marks = MarkSerializer(many=True)

    class Meta:
        model = Judgement
        fields = [
            "id", "round", "item", "prompt", "rater", "is_gold", "gold_passed", "excluded", "marks",
            "leased_at", "submitted_at", "server_ms", "active_ms",
        ]

    def get_excluded(self, judgement) -> bool:
        return (judgement.round_id, judgement.rater_id) in self.context["excluded"]


class RoundList(generics.ListAPIView):
    permission_classes = [staff_permission(SEE_ROUNDS)]
    queryset = Round.objects.select_related("experiment")
    serializer_class = RoundSerializer


class RoundDetail(generics.RetrieveAPIView):
    permission_classes = [staff_permission(SEE_ROUNDS)]
    queryset = Round.objects.select_related("experiment")
    serializer_class = RoundSerializer


class JudgementList(generics.ListAPIView):
    """All judgements, newest last; ``?round=ID`` and ``?rater=USERNAME`` narrow them."""

    permission_classes = [staff_permission(SEE_JUDGEMENTS)]
    serializer_class = JudgementSerializer

    def get_queryset(self):
        queryset = Judgement.objects.select_related("rater", "item").prefetch_related("marks__entry").order_by("id")
        round_id = self.request.query_params.get("round", "")
        if re.fullmatch(r"[0-9]{1,18}", round_id):  # ASCII digits only: "²".isdigit() is true too
            queryset = queryset.filter(round_id=int(round_id))
        if self.request.query_params.get("rater"):
            queryset = queryset.filter(rater__username=self.request.query_params["rater"])
        return queryset

    def get_serializer_context(self):
        excluded = set(RoundRater.objects.filter(excluded=True).values_list("round_id", "rater_id"))
        return {**super().get_serializer_context(), "excluded": excluded}


class RaterProgressSerializer(serializers.Serializer):
    rater = serializers.CharField()
    judgements = serializers.IntegerField()
    gold_seen = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    median_active_s = serializers.FloatField(allow_null=True)
    median_server_s = serializers.FloatField(allow_null=True)
    skips = serializers.IntegerField()
    flagged = serializers.BooleanField()
    excluded = serializers.BooleanField()


class RoundProgressSerializer(serializers.Serializer):
    """For the OpenAPI schema only: the shape of ``round_progress``'s answer."""

    round = serializers.IntegerField()
    items = serializers.IntegerField()
    gold_items = serializers.IntegerField()
    judgements = serializers.IntegerField()
    judgements_needed = serializers.IntegerField()
    complete_items = serializers.IntegerField()
    active_leases = serializers.IntegerField()
    skips = serializers.IntegerField()
    raters = RaterProgressSerializer(many=True)


@extend_schema(responses=RoundProgressSerializer)
@api_view(["GET"])
@permission_classes([staff_permission(SEE_ROUNDS)])
def round_progress(request, pk: int):
    round = get_object_or_404(Round, pk=pk)
    progress = selectors.round_progress(round)
    quality = selectors.round_quality(round)
    return Response(
        {
            "round": round.pk,
            "items": progress.items,
            "gold_items": progress.gold_items,
            "judgements": progress.judgements,
            "judgements_needed": progress.judgements_needed,
            "complete_items": progress.complete_items,
            "active_leases": progress.active_leases,
            "skips": progress.skips,
            "raters": [
                {
                    "rater": row.username,
                    "judgements": row.judgements,
                    "gold_seen": row.gold_seen,
                    "gold_accuracy": row.gold_accuracy,
                    "median_active_s": row.median_active_s,
                    "median_server_s": row.median_server_s,
                    "skips": row.skips,
                    "flagged": row.flagged,
                    "excluded": row.excluded,
                }
                for row in quality
            ],
        }
    )


def _download(lines, round: Round, suffix: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="round-{round.pk}-judgements.{suffix}"'
    return response


@extend_schema(responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One judgement per line.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def export_jsonl(request, pk: int):
    round = get_object_or_404(Round, pk=pk)
    lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in selectors.judgement_records(round))
    return _download(lines, round, "jsonl", "application/x-ndjson; charset=utf-8")


CSV_COLUMNS = [
    "judgement_id", "round_id", "item_id", "prompt_id", "rater", "excluded", "is_gold", "gold_passed",
    "shown_order", "alias_policy", "ranking", "ranking_policies", "harmless",
    "leased_at", "submitted_at", "server_ms", "active_ms",
]


@extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One judgement per row.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def export_csv(request, pk: int):
    round = get_object_or_404(Round, pk=pk)

    def lines():
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for record in selectors.judgement_records(round):
            writer.writerow([record[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return _download(lines(), round, "csv", "text/csv; charset=utf-8")


PAIR_SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}  # hf is a folder, sent zipped


@extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The export file."),
                          400: OpenApiResponse(description="Bad format, or no ranked judgements yet."),
                          404: OpenApiResponse(description="No such round.")})
@api_view(["GET"])
@permission_classes([staff_permission(SEE_JUDGEMENTS)])
def export_preferences(request, pk: int, fmt: str):
    """The round's rankings as pairwise preferences; ``?gold=include`` and ``?excluded=include`` keep those."""
    def write(out: Path) -> Path:
        exports.round_preferences_export(
            round_id=pk, out=out, fmt=fmt, include_gold=request.query_params.get("gold") == "include",
            include_excluded=request.query_params.get("excluded") == "include",
        )
        return single_file(out)

    return export_download(name=f"round-{pk}-preferences{PAIR_SUFFIXES.get(fmt, '')}", write=write, missing="no rating round")
