"""Reads for the pipeline pages: a run with its stages as rows to show, and an experiment's runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from pipeline.arms import ARMS
from pipeline.kinds import get_kind
from pipeline.plan import shared_labeler_note
from webapp.experiments.models import Experiment
from webapp.pipeline.models import LabelingSweep, PipelineRun, PipelineStage, Status
from webapp.pipeline.services import fanout, labeling

# What a stage's state is called on the page, and the CSS class of its badge.
STATES = {
    "waiting": ("Waiting", "idle"),
    "queued": ("Queued", "idle"),
    "running": ("Running", "busy"),
    "succeeded": ("Done", "ok"),
    "reused": ("Reused", "ok"),
    "failed": ("Failed", "bad"),
    "cancelled": ("Cancelled", "bad"),
}
# Metrics worth a glance on the run page, per kind, in this order (the rest are in the admin).
KEY_METRICS = {
    "labeling": ["alignment", "position1_rate", "label_mass", "engine/pairs_per_second"],
    "reward": ["reward/accuracy", "loss/train", "reward/train_accuracy", "reward/margin"],
    "reward-curve": ["reward/accuracy", "train/pairs"],  # at the largest size; the whole curve is on the paper page
    "sft": ["loss/train", "loss/eval"],
    "policy": ["rl/reward", "rl/kl", "loss/train", "dpo/accuracy", "rl/response_length"],
    "round": ["items", "gold", "mode"],
    "sampling": ["engine/prompts_per_second"],
    "judge": ["judge/scored", "engine/items_per_second"],
    "prepare": ["models"],
}


@dataclass
class StageRow:
    stage: PipelineStage
    state: str
    label: str
    tone: str
    percent: int
    unit: str
    eta: str
    metrics: list[tuple[str, str]]
    log: str
    admin_url: str = ""
    settings: str = ""  # what a reader must know of the stage's config (the labeling prompt)
    warning: str = ""  # a result that needs a careful look before it is trusted
    workers: list[tuple[str, int]] = field(default_factory=list)  # (worker, chunks) of a fanned-out stage

    @property
    def can_cancel(self) -> bool:
        return self.state in ("waiting", "queued", "running")

    @property
    def can_retry(self) -> bool:
        return self.state in ("failed", "cancelled")


@dataclass
class RunPage:
    run: PipelineRun
    rows: list[StageRow]
    counts: dict[str, int] = field(default_factory=dict)
    round_id: int | None = None
    note: str = ""  # what the plan did that the arms' names do not say

    @property
    def done(self) -> int:
        return self.counts.get("succeeded", 0) + self.counts.get("reused", 0)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything shown changes; an unchanged poll is answered 204."""
        parts = [self.run.status, str(self.run.wall_seconds)]
        for row in self.rows:
            s = row.stage
            parts += [row.state, s.progress_text, str(s.progress_done), str(s.progress_total), str(s.heartbeat_at), str(len(s.log)), row.eta, str(row.workers)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def stage_state(stage: PipelineStage, succeeded: set[str]) -> str:
    if stage.status == Status.PENDING:
        return "queued" if stage.enqueued_at and set(stage.depends_on) <= succeeded else "waiting"
    if stage.status == Status.SUCCEEDED and stage.reused_from_id:
        return "reused"
    return stage.status


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _metric(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _row(stage: PipelineStage, succeeded: set[str]) -> StageRow:
    state = stage_state(stage, succeeded)
    label, tone = STATES[state]
    total = stage.progress_total
    percent = 100 if stage.status == Status.SUCCEEDED else int(100 * min(stage.progress_done, total) / total) if total else 0
    wanted = KEY_METRICS.get(stage.kind, [])
    metrics = [(k, _metric(stage.metrics[k])) for k in wanted if stage.metrics.get(k) is not None]
    eta = f"about {duration(stage.eta_seconds)} left" if state == "running" and stage.eta_seconds is not None else ""
    target = stage.target
    admin_url = ""
    if target is not None:
        from django.urls import reverse

        admin_url = reverse(f"admin:pipeline_{type(target).__name__.lower()}_change", args=[target.pk])
    return StageRow(stage=stage, state=state, label=label, tone=tone, percent=percent, unit=get_kind(stage.kind).unit,
                    eta=eta, metrics=metrics, log="\n".join(stage.log.splitlines()[-12:]), admin_url=admin_url,
                    settings=labeling_settings(stage.config.get("config", {})) if stage.kind == "labeling" else "",
                    warning=label_mass_warning(stage.metrics.get("label_mass")) if stage.kind == "labeling" else "",
                    workers=fanout.stage_workers(stage_id=stage.pk) if stage.kind in fanout.FAN_OUTS else [])


def label_mass_warning(mass: float | None) -> str:
    """The warning a labeling result gets when its mean label mass is below LABEL_MASS_WARNING."""
    from django.conf import settings

    if mass is None or mass >= settings.LABEL_MASS_WARNING:
        return ""
    return (f"Mean label mass {100 * mass:.1f} % is below {100 * settings.LABEL_MASS_WARNING:.0f} % "
            "(LABEL_MASS_WARNING): the labeler puts most of its probability on neither answer, so these soft "
            "labels say little. Try a larger labeler, the detailed preamble or few-shot exemplars.")


def labeling_settings(config: dict) -> str:
    """'detailed preamble, 1-shot, chain of thought' from a labeling stage's config (defaults filled in)."""
    parts = [f"{config.get('preamble', 'base')} preamble", f"{config.get('shots', 0)}-shot",
             "chain of thought" if config.get("cot") else "no chain of thought"]
    if int(config.get("self_consistency") or 1) > 1:
        parts.append(f"self-consistency {config['self_consistency']}")
    return ", ".join(parts)


def run_page(run: PipelineRun) -> RunPage:
    stages = list(
        run.stages.select_related("labeling_run", "training_run", "sampling_run", "round").order_by("position")
    )
    succeeded = {s.name for s in stages if s.status == Status.SUCCEEDED}
    rows = [_row(stage, succeeded) for stage in stages]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    round_id = next((s.round_id for s in stages if s.round_id), None)
    experiment = run.experiment
    note = shared_labeler_note(run.arms, experiment.labeler_model == experiment.policy_model)
    return RunPage(run=run, rows=rows, counts=counts, round_id=round_id, note=note)


def run_elapsed(run: PipelineRun) -> str:
    if run.is_finished:
        return duration(run.wall_seconds)
    if run.started_at:
        return duration((timezone.now() - run.started_at).total_seconds())
    return ""


def experiment_runs(experiment, limit: int = 10) -> QuerySet:
    return PipelineRun.objects.filter(experiment=experiment).select_related("experiment", "created_by").order_by("-created_at")[:limit]


def sweep_choices(experiment: Experiment) -> list[tuple[int, str]]:
    """(sweep id, what its best cell is) of every sweep of the experiment with a finished cell."""
    choices = []
    for sweep in LabelingSweep.objects.filter(experiment=experiment, kind=LabelingSweep.Kind.TECHNIQUES).order_by("-id"):
        try:
            cell = labeling.labeling_sweep_best(sweep=sweep)
        except labeling.NoBestCell:
            continue
        best = max(r["alignment"] for r in labeling.labeling_sweep_table(sweep=sweep) if r["alignment"] is not None)
        text = f"{cell['preamble']}, {cell['shots']}-shot{', CoT' if cell.get('cot') else ''}"
        choices.append((sweep.pk, f"Best cell of sweep #{sweep.pk} ({sweep.model_spec}): {text}, alignment {100 * best:.1f} %"))
    return choices


def shared_labeler(experiment: Experiment) -> str:
    """The run form's note when the arms that want a policy-size labeler would get the experiment's own."""
    return shared_labeler_note(ARMS, experiment.labeler_model == experiment.policy_model)
