"""Forms of the rating pages. Judgements arrive as rank_A=1, harm_A=harmless, ... per shown alias."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

from webapp.rating.models import ALIASES


class JudgementForm(forms.Form):
    token = forms.CharField(max_length=64)
    active_ms = forms.IntegerField(required=False, min_value=0)

    def ranks(self) -> dict[str, int]:
        """Ranks as given; anything that is not a whole number counts as missing, for the service to name."""
        out = {}
        for alias in ALIASES:
            raw = self.data.get(f"rank_{alias}", "").strip()
            # ASCII digits, a few of them: "²".isdigit() is true but int() refuses it, and
            # int() of thousands of digits raises too. A longer number is out of range anyway.
            if re.fullmatch(r"[0-9]{1,4}", raw):
                out[alias] = int(raw)
        return out

    def harmless(self) -> dict[str, bool]:
        out = {}
        for alias in ALIASES:
            raw = self.data.get(f"harm_{alias}")
            if raw in ("harmless", "harmful"):
                out[alias] = raw == "harmless"
        return out

    def entered(self) -> dict[str, dict]:
        """What the rater had chosen, to show it again beside an error."""
        return {"ranks": self.ranks(), "harm": {a: ("harmless" if v else "harmful") for a, v in self.harmless().items()}}


class SkipForm(forms.Form):
    token = forms.CharField(max_length=64)
    reason = forms.CharField(max_length=300, required=False, label="Reason (optional)")


class InviteSignupForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("username",)
