"""Forms of the report pages: the baseline picker and the sample-size planner."""

from __future__ import annotations

from django import forms


class BaselineForm(forms.Form):
    baseline = forms.CharField(required=False, max_length=120)


class PlanForm(forms.Form):
    design = forms.ChoiceField(
        choices=[("one", "One win rate vs 50 %"), ("two", "Two win rates vs each other")],
        initial="one",
        label="Test",
    )
    p1 = forms.FloatField(min_value=0.001, max_value=0.999, initial=0.6, label="Win rate",
                          help_text="the one you expect",
                          widget=forms.NumberInput(attrs={"step": "any"}))
    p0 = forms.FloatField(min_value=0.001, max_value=0.999, initial=0.5, label="Compared with",
                          help_text="0.5, or the other win rate",
                          widget=forms.NumberInput(attrs={"step": "any"}))
    alpha = forms.FloatField(min_value=0.0001, max_value=0.5, initial=0.05, label="α (significance)",
                             widget=forms.NumberInput(attrs={"step": "any"}))
    power = forms.FloatField(min_value=0.05, max_value=0.9999, initial=0.8, label="Power",
                             widget=forms.NumberInput(attrs={"step": "any"}))
    design_effect = forms.FloatField(min_value=1.0, max_value=1000.0, initial=1.0, label="Design effect",
                                     help_text="1 + (m − 1)·ρ with m ratings per prompt; 1 for one rating per prompt.",
                                     widget=forms.NumberInput(attrs={"step": "any"}))

    raters_per_item = forms.IntegerField(required=False, min_value=1, max_value=10, initial=3, label="Raters per item",
                                         help_text="for the plan of the test the report shows first")
    rater_pool = forms.IntegerField(required=False, min_value=1, max_value=100, initial=20, label="Raters in the pool")
    item_sd = forms.FloatField(required=False, min_value=0.0, max_value=5.0, initial=1.0, label="Item spread (sd)",
                               help_text="logit-scale sd of how much responses differ beyond the policy; 1 is typical",
                               widget=forms.NumberInput(attrs={"step": "any"}))
    rater_sd = forms.FloatField(required=False, min_value=0.0, max_value=5.0, initial=0.5, label="Rater spread (sd)",
                                help_text="logit-scale sd of how much raters' own preferences differ; 0.5 is typical",
                                widget=forms.NumberInput(attrs={"step": "any"}))
    judge_worth = forms.FloatField(required=False, min_value=1.0, max_value=100.0, initial=1.0, label="AI judge worth",
                                   help_text="human ratings each human rating is worth with the judge (the report's "
                                             "“worth in human judgements” ÷ ratings); 1 = no judge",
                                   widget=forms.NumberInput(attrs={"step": "any"}))

    def clean(self):
        super().clean()
        data = self.cleaned_data  # what Form.clean returns, without the Optional of a subclass's clean
        if "p1" in data and "p0" in data and abs(data["p1"] - data["p0"]) < 0.001:
            raise forms.ValidationError("The two rates must differ: that difference is what the test is to detect.")
        if (data.get("rater_pool") or 20) < (data.get("raters_per_item") or 3):
            self.add_error("rater_pool", "The pool must hold at least as many raters as rate each item.")
        return data

    CROSSED = ("raters_per_item", "rater_pool", "item_sd", "rater_sd", "judge_worth")

    def crossed_design(self) -> dict:
        """The raters-and-items fields of the shown-first plan; a field left empty takes its initial value."""
        data = self.cleaned_data
        return {key: self.fields[key].initial if data.get(key) is None else data[key] for key in self.CROSSED}

    def plan_arguments(self) -> dict:
        data = self.cleaned_data
        return {"p1": data["p1"], "p0": data["p0"], "two_sample": data["design"] == "two", "alpha": data["alpha"],
                "power": data["power"], "design_effect": data["design_effect"]}
