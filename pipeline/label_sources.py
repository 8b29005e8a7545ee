"""Which labels a reward model (or DPO) trains on, as one short text: ``human``, ``ai[:RUN]`` or
``mixed:SHARE``.

Plain Python with no imports beyond the standard library: the run form and the curve settings
(``pipeline.curve_settings``) read label sources in the web process, which never loads torch,
and ``pipeline.reward`` trains on them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSource:
    """Which labels an RM (or DPO) trains on: ``human``, ``ai[:RUN]`` or ``mixed:SHARE``."""

    kind: str  # "human", "ai" or "mixed"
    human_share: float = 1.0  # for "mixed": share of pairs labelled by humans (the rest by the AI)
    run: str = ""  # for "ai": the labeling run the AI labels come from (free text for the caller)

    @classmethod
    def parse(cls, text: str) -> LabelSource:
        """``human`` | ``ai`` | ``ai:RUN_ID`` | ``mixed:0.5`` (0.5 = half of the pairs human-labelled)."""
        kind, _, arg = text.strip().partition(":")
        if kind == "human" and not arg:
            return cls("human", 1.0)
        if kind == "ai":
            return cls("ai", 0.0, arg)
        if kind == "mixed":
            share = float(arg) if arg else 0.5
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"mixed share must be in [0, 1], got {share}")
            return cls("mixed", share)
        raise ValueError(f"unknown label source {text!r}: use human, ai[:RUN_ID] or mixed:SHARE")

    def __str__(self) -> str:
        if self.kind == "mixed":
            return f"mixed:{self.human_share:g}"
        return f"ai:{self.run}" if self.kind == "ai" and self.run else self.kind
