"""The "Run experiment" form: which arms to compare and at what size."""

from __future__ import annotations

from functools import partial

from django import forms

from pipeline.arms import ALGORITHMS, ARMS, DEFAULT_ALGORITHM, ITERATION_LABELS, ITERATIVE_ARMS, MAX_ITERATIONS, check_iterations
from pipeline.curve_settings import CurveSettingError, check_labels, check_sizes
from pipeline.plan import DEFAULT_ARMS, SIZE_CONFIGS
from webapp.pipeline.models import PipelineSize


class RunForm(forms.Form):
    arms = forms.MultipleChoiceField(
        choices=[(arm.name, f"{arm.name} — {arm.description}") for arm in ARMS.values()],
        initial=list(DEFAULT_ARMS),
        widget=forms.CheckboxSelectMultiple,
        help_text="SFT samples are always made: every arm is compared with SFT.",
        error_messages={"required": "Choose at least one arm."},
    )
    algorithm = forms.ChoiceField(
        choices=[(a.name, f"{a.name} — {a.description}") for a in ALGORITHMS.values()], initial=DEFAULT_ALGORITHM,
        required=False, widget=forms.RadioSelect, label="RL algorithm",
        help_text=f"Trains every RL arm ({', '.join(a.name for a in ARMS.values() if a.method == 'rl')}); "
                  "the DPO arms train with DPO.",
        error_messages={
            "invalid_choice": f"RL algorithm: unknown %(value)s, choose one of {', '.join(ALGORITHMS)}.",
        },
    )
    size = forms.ChoiceField(
        choices=PipelineSize.choices, initial=PipelineSize.DEMO, widget=forms.RadioSelect,
    )
    mixed_share = forms.FloatField(
        required=False, min_value=0.0, max_value=1.0, initial=0.5, label="Human share of the mixed arm's labels",
        help_text="For the mixed arm: the share of training pairs labelled by humans (0 to 1); the rest get AI labels.",
    )
    iterations = forms.IntegerField(
        required=False, initial=1, label="RLAIF iterations",
        help_text=f"Iterative RLAIF for {', '.join(ITERATIVE_ARMS)}: 1 to {MAX_ITERATIONS} rounds (1 = once). After "
                  "each round the policy answers every training prompt twice, the AI labeler labels those pairs and the "
                  "next reward model and policy train on them; every round's policy is rated (rlaif-it2, ...).",
    )
    iteration_labels = forms.ChoiceField(
        required=False, initial="all", label="Labels of each iteration's reward model",
        choices=[("all", "All AI labels so far"), ("newest", "The newest iteration's only")],
        error_messages={"invalid_choice": f"Labels of each iteration's reward model: unknown %(value)s, choose one of "
                                          f"{', '.join(ITERATION_LABELS)}."},
    )
    labeling_sweep = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="AI labeling settings",
        help_text="Label the pipeline's pairs with the best cell of a labeling sweep (the paper's Table 2), or the default.",
    )
    ai_judge = forms.BooleanField(
        required=False, label="AI judge",
        help_text="After the evaluation round, the labeler model scores every pair of its items, so the report can show "
                  "AI-assisted (PPI++) win rates that need fewer human ratings.",
    )

    def clean_mixed_share(self) -> float:
        value = self.cleaned_data["mixed_share"]
        return 0.5 if value is None else value  # left empty: the paper's even mix

    reference = forms.ChoiceField(
        required=False, label="Human reference in the evaluation round",
        choices=[("", "Default: in summarization rounds whose prompts have references"), ("include", "Include it"),
                 ("leave-out", "Leave it out")],
        help_text="The test prompts' reference responses rated as one more policy, blinded like the others, so the "
                  "report has “vs reference” rows (the paper's “preferred over the human reference”).",
    )

    reward_curve = forms.BooleanField(
        required=False, label="Reward-model curve (Figure 5)",
        help_text="Also train reward models on nested subsets of the training pairs, one line per label source, and "
                  "measure each on the test split's human labels: the paper's Figure 5, drawn on the paper page.",
    )
    curve_sizes = forms.CharField(
        required=False, label="Curve sizes",
        help_text=f"Numbers of training pairs in increasing order, e.g. 50 100 200. Empty: "
                  f"{' '.join(map(str, SIZE_CONFIGS['demo']['curve']['sizes']))} (demo) or "
                  f"{' '.join(map(str, SIZE_CONFIGS['full']['curve']['sizes']))} (full), up to the experiment's training pairs.",
    )
    curve_labels = forms.CharField(
        required=False, label="Curve label sources", initial="human ai",
        help_text="One line each: human, ai (this run's AI labels) or mixed:SHARE (that share of pairs human-labelled).",
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        self._clean_iterations(data)
        self._clean_curve(data)
        return data

    def _clean_curve(self, data: dict) -> None:
        """The curve's sizes and label sources, by the rule rm_curve and the planner use (the
        training pairs bound is checked when the run is planned)."""
        if data.get("reward_curve"):
            for name, check in (("curve_sizes", check_sizes), ("curve_labels", partial(check_labels, pinned=False))):
                if data.get(name):  # empty: the size's default
                    try:
                        data[name] = list(check(data[name].replace(",", " ").split()))
                    except CurveSettingError as problem:
                        self.add_error(name, str(problem))

    def overrides(self) -> dict:
        """Stage settings the form chose beyond the size's: the round's reference switch, the curve's settings."""
        overrides: dict = {}
        choice = self.cleaned_data.get("reference")
        if choice:
            overrides["round"] = {"with_reference": choice == "include"}
        if self.cleaned_data.get("reward_curve"):
            curve = {key: self.cleaned_data[f"curve_{key}"] for key in ("sizes", "labels") if self.cleaned_data.get(f"curve_{key}")}
            if curve:
                overrides["curve"] = curve
        return overrides

    def _clean_iterations(self, cleaned: dict) -> None:
        iterations = cleaned.get("iterations")
        cleaned["iterations"] = 1 if iterations is None else iterations  # left empty: RLAIF once
        cleaned["iteration_labels"] = cleaned.get("iteration_labels") or "all"
        if "arms" in cleaned and "iterations" not in self.errors:
            try:
                check_iterations(cleaned["iterations"], cleaned["arms"], cleaned["iteration_labels"])
            except ValueError as exc:
                self.add_error("iterations", f"RLAIF {exc}.")

    def clean_algorithm(self) -> str:
        return self.cleaned_data["algorithm"] or DEFAULT_ALGORITHM  # left out: the paper's REINFORCE

    def __init__(self, *args, sweeps: list[tuple[int, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["labeling_sweep"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "Default: base preamble, 0-shot, no chain of thought"), *(sweeps or [])]
