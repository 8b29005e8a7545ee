"""The labeling config: every knob of an AI-labeling run, saved with the run as JSON.

Plain Python (no torch, no Django) so the web side can build, validate and store it cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.inference import PRECISIONS

TASKS = ("summarization", "helpful", "harmless")
PREAMBLES = ("base", "detailed")
# Older names of a precision, still accepted (stored configs, command lines) and stored as the
# new name: "fast" was bf16-mlp before it said what it computes.
PRECISION_ALIASES = {"fast": "bf16-mlp"}


@dataclass(frozen=True)
class LabelingConfig:
    """How an AI labeler turns (context, candidate 1, candidate 2) into a soft preference."""

    task: str = "harmless"  # "summarization" | "helpful" | "harmless": picks preamble, exemplars, ending
    preamble: str = "base"  # "base" (which one is better?) or "detailed" (annotator-style criteria)
    shots: int = 0  # number of few-shot exemplars placed before the sample (0 = zero-shot)
    cot: bool = False  # two-step chain of thought: decode a rationale, then score with it in the prompt
    self_consistency: int = 1  # rationales sampled per order and averaged (1 = off, greedy rationale)
    temperature: float = 1.0  # sampling temperature of self-consistency rationales (unused when greedy)
    swap: bool = True  # score both candidate orders and average, to cancel position bias
    precision: str = "exact"  # "exact" = float32, same numbers as the plain way; "bf16-mlp" = bfloat16 MLP matmuls
    batch_size: int = 8  # pairs per forward batch (length-sorted); rows in a batch = pairs x orders x samples
    max_rationale_tokens: int = 64  # cap on the tokens decoded for one rationale
    seed: int = 0  # seeds rationale sampling (per pair, so results do not depend on batching)
    max_context_tokens: int | None = 1024  # contexts longer than this are cut from the left; candidates stay whole
    exemplar_set: str = "default"  # name of the exemplar set of the task that few-shot exemplars come from

    def __post_init__(self) -> None:
        if self.precision in PRECISION_ALIASES:
            object.__setattr__(self, "precision", PRECISION_ALIASES[self.precision])
        problems = []
        if self.task not in TASKS:
            problems.append(f"task must be one of {TASKS}, got {self.task!r}")
        if self.preamble not in PREAMBLES:
            problems.append(f"preamble must be one of {PREAMBLES}, got {self.preamble!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.shots < 0:
            problems.append(f"shots must be >= 0, got {self.shots}")
        if self.self_consistency < 1:
            problems.append(f"self_consistency must be >= 1, got {self.self_consistency}")
        if self.self_consistency > 1 and not self.cot:
            problems.append("self_consistency > 1 samples rationales, so it needs cot=True")
        if self.self_consistency > 1 and not self.temperature > 0:
            problems.append(f"self_consistency > 1 needs temperature > 0, got {self.temperature}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_rationale_tokens < 1:
            problems.append(f"max_rationale_tokens must be >= 1, got {self.max_rationale_tokens}")
        if self.max_context_tokens is not None and self.max_context_tokens < 1:
            problems.append(f"max_context_tokens must be >= 1 or None, got {self.max_context_tokens}")
        if problems:
            raise ValueError("invalid LabelingConfig: " + "; ".join(problems))

    @property
    def orders(self) -> int:
        """How many candidate orders each pair is scored in (2 with swap, else 1)."""
        return 2 if self.swap else 1

    def replace(self, **changes: Any) -> "LabelingConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelingConfig":
        """Inverse of to_dict; unknown keys are an error (they are usually typos)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown LabelingConfig fields: {', '.join(unknown)}")
        return cls(**data)
