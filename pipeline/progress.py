"""How far a long piece of ML work has got: one event type for every trainer, the labeler and the sampler.

Every long function under ``pipeline/`` takes ``on_progress: ProgressFn`` and calls it with a
``Progress``. Two counts travel together, because a run page and a resume must agree:

- ``done`` / ``total``: the stage's work that a resume keeps. For a trainer that is the last
  step whose checkpoint is on disk, never a step that is only trained; for the labeler and the
  sampler it is what the caller has stored.
- ``phase`` with ``phase_done`` / ``phase_total``: what is running now, in its own unit, so a
  page stays live between checkpoints ("training 7/40 steps" while 5 are saved) and during the
  long phases after training ("evaluating 120/711 pairs", "exporting").

    steps = StepProgress(on_progress, total=40, saved=resumed_from)
    steps.trained(7)       # Progress(done=5, total=40, phase="training", phase_done=7, phase_total=40)
    steps.saved(7)         # ... done=7 once checkpoint 7 is on disk
    steps.phase("evaluating", 120, 711)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# The unit each phase counts in: the one table the run page, the command-line bars and the log read.
PHASE_UNITS = {
    "preparing": "steps",
    "importing": "pairs",
    "labeling": "pairs",
    "training": "steps",
    "evaluating": "pairs",
    "exporting": "models",
    "sampling": "prompts",
    "opening": "rounds",
}


@dataclass(frozen=True)
class Progress:
    """One report of a long-running function (see the module docstring for the two counts)."""

    done: int  # units of the stage's work a resume keeps (saved steps, stored labels)
    total: int  # units of the stage's work in all (0: not known yet)
    phase: str = ""  # what runs now: a key of PHASE_UNITS ("" before anything started)
    phase_done: int = 0  # units of the phase finished; a trainer's steps may run ahead of ``done``
    phase_total: int = 0  # units of the phase in all

    @classmethod
    def durable(cls, done: int, total: int, phase: str) -> Progress:
        """A report whose every finished unit is already kept (a stored chunk, a converted file)."""
        return cls(done, total, phase, done, total)

    @property
    def unit(self) -> str:
        return PHASE_UNITS.get(self.phase, "steps")

    def describe(self) -> str:
        """One line for a log or a bar: 'training 7/40 steps, 5 saved' or 'evaluating 120/711 pairs'."""
        if not self.phase:
            return f"{self.done}/{self.total}"
        line = f"{self.phase} {self.phase_done}/{self.phase_total} {self.unit}"
        if self.phase == "training" and self.phase_done != self.done:
            line += f", {self.done} saved"
        return line


ProgressFn = Callable[[Progress], None]


def no_progress(progress: Progress) -> None:  # the default on_progress
    pass


class StepProgress:
    """A training loop's reports: steps trained run ahead of steps saved, then the phases after training.

    ``done`` only moves in ``saved``, which the loop calls once a checkpoint (or the exported
    model) is on disk, so what the caller records is what a resume continues from.
    """

    def __init__(self, on_progress: ProgressFn | None, total: int, saved: int = 0):
        self.report = on_progress or no_progress
        self.total = total
        self.last_saved = saved
        self.last_trained = saved

    def trained(self, step: int, total: int | None = None) -> None:
        """Step ``step`` is trained (and logged) but not yet saved."""
        if total is not None:
            self.total = total
        self.last_trained = step
        self.report(Progress(self.last_saved, self.total, "training", step, self.total))

    def saved(self, step: int) -> None:
        """Everything up to ``step`` is on disk: a resume starts there."""
        self.last_saved = step
        self.last_trained = max(self.last_trained, step)
        self.report(Progress(step, self.total, "training", self.last_trained, self.total))

    def phase(self, name: str, done: int, total: int) -> None:
        """A phase after (or before) the steps: evaluating held-out pairs, exporting the model."""
        self.report(Progress(self.last_saved, self.total, name, done, total))

    def counter(self, name: str) -> ProgressFn:
        """An on_progress for a helper that counts its own units (a scorer, an exporter) as ``name``."""
        return lambda inner: self.phase(name, inner.phase_done, inner.phase_total)
