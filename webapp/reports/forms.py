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

    def clean(self):
        super().clean()
        data = self.cleaned_data  # what Form.clean returns, without the Optional of a subclass's clean
        if "p1" in data and "p0" in data and abs(data["p1"] - data["p0"]) < 0.001:
            raise forms.ValidationError("The two rates must differ: that difference is what the test is to detect.")
        return data

    def plan_arguments(self) -> dict:
        data = self.cleaned_data
        return {"p1": data["p1"], "p0": data["p0"], "two_sample": data["design"] == "two", "alpha": data["alpha"],
                "power": data["power"], "design_effect": data["design_effect"]}
