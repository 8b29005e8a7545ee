"""Executing one pipeline stage: claim it, create (once) the run it works through, execute that
run with the resumable services, and mirror its progress, ETA, metrics and log onto the stage.

What a Celery task (``webapp.pipeline.tasks``) calls, and ``run_experiment --in-process`` too. The
stage's claim is the lock: whoever holds it may take the stage's run over (``force=True``),
because a run left "running" by a worker that died is exactly what a new claim resumes.
The run a stage creates is attached to it in the same transaction as its creation, so a
crash can never leave a second labeling run, training run or round behind.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pipeline.configs import LabelingConfig, RewardConfig
from pipeline.progress import Progress, ProgressFn
from webapp.experiments.models import PolicyResponse
from webapp.pipeline import runs
from webapp.pipeline.models import PipelineStage, StageKind, Status, TrainingMetric
from webapp.pipeline.services import fanout, labeling, orchestration, sampling, training


class Reporter:
    """The on_progress callback a stage hands to its service: progress, ETA, metrics and a log
    line go onto the stage in one conditional UPDATE, which also raises RunCancelled when staff
    cancelled the stage (so the service stops at its next chunk or step)."""

    def __init__(self, stage: PipelineStage, outer: ProgressFn | None = None):
        self.stage = stage
        self.outer = outer
        self.metrics: Callable[[], dict] | None = None
        self.fan_out = False
        self._start: tuple[tuple[str, int], float, int] | None = None
        self._last_done: tuple[str, int, int] | None = None

    def __call__(self, progress: Progress, note: str = "") -> None:
        now = time.monotonic()
        # The ETA follows the phase that runs (training steps, then evaluated pairs, ...), and
        # counts this attempt and this phase only, not resumed work.
        key = (progress.phase, progress.phase_total)
        if self._start is None or self._start[0] != key:
            self._start = (key, now, progress.phase_done)
        _, t0, d0 = self._start
        left, moved = progress.phase_total - progress.phase_done, progress.phase_done - d0
        eta = left * (now - t0) / moved if moved > 0 and left >= 0 else None
        fields: dict = {**runs.progress_fields(progress), "eta_seconds": eta}
        metrics = self.metrics() if self.metrics else None
        if metrics:
            fields["metrics"] = metrics
        shown_now = (progress.phase, progress.phase_done, progress.done)
        if shown_now != self._last_done or note:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:4]) if metrics else ""
            line = " · ".join(part for part in (progress.describe(), note, shown) if part)
            fields["log"] = orchestration.tail_with(self.stage.log, line)
            self._last_done = shown_now
        runs.run_heartbeat(self.stage, **fields)
        if self.outer:
            self.outer(progress)


def pipeline_stage_execute(
    *, stage_id: int, worker: str | None = None, on_progress: ProgressFn | None = None, advance: bool = True
) -> PipelineStage | None:
    """Claim the stage and do its work; None when it is not ready, done, or held by a live worker.

    ``advance`` queues the stages that were waiting for this one (off for a caller that
    executes the ready stages itself).
    """
    worker = worker or runs.worker_name()
    stage = PipelineStage.objects.filter(pk=stage_id).first()
    if stage is None or not _dependencies_succeeded(stage):
        return None  # a stale or early message: the dependency's own advance sends it again
    # A claim may be taken from a process that is gone, or from this very process: a worker
    # runs one stage at a time, so its own claim is left over from an attempt that ended
    # without letting go (a retry after a database error that also failed the release).
    claim = stage.claimed_by if stage.status == Status.RUNNING else ""
    dead = claim if claim and (claim == worker or runs.claim_is_dead(claim)) else None
    stage = runs.run_claim(model=PipelineStage, run_id=stage_id, worker=worker, take_over=dead)
    if stage is None:
        return None
    orchestration.stage_log(stage=stage, line=f"attempt {stage.attempts} on {worker}" + (f"; {dead} had died" if dead and dead != worker else ""))
    orchestration.pipeline_status_refresh(pipeline_id=stage.pipeline_id)
    reporter = Reporter(stage, on_progress)
    reporter.fan_out = advance  # other workers help only where messages are sent (not in-process)
    outcome: dict | None = None
    try:
        with runs.run_working(stage):
            if not orchestration.stage_reuse(stage=stage):
                outcome = EXECUTORS[stage.kind](stage, worker, reporter)
    except Exception as exc:  # noqa: BLE001 - run_working recorded it on the stage; log, recompute, re-raise
        orchestration.stage_log(stage=stage, line="failed: " + "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300])
        orchestration.pipeline_status_refresh(pipeline_id=stage.pipeline_id)
        raise
    if outcome is not fanout.FANNED_OUT:  # a fanned-out stage is settled by its last chunk
        _settle(stage, worker, outcome)
    if advance:
        orchestration.pipeline_advance(pipeline_id=stage.pipeline_id)
    else:
        orchestration.pipeline_status_refresh(pipeline_id=stage.pipeline_id)
    stage.refresh_from_db()
    return stage


def pipeline_chunks_execute(*, stage_id: int) -> None:
    """A chunk task: help with a fanned-out stage's chunks. When the stage's own claim belongs to a
    dead process, take the stage over first (as its own message would), so its attempts and log
    say who took it from whom."""
    stage = PipelineStage.objects.filter(pk=stage_id).first()
    if stage is not None and stage.status == Status.RUNNING and runs.claim_is_dead(stage.claimed_by):
        pipeline_stage_execute(stage_id=stage_id)
        return
    fanout.stage_chunks_run(stage_id=stage_id)


def _dependencies_succeeded(stage: PipelineStage) -> bool:
    deps = PipelineStage.objects.filter(pipeline_id=stage.pipeline_id, name__in=stage.depends_on)
    return all(status == Status.SUCCEEDED for status in deps.values_list("status", flat=True))


def _settle(stage: PipelineStage, worker: str, outcome: dict | None) -> None:
    """Turn how the stage's run ended into the stage's final state (if the stage is still ours)."""
    stage.refresh_from_db()
    target = stage.target
    if stage.status != Status.RUNNING or stage.claimed_by != worker:
        if stage.status == Status.CANCELLED and target is not None:
            runs.run_cancel(model=type(target), run_id=target.pk)
        return  # cancelled, reused, or taken over by another worker
    if target is not None and target.status != Status.SUCCEEDED:
        # The run was cancelled on its own (e.g. in the admin): the stage follows it.
        runs.run_cancel(model=PipelineStage, run_id=stage.pk)
        orchestration.stage_log(stage=stage, line=f"{target} is {target.status}: stage cancelled")
        return
    metrics = outcome if outcome is not None else dict(target.metrics) if target is not None else {}
    total = target.progress_total if target is not None and target.progress_total else stage.progress_total
    # Conditional like every write of a claim holder: a cancel that lands now wins.
    PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING, claimed_by=worker).update(
        status=Status.SUCCEEDED, metrics=metrics, progress_done=total, progress_total=total, eta_seconds=None,
        log=orchestration.tail_with(stage.log, "succeeded"), finished_at=timezone.now(),
    )


def _attach(stage: PipelineStage, worker: str, field: str, create: Callable[[], object]):
    """Create the stage's run and point the stage at it in one transaction, while the claim is ours."""
    with transaction.atomic():
        target = create()
        if not PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING, claimed_by=worker).update(**{field: target}):
            raise runs.RunCancelled(f"{stage} was cancelled or taken over")  # rolls the new run back
    setattr(stage, field, target)
    orchestration.stage_log(stage=stage, line=f"created {target}")
    return target


def _latest_metrics(run) -> Callable[[], dict]:
    def read() -> dict:
        return TrainingMetric.objects.filter(run=run).order_by("-step").values_list("values", flat=True).first() or {}

    return read


# -- one executor per kind ----------------------------------------------------------------------------


def _prepare(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    from pipeline import registry

    experiment = stage.experiment
    specs = list(dict.fromkeys([experiment.policy_model, experiment.labeler_model, experiment.reward_model]))
    total = 3 * len(specs)
    for i, spec in enumerate(specs):
        def progress(step: str, done: int, _n: int, i=i, spec=spec) -> None:
            report(Progress.durable(min(3 * i + done, total), total, "preparing"), note=f"{spec}: {step}")

        resolved = registry.prepare(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD, on_progress=progress)
        report(Progress.durable(3 * (i + 1), total, "preparing"), note=f"{spec}: ready ({resolved.kind})")
    return {"models": specs}


def _labeling(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    config = dict(stage.config["config"])
    chunk_size, limit = config.pop("chunk_size", None), config.pop("limit", None)
    run = stage.labeling_run
    if run is None:
        labeling_config = LabelingConfig(task=stage.experiment.task, **config)
        # An iteration's labeling: the pairs its self-pairs stage made, by the source that stage recorded.
        pairs_from = orchestration.stage_upstream(stage, StageKind.SELF_PAIRS) if stage.config.get("pairs_from") else None
        pair_source = pairs_from.metrics["source"] if pairs_from else ""
        run = _attach(stage, worker, "labeling_run", lambda: labeling.labeling_run_create(
            experiment=stage.experiment, config=labeling_config, split="train", model_spec=stage.model_spec, limit=limit,
            pair_source=pair_source,
        ))
    return fanout.stage_fan_out(stage=stage, worker=worker, report=report, send=report.fan_out,
                                chunk_size=chunk_size or labeling.default_chunk_size(LabelingConfig.from_dict(run.config)))


def _reward(stage: PipelineStage, worker: str, report: Reporter) -> None:
    run = stage.training_run
    if run is None:
        labels = stage.config["labels"]
        labels_stage = orchestration.stage_upstream(stage, StageKind.LABELING) if labels != "human" else None
        # An iteration's reward model names its labeling stages (all so far, or the newest), in order.
        named = {s.name: s.labeling_run for s in PipelineStage.objects.filter(
            pipeline_id=stage.pipeline_id, name__in=stage.config.get("label_stages", [])).select_related("labeling_run")}
        label_runs = [done for name in stage.config.get("label_stages", []) if (done := named[name]) is not None]
        config = RewardConfig(model=stage.experiment.reward_model, **stage.config["config"])
        run = _attach(stage, worker, "training_run", lambda: training.reward_run_create(
            experiment=stage.experiment, label_source=labels, config=config,
            labeling_run=label_runs[0] if label_runs else labels_stage.labeling_run if labels_stage else None,
            more_labeling_runs=label_runs[1:],
        ))
    report.metrics = _latest_metrics(run)
    _train(run, worker, report)


def _reward_curve(stage: PipelineStage, worker: str, report: Reporter) -> None:
    """One line of Figure 5, through the service ``rm_curve`` uses; the stage's AI labels are its run's own."""
    from webapp.pipeline.services.reward_curves import reward_curve_create

    run = stage.training_run
    if run is None:
        labels = stage.config["labels"]
        labels_stage = orchestration.stage_upstream(stage, StageKind.LABELING) if labels != "human" else None
        config = RewardConfig(model=stage.experiment.reward_model, **stage.config["config"])
        run = _attach(stage, worker, "training_run", lambda: reward_curve_create(
            experiment=stage.experiment, label_source=labels, sizes=stage.config["sizes"], config=config,
            labeling_run=labels_stage.labeling_run if labels_stage else None,
        ))
    report.metrics = _latest_metrics(run)
    _train(run, worker, report)


def _sft(stage: PipelineStage, worker: str, report: Reporter) -> None:
    run = stage.training_run
    if run is None:
        run = _attach(stage, worker, "training_run", lambda: training.sft_run_create(
            experiment=stage.experiment, config=stage.config["config"]))
    report.metrics = _latest_metrics(run)
    _train(run, worker, report)


def _policy(stage: PipelineStage, worker: str, report: Reporter) -> None:
    run = stage.training_run
    if run is None:
        config = dict(stage.config["config"])
        sft_stage = orchestration.stage_upstream(stage, StageKind.SFT)
        if sft_stage is not None:
            if sft_stage.training_run is None:  # it succeeded, so it has one
                raise ValueError(f"{sft_stage} has no training run to start the policy from")
            config["policy"] = sft_stage.training_run.checkpoint_path  # this run's SFT, not just the latest one
        previous = orchestration.stage_upstream(stage, StageKind.POLICY)
        if previous is not None:  # iterative RLAIF: iteration k starts from policy k-1
            if previous.training_run is None:
                raise ValueError(f"{previous} has no training run to start iteration {stage.config.get('iteration')} from")
            config["policy"] = previous.training_run.checkpoint_path
        reward_stage = orchestration.stage_upstream(stage, StageKind.REWARD)
        labels_stage = orchestration.stage_upstream(stage, StageKind.LABELING)
        run = _attach(stage, worker, "training_run", lambda: training.policy_run_create(
            experiment=stage.experiment, arm=stage.config["arm"], algorithm=stage.config["algorithm"],
            reward_run=reward_stage.training_run if reward_stage else None,
            labeling_run=labels_stage.labeling_run if labels_stage else None, config=config,
        ))
    report.metrics = _latest_metrics(run)
    _train(run, worker, report)


def _train(run, worker: str, report: Reporter) -> None:
    from webapp.pipeline import launcher

    processes = launcher.training_processes()
    if processes > 1:
        orchestration.stage_log(stage=report.stage, line=f"training in {processes} processes (torchrun)")
    training.training_run_execute(run_id=run.pk, worker=worker, force=True, on_progress=report, processes=processes)


def _sampling(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    config = dict(stage.config["config"])
    chunk_size = config.pop("chunk_size", None) or sampling.CHUNK_SIZE
    run = stage.sampling_run
    if run is None:
        arm = stage.config["policy"]
        source = orchestration.stage_upstream(stage, StageKind.POLICY) or orchestration.stage_upstream(stage, StageKind.SFT)
        # A name already answered by another run would make the service skip every prompt:
        # this run's samples then go under a name of their own.
        taken = PolicyResponse.objects.filter(prompt__experiment=stage.experiment, policy=arm).exists()
        name = f"{arm}-run{stage.pipeline_id}" if taken else arm
        trained = source.training_run if source else None
        _attach(stage, worker, "sampling_run", lambda: sampling.sampling_run_create(
            experiment=stage.experiment, policy=name, training_run=trained, config=config,
            model_spec=None if trained else stage.experiment.policy_model,
        ))
    return fanout.stage_fan_out(stage=stage, worker=worker, chunk_size=chunk_size, report=report, send=report.fan_out)


def _round(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    from webapp.rating.services.errors import RatingError
    from webapp.rating.services.rounds import round_create

    samples = PipelineStage.objects.filter(pipeline_id=stage.pipeline_id, name__in=stage.depends_on).select_related("sampling_run")
    policies = []
    for sample in sorted(samples, key=lambda s: s.position):
        if sample.sampling_run is None:  # it succeeded, so it has one
            raise ValueError(f"{sample} has no sampling run to rate")
        policies.append(sample.sampling_run.policy)
    round = stage.round
    made = None
    if round is None:
        experiment = stage.experiment
        try:
            with transaction.atomic():
                round, made = round_create(
                    experiment=experiment, policies=policies, name=f"{experiment.name}: pipeline run #{stage.pipeline_id}",
                    overlap=stage.config.get("overlap", 3), gold_share=stage.config.get("gold_share", 0.1),
                    created_by=stage.pipeline.created_by,
                    # None: the round's default (on for summarization when the prompts have references)
                    with_reference=stage.config.get("with_reference"),
                )
                if not PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING, claimed_by=worker).update(round=round):
                    raise runs.RunCancelled(f"{stage} was cancelled or taken over")
        except RatingError as problem:
            raise ValueError(problem.message) from None
        stage.round = round
    policies = list(round.policies)  # with "reference" when the round includes it (summarization, by default)
    report(Progress.durable(1, 1, "opening"), note=f"round #{round.pk}: {round.items.count()} items, policies {', '.join(policies)}")
    return {"round": round.pk, "items": round.items.filter(is_gold=False).count(), "gold": round.items.filter(is_gold=True).count(),
            "policies": policies, "mode": round.mode, **({"skipped_prompts": made.skipped_prompts} if made else {})}


# The Django side of each kind in pipeline.kinds: what its stage does. A test checks every kind has one.
def _judge(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    from webapp.pipeline.services import ai_judge

    round_stage = orchestration.stage_upstream(stage, StageKind.ROUND)
    if round_stage is None or round_stage.round is None:
        raise ValueError(f"{stage} has no evaluation round to judge")
    config = stage.config["config"]
    items = ai_judge.judge_items(round=round_stage.round, limit=config.get("limit"))
    if ai_judge.judge_progress(round=round_stage.round, items=items)[1] == 0:
        raise ai_judge.NothingToJudge(round_stage.round)
    return fanout.stage_fan_out(stage=stage, worker=worker, chunk_size=config.get("chunk_size") or 32, report=report,
                                send=report.fan_out)


def _self_pairs(stage: PipelineStage, worker: str, report: Reporter) -> dict:
    from webapp.pipeline.services.iterations import self_pair_source, self_pairs_create

    policy_stage = orchestration.stage_upstream(stage, StageKind.POLICY)
    if policy_stage is None or policy_stage.training_run is None:
        raise ValueError(f"{stage} has no trained policy to sample pairs from")
    return self_pairs_create(
        experiment=stage.experiment, model_spec=policy_stage.training_run.checkpoint_path, config=stage.config["config"],
        source=self_pair_source(policy=stage.config["policy"], stage_id=stage.pk), on_progress=report,
    )


EXECUTORS: dict[str, Callable[[PipelineStage, str, Reporter], dict | None]] = {
    StageKind.PREPARE: _prepare,
    StageKind.LABELING: _labeling,
    StageKind.SFT: _sft,
    StageKind.REWARD: _reward,
    StageKind.REWARD_CURVE: _reward_curve,
    StageKind.POLICY: _policy,
    StageKind.SAMPLING: _sampling,
    StageKind.SELF_PAIRS: _self_pairs,
    StageKind.ROUND: _round,
    StageKind.JUDGE: _judge,
}
