"""The shapes of the report API, for the OpenAPI schema (drf-spectacular).

The views return the selectors' payloads as they are, so that the API and ``report --json``
are byte-for-byte the same numbers; these serializers describe those payloads (the schema
test checks every response against them). Every float may be null: a statistic that is not
defined yet (no data, a zero variance) is null in JSON, never NaN.
"""

from __future__ import annotations

from rest_framework import serializers as s


def Num(**kwargs):
    return s.FloatField(allow_null=True, **kwargs)


def NullInt(**kwargs):
    return s.IntegerField(allow_null=True, **kwargs)


class Interval(s.Serializer):
    low = Num()
    high = Num()


class Crossed(s.Serializer):
    estimate = Num()
    interval = Interval()
    se = Num(help_text="Two-way cluster-robust standard error (null on the exact path).")
    df = Num(help_text="Satterthwaite degrees of freedom of the t reference (null on the exact path).")
    p_value = Num(help_text="Two-sided test (null where none applies, e.g. a harmless rate, or when not computed).")
    p_holm = Num()
    method = s.CharField(allow_blank=True, help_text="Empty when the statistic could not be computed.")
    reason = s.CharField(allow_blank=True, help_text="Why the exact path was taken, or why nothing could be computed.")
    n_prompts = s.IntegerField()
    n_raters = s.IntegerField()


def ValidForCrossed():
    return Crossed(allow_null=True, help_text="Interval and test valid for crossed raters × items, shown first in the report.")


class WinRate(s.Serializer):
    a = s.CharField()
    b = s.CharField()
    wins = s.IntegerField()
    n = s.IntegerField()
    rate = Num(help_text="Share of the rankings with both policies in which a is above b.")
    wilson = Interval()
    bootstrap = Interval(help_text="Percentile bootstrap, resampling prompts.")
    t_statistic = Num()
    p_value = Num(help_text="One-sample t-test of the 0/1 outcomes against 50 % (the paper's; every ranking counted as independent).")
    p_holm = Num()
    t_prompt = Num()
    p_prompt = Num(help_text="One-sample t-test of the per-prompt win shares against 50 %: valid when several raters rank one item.")
    p_prompt_holm = Num()
    crossed = ValidForCrossed()


class TTest(s.Serializer):
    kind = s.CharField()
    estimate = Num()
    statistic = Num()
    df = Num()
    p_value = Num()
    n1 = s.IntegerField()
    n2 = s.IntegerField()


class WinRateComparison(s.Serializer):
    first = s.ListField(child=s.CharField(), min_length=2, max_length=2)
    second = s.ListField(child=s.CharField(), min_length=2, max_length=2)
    rate1 = Num()
    rate2 = Num()
    difference = Num()
    student = TTest()
    welch = TTest()
    paired = TTest()
    p_student_holm = Num()
    p_welch_holm = Num()
    p_paired_holm = Num()
    crossed = ValidForCrossed()


class HarmlessRate(s.Serializer):
    policy = s.CharField()
    harmless = s.IntegerField()
    n = s.IntegerField()
    rate = Num()
    wilson = Interval()
    crossed = ValidForCrossed()


class ProportionTest(s.Serializer):
    a = s.CharField()
    b = s.CharField()
    rate_a = Num()
    rate_b = Num()
    difference = Num()
    z = Num()
    p_value = Num()
    p_holm = Num()
    crossed = ValidForCrossed()


class LengthControl(s.Serializer):
    a = s.CharField()
    b = s.CharField()
    n = s.IntegerField()
    mean_gap = Num()
    gap_se = Num()
    raw_rate = Num()
    adjusted_rate = Num()
    adjusted_ci = Interval()
    slope_per_100_tokens = Num()
    penalized = s.BooleanField()
    note = s.CharField(allow_blank=True)
    crossed = ValidForCrossed()


class Strength(s.Serializer):
    policy = s.CharField()
    log_strength = Num()
    interval = Interval()
    crossed = Crossed(allow_null=True, help_text="Model P(policy beats the baseline), interval and test valid for crossed raters × items; null for the baseline.")


class BradleyTerry(s.Serializer):
    strengths = Strength(many=True)
    n_comparisons = s.IntegerField()
    iterations = s.IntegerField()
    converged = s.BooleanField()
    regularized = s.BooleanField()
    n_boot = s.IntegerField()
    n_boot_regularized = s.IntegerField()


class AgreementSummary(s.Serializer):
    level = s.CharField()
    alpha = Num(help_text="Krippendorff's alpha.")
    percent_agreement = Num()
    majority_agreement = Num()
    n_units = s.IntegerField()
    n_pairable_units = s.IntegerField()
    n_ratings = s.IntegerField()


class RaterAgreement(s.Serializer):
    rater = s.CharField()
    n = s.IntegerField()
    agreement = Num()


class Agreement(AgreementSummary):
    raters = RaterAgreement(many=True)


class Stats(s.Serializer):
    baseline = s.CharField()
    policies = s.ListField(child=s.CharField())
    n_rankings = s.IntegerField()
    n_prompts = s.IntegerField()
    n_items = s.IntegerField()
    n_raters = s.IntegerField()
    n_harm_labels = s.IntegerField()
    n_boot = s.IntegerField()
    seed = NullInt()
    confidence = s.FloatField()
    win_rates = WinRate(many=True)
    vs_baseline = WinRate(many=True)
    baseline_comparisons = WinRateComparison(many=True)
    harmless = HarmlessRate(many=True)
    harmless_tests = ProportionTest(many=True)
    length = LengthControl(many=True)
    bradley_terry = BradleyTerry(allow_null=True)
    ranking_agreement = Agreement(allow_null=True)
    harm_agreement = Agreement(allow_null=True)


class JudgementCounts(s.Serializer):
    total = s.IntegerField()
    gold = s.IntegerField(help_text="Judgements of gold items: quality control only, left out.")
    excluded = s.IntegerField(help_text="Judgements of excluded raters on non-gold items, left out (their gold ones count as gold).")
    included = s.IntegerField()


class ExcludedRater(s.Serializer):
    round_id = s.IntegerField()
    round = s.CharField()
    rater = s.CharField()
    reason = s.CharField(allow_blank=True)
    excluded_at = s.DateTimeField(allow_null=True)
    judgements = s.IntegerField()


class LengthSummary(s.Serializer):
    policy = s.CharField()
    n = s.IntegerField()
    mean = Num()
    min = Num()
    q1 = Num()
    median = Num()
    q3 = Num()
    max = Num()


class LengthUnit(s.Serializer):
    unit = s.CharField(help_text="Always tokens.")
    tokenizer = s.CharField(allow_null=True, help_text="Model spec whose tokenizer counted every length; null before any was stored.")
    measured = s.IntegerField(help_text="Responses with a length in this unit.")
    unmeasured = s.IntegerField(help_text="Responses without one (counted under another tokenizer, or not yet): left out of length control.")


class PPIRate(s.Serializer):
    estimate = Num(help_text="PPI++ estimate: human judgements plus the AI judge's scores.")
    interval = Interval()
    se = Num()
    df = Num()
    p_value = Num(help_text="Two-sided test of the win rate against 50 % (null for a harmless rate).")
    lam = Num(help_text="Power-tuning weight of the judge's scores (0: they add nothing).")
    human_only = Num(help_text="The human judgements' rate on the prompts the judge scored.")
    ai_only = Num(help_text="The judge's own rate over every prompt it scored (biased if the judge is).")
    n_human = s.IntegerField()
    n_prompts = s.IntegerField()
    n_raters = s.IntegerField()
    n_ai_only = s.IntegerField(help_text="Prompts only the judge scored.")
    effective_human = Num(help_text="Human judgements of this design that would give the same precision.")
    method = s.CharField(allow_blank=True)
    reason = s.CharField(allow_blank=True)


class AiAssisted(s.Serializer):
    policy = s.CharField()
    opponent = s.CharField()
    rate = PPIRate()
    unscored = s.IntegerField(help_text="Human rankings of the pair on prompts the judge has not scored (left out).")


class AiHarmless(s.Serializer):
    policy = s.CharField()
    rate = PPIRate()
    unscored = s.IntegerField(help_text="Human harm labels on prompts the judge has not scored (left out).")


class Unrated(s.Serializer):
    rankings = s.ListField(child=s.CharField(), help_text="Policies of a round that no rater has ranked yet.")
    harm = s.ListField(child=s.CharField(), help_text="Policies of a round without harmless/harmful labels yet.")


class HumanReport(s.Serializer):
    experiment = s.CharField()
    fingerprint = s.CharField(help_text="Changes whenever the data the report depends on changes.")
    computed_at = s.DateTimeField()
    baseline = s.CharField()
    judgements = JudgementCounts()
    excluded_raters = ExcludedRater(many=True)
    lengths = LengthSummary(many=True)
    length_unit = LengthUnit(allow_null=True)
    stats = Stats()
    ai_assisted = AiAssisted(many=True, help_text="AI-assisted (PPI++) win rates vs the baseline; empty until an AI judge scored a round.")
    unrated = Unrated(help_text="Policies in a round with nothing to report yet: each table lists them with the reason.")
    ai_harmless = AiHarmless(many=True, help_text="AI-assisted (PPI++) harmless rates; empty until an AI judge labelled a round's responses.")


class RoundQuality(s.Serializer):
    round_id = s.IntegerField()
    round = s.CharField()
    mode = s.CharField()
    items = s.IntegerField()
    gold_items = s.IntegerField()
    judgements = s.IntegerField()
    judgements_needed = s.IntegerField()
    percent = s.IntegerField()
    gold_accuracy = Num()


class RaterQuality(s.Serializer):
    round_id = s.IntegerField()
    round = s.CharField()
    rater = s.CharField()
    judgements = s.IntegerField()
    gold_seen = s.IntegerField()
    gold_passed = s.IntegerField()
    gold_accuracy = Num()
    median_active_s = Num()
    median_server_s = Num()
    skips = s.IntegerField()
    flagged = s.BooleanField()
    excluded = s.BooleanField()
    excluded_reason = s.CharField(allow_blank=True)
    rank_agreement = Num()
    rank_agreement_n = s.IntegerField()
    harm_agreement = Num()
    harm_agreement_n = s.IntegerField()


class AgreementPair(s.Serializer):
    ranking = AgreementSummary()
    harm = AgreementSummary()


class RaterReport(s.Serializer):
    experiment = s.CharField()
    agreement = AgreementPair()
    rounds = RoundQuality(many=True)
    raters = RaterQuality(many=True)
    excluded_raters = ExcludedRater(many=True)


class SampleSizeQuery(s.Serializer):
    """A planned comparison; validated, so a bad query is a 400 with the reason."""

    p1 = s.FloatField(min_value=0.001, max_value=0.999, help_text="The win rate you expect.")
    p0 = s.FloatField(min_value=0.001, max_value=0.999, default=0.5,
                      help_text="50 % for a one-sample test, or the other win rate for a two-sample test.")
    two_sample = s.BooleanField(default=False)
    alpha = s.FloatField(min_value=0.0001, max_value=0.5, default=0.05)
    power = s.FloatField(min_value=0.05, max_value=0.9999, default=0.8)
    design_effect = s.FloatField(min_value=1.0, max_value=1000.0, default=1.0,
                                 help_text="1 + (m − 1)·ρ when m ratings share a prompt with intra-prompt correlation ρ.")

    raters_per_item = s.IntegerField(min_value=1, max_value=10, default=3, help_text="For the shown-first (raters x items) plan.")
    rater_pool = s.IntegerField(min_value=1, max_value=100, default=20)
    item_sd = s.FloatField(min_value=0.0, max_value=5.0, default=1.0, help_text="Item effect sd on the logit scale.")
    rater_sd = s.FloatField(min_value=0.0, max_value=5.0, default=0.5, help_text="Rater effect sd on the logit scale.")
    judge_worth = s.FloatField(min_value=1.0, max_value=100.0, default=1.0,
                               help_text="Human ratings each human rating is worth with the AI judge (1 = no judge).")

    def validate(self, data):
        # Closer than this, the answer is billions of items: a typo, not a plan.
        if abs(data["p1"] - data["p0"]) < 0.001:
            raise s.ValidationError("p1 and p0 must differ by at least 0.001: that difference is what the test detects.")
        if data["rater_pool"] < data["raters_per_item"]:
            raise s.ValidationError({"rater_pool": "The pool must hold at least as many raters as rate each item."})
        return data


class CrossedPlan(s.Serializer):
    p1 = s.FloatField()
    p2 = Num(help_text="The other win rate against the same baseline; null for p1 against 50 %.")
    alpha = s.FloatField()
    target_power = s.FloatField()
    raters_per_item = s.IntegerField()
    rater_pool = s.IntegerField()
    item_sd = s.FloatField()
    rater_sd = s.FloatField()
    judge_worth = s.FloatField()
    items = s.IntegerField(help_text="Rated items for the shown-first test, each by raters_per_item raters.")
    ratings = s.IntegerField()
    achieved_power = Num(help_text="Simulated power at that many items.")
    items_with_judge = s.IntegerField(help_text="Rated items with the AI judge scoring every item.")
    z_items = s.IntegerField(help_text="What a z-test of independent ratings would say.")
    simulations = s.IntegerField()
    power_at_double = Num(help_text="Simulated power with twice the items.")
    note = s.CharField(allow_blank=True, help_text="Says so when the power levels off for want of raters.")


class SampleSizePlan(s.Serializer):
    design = s.CharField()
    p1 = s.FloatField()
    p0 = s.FloatField()
    alpha = s.FloatField()
    target_power = s.FloatField()
    design_effect = s.FloatField()
    n = s.IntegerField(help_text="Rated items needed (per group for a two-sample design).")
    achieved_power = Num()
    crossed = CrossedPlan(allow_null=True, help_text="The plan for the test the report shows first; null for two rates.")
    crossed_reason = s.CharField(allow_blank=True, help_text="Why there is no raters x items plan, when there is none.")


class PrecisionRow(s.Serializer):
    estimate = s.CharField(help_text="A win rate vs the baseline (\"rlaif vs sft\") or a harmless rate (\"harmless: rlaif\").")
    half_width = Num(help_text="Half-width of the interval shown first (human ratings only).")
    ratings = s.IntegerField(help_text="Human ratings behind it.")
    prompts = s.IntegerField(help_text="Rated prompts behind it; the round never closes before 30.")
    target = s.FloatField()
    more_ratings = NullInt(help_text="Human ratings still needed for the target, from the data so far.")
    judge_half_width = Num(help_text="Half-width of the PPI++ interval with the AI judge.")
    more_with_judge = NullInt(help_text="Human ratings still needed with the AI judge.")
    met = s.BooleanField()


class Precision(s.Serializer):
    round = NullInt(help_text="The round with a target half-width (the open one first); null when none has one.")
    round_name = s.CharField(allow_null=True)
    is_open = s.BooleanField(allow_null=True)
    precision_met_at = s.DateTimeField(allow_null=True, help_text="When the round closed itself on its target.")
    reason = s.CharField(allow_blank=True)
    target = Num()
    rows = PrecisionRow(many=True)
    met = s.BooleanField()
    more_ratings = NullInt(help_text="Human ratings still needed for every target (the largest need).")
    more_with_judge = NullInt()


class Detail(s.Serializer):
    detail = s.CharField()
