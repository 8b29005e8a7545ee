"""The shapes of the run reports in the API (labeling, alignment, training curves, cost).

Same rules as ``webapp.reports.serializers``: they describe the selectors' payloads for the
OpenAPI schema, and every float may be null.
"""

from __future__ import annotations

from rest_framework import serializers as s

from webapp.reports.serializers import NullInt, Num


class LabelingRunRow(s.Serializer):
    run_id = s.IntegerField()
    model_spec = s.CharField()
    split = s.CharField()
    status = s.CharField()
    sweep_id = NullInt()
    config = s.CharField()
    preamble = s.CharField(allow_null=True)
    shots = NullInt()
    cot = s.BooleanField(allow_null=True)
    self_consistency = NullInt(help_text="Rationales sampled per order at T = 1 (1: greedy CoT or none).")
    calibrate = s.BooleanField(help_text="Contextual calibration: the answer prior of a content-free sample divided out.")
    labels = s.IntegerField()
    n = NullInt()
    alignment = Num()
    alignment_low = Num()
    alignment_high = Num()
    position1_rate = Num()
    order_disagreement = Num()
    label_mass = Num()
    copy_rate = Num(help_text="Share of pairs answered like the last few-shot exemplar in both orders (null at 0 shots).")


class Sweep(s.Serializer):
    sweep_id = s.IntegerField()
    model_spec = s.CharField()
    split = s.CharField()
    limit = NullInt()
    created_at = s.DateTimeField()
    rows = LabelingRunRow(many=True)


class LabelerModel(s.Serializer):
    comparison_id = s.IntegerField(help_text="The label_compare run: its rows share pairs and settings.")
    model_spec = s.CharField()
    precision = s.CharField()
    run_id = s.IntegerField()
    status = s.CharField()
    config = s.CharField()
    n = NullInt()
    alignment = Num()
    alignment_low = Num()
    alignment_high = Num()
    position1_rate = Num()
    order_disagreement = Num()
    label_mass = Num()
    tokens_per_label = Num()
    ai_cost_per_1k_labels = Num()


class CalibrationBin(s.Serializer):
    run_id = s.IntegerField()
    config = s.CharField()
    model_spec = s.CharField()
    low = Num()
    high = Num()
    count = s.IntegerField()
    mean_confidence = Num()
    agreement = Num()


class CurvePoint(s.Serializer):
    pairs = s.IntegerField()
    accuracy = Num()
    low = Num()
    high = Num()


class RewardModel(s.Serializer):
    run_id = s.IntegerField()
    arm = s.CharField(allow_blank=True)
    algorithm = s.CharField(allow_blank=True)
    label_source = s.CharField(allow_blank=True)
    status = s.CharField()
    model_spec = s.CharField()
    accuracy = Num()
    accuracy_low = Num()
    accuracy_high = Num()
    curve = CurvePoint(many=True)


class LabelMass(s.Serializer):
    run_id = s.IntegerField()
    model_spec = s.CharField()
    config = s.CharField()
    labels = s.IntegerField()
    mean = Num()
    p10 = Num()
    median = Num()
    p90 = Num()
    below_warning = Num(help_text="Share of labels with a mass below LABEL_MASS_WARNING.")
    warning = s.BooleanField(help_text="The run's mean label mass is below LABEL_MASS_WARNING.")


class MixingRow(s.Serializer):
    share = s.FloatField(help_text="Share of the training pairs with human labels (the rest AI).")
    run_id = s.IntegerField()
    arm = s.CharField(allow_blank=True)
    algorithm = s.CharField()
    label_source = s.CharField()
    status = s.CharField()
    model_spec = s.CharField()
    accuracy = Num()
    accuracy_low = Num()
    accuracy_high = Num()


class AlignmentReport(s.Serializer):
    experiment = s.CharField()
    sweeps = Sweep(many=True)
    by_model = LabelerModel(many=True)
    labeling_runs = LabelingRunRow(many=True)
    calibration = CalibrationBin(many=True)
    reward_models = RewardModel(many=True)
    label_mass = LabelMass(many=True)
    mixing = MixingRow(many=True)


class Series(s.Serializer):
    key = s.CharField()
    steps = s.ListField(child=s.IntegerField())
    values = s.ListField(child=s.FloatField())


class TrainingRunCurves(s.Serializer):
    run_id = s.IntegerField()
    kind = s.CharField()
    arm = s.CharField(allow_blank=True)
    algorithm = s.CharField(allow_blank=True)
    label_source = s.CharField(allow_blank=True)
    status = s.CharField()
    series = Series(many=True)


class TrainingReport(s.Serializer):
    experiment = s.CharField()
    runs = TrainingRunCurves(many=True)


class CostRow(s.Serializer):
    run_id = s.IntegerField()
    model_spec = s.CharField()
    status = s.CharField()
    config = s.CharField()
    labels = s.IntegerField()
    prompt_tokens = s.IntegerField()
    generated_tokens = s.IntegerField()
    tokens_per_label = Num()
    price_per_1k_tokens = Num()
    price_per_human_label = Num()
    ai_cost_per_1k_labels = Num()
    human_cost_per_1k_labels = Num()
    ai_cost_total = Num()
    human_cost_total = Num()
    human_to_ai_ratio = Num()
    human_cost_per_1k_measured = Num(help_text="Human labels priced from the raters' measured time (HUMAN_HOURLY_RATE).")
    measured_to_ai_ratio = Num()


class MeasuredTime(s.Serializer):
    judgements = s.IntegerField(help_text="Judgements with a measured active time.")
    mean_seconds = Num()
    median_seconds = Num()
    hourly_rate = Num()
    cost_per_label = Num()
    cost_per_1k_labels = Num()


class CostReport(s.Serializer):
    experiment = s.CharField()
    runs = CostRow(many=True)
    labels = s.IntegerField()
    ai_cost_total = Num()
    human_cost_total = Num()
    measured = MeasuredTime()
