"""Training runs (reward models, policies): create, execute resumably, record.

Django side of the training stages: the ML work is plain Python (``pipeline.reward``,
``pipeline.rl``, ``pipeline.dpo``, ``pipeline.sft``, ``pipeline.generation``); this module
reads the experiment's pairs and labels from the database, gives the trainer an output
folder under ``RUNS_ROOT`` (where it keeps its checkpoints, so a claimed-again run continues
from the last one), and stores per-step metrics and the result on the run. With an fsspec
ARTIFACT_ROOT the run folder and the checkpoints a run reads are mirrored (``artifacts``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db.models import Q

from pipeline.progress import Progress, ProgressFn
from pipeline.reward import data as reward_data
from webapp.experiments.models import SELF_PAIR_PREFIX, Experiment, PreferencePair, Prompt
from webapp.pipeline import artifacts, runs
from webapp.pipeline.models import AILabel, LabelingRun, Status, TrainingKind, TrainingMetric, TrainingRun

# -- reading the experiment's data as plain pipeline inputs -----------------------------------


def _labeling_run_for(experiment: Experiment, source: reward_data.LabelSource) -> LabelingRun | None:
    if source.kind == "human":
        return None
    if source.run:
        return LabelingRun.objects.get(pk=int(source.run), experiment=experiment)
    latest = LabelingRun.objects.filter(experiment=experiment, split="train", status=Status.SUCCEEDED, sweep=None, pair_source="")
    run = latest.order_by("-finished_at").first()
    if run is None:
        raise ValueError(f"label source {source} needs AI labels, but {experiment.slug} has no finished labeling run on train")
    return run


def labeling_runs_of(run: TrainingRun) -> list[LabelingRun]:
    """The labeling runs whose AI labels a run trains on: its own, or those its ``ai:A+B+...`` source names
    (an iterative RLAIF reward model trains on several)."""
    kind, _, ids = run.label_source.partition(":")
    if kind == "ai" and "+" in ids:
        found = LabelingRun.objects.in_bulk([int(i) for i in ids.split("+")])
        return [found[int(i)] for i in ids.split("+")]
    return [run.labeling_run] if run.labeling_run else []


def preference_pairs(experiment: Experiment, split: str, labeling_run: LabelingRun | list[LabelingRun] | None = None,
                     ) -> list[reward_data.PreferencePair]:
    """The split's pairs as plain records, with the AI label of ``labeling_run`` where it has one.

    Several labeling runs: the labels of each; self-generated pairs come in when one of them labelled them.
    """
    label_runs = labeling_run if isinstance(labeling_run, list) else [labeling_run] if labeling_run else []
    ai = dict(AILabel.objects.filter(run__in=label_runs).order_by("run_id").values_list("pair_id", "p"))
    sources = [r.pair_source for r in label_runs if r.pair_source]
    pairs = PreferencePair.with_self.filter(
        ~Q(source__startswith=SELF_PAIR_PREFIX) | Q(source__in=sources),
        prompt__experiment=experiment, prompt__split=split,
    ).select_related("prompt")
    return [
        reward_data.PreferencePair(p.prompt.context, p.candidate_1, p.candidate_2, p.human_choice, ai.get(p.pk))
        for p in pairs.order_by("id")
    ]


def _start(run: TrainingRun, *specs: str | None) -> None:
    """Bring what a run reads into the local mirror: its own folder (a run claimed again on
    another machine resumes from the checkpoints saved there) and its parent checkpoints."""
    artifacts.pull(runs.run_dir(run))
    for spec in specs:
        artifacts.pull_spec(spec)


def _finish(run: TrainingRun, result, metrics: dict) -> None:
    """Upload the run folder before the result is recorded: a later stage may start on
    another machine the moment the run shows as succeeded."""
    from pipeline.distributed import Ranks

    artifacts.push(runs.run_dir(run))
    metrics = {**metrics, "train/processes": Ranks.from_env().world}
    runs.run_finish(run, metrics=metrics, checkpoint_path=str(result.model_path), step=result.steps)


def _record_metrics(run: TrainingRun, on_progress: ProgressFn | None = None) -> tuple[ProgressFn, Callable[[int, dict], None]]:
    """Callbacks for a trainer: metrics become TrainingMetric rows; progress becomes the run's
    heartbeat (and, with a remote artifact root, a periodic upload of the run folder) and is
    passed on to the caller's ``on_progress``."""

    def record_metrics(step: int, values: dict) -> None:
        clean = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
        # A step may log twice (training, then the final evaluation): merge, don't overwrite.
        point, created = TrainingMetric.objects.get_or_create(run=run, step=step, defaults={"values": clean})
        if not created:
            point.values = {**point.values, **clean}
            point.save(update_fields=["values"])
        runs.run_heartbeat(run, step=step)

    pusher = artifacts.Pusher(runs.run_dir(run))

    def record_progress(progress: Progress) -> None:
        runs.run_heartbeat(run, **runs.progress_fields(progress))
        pusher.maybe()  # checkpoints reach the shared artifact root while the run goes on
        if on_progress:
            on_progress(progress)

    return record_progress, record_metrics


# -- reward models -----------------------------------------------------------------------------


def reward_run_create(
    *, experiment: Experiment, label_source: str, config=None, arm: str = "", labeling_run: LabelingRun | None = None,
    more_labeling_runs: list[LabelingRun] | None = None,
) -> TrainingRun:
    """``labeling_run`` pins the AI labels of an ``ai``/``mixed`` source (default: the latest finished run);
    ``more_labeling_runs`` adds the labels of further runs to an ``ai`` source (iterative RLAIF)."""
    from pipeline.configs import RewardConfig

    source = reward_data.LabelSource.parse(label_source)
    if source.kind == "human":
        labeling_run = None
    elif labeling_run is None:
        labeling_run = _labeling_run_for(experiment, source)
    elif source.kind == "ai":
        # Several runs are named in the source itself (labeling_runs_of reads them back).
        source = reward_data.LabelSource("ai", 0.0, "+".join(str(r.pk) for r in [labeling_run, *(more_labeling_runs or [])]))
    config = config or RewardConfig(model=experiment.reward_model)
    return TrainingRun.objects.create(
        experiment=experiment,
        kind=TrainingKind.REWARD,
        arm=arm,
        algorithm="bradley-terry",
        label_source=f"ai:{source.run or labeling_run.pk}" if source.kind == "ai" and labeling_run is not None else str(source),
        labeling_run=labeling_run,
        model_spec=config.model,
        config=config.to_dict(),
    )


def _train_reward(run: TrainingRun, on_progress: ProgressFn | None, record: bool) -> None:
    """Train a reward model; held-out accuracy on the test split's human labels."""
    from pipeline.configs import RewardConfig
    from pipeline.reward.train import train_reward_model

    config = RewardConfig.from_dict(run.config)
    train_pairs = preference_pairs(run.experiment, "train", labeling_runs_of(run))
    examples = reward_data.build_examples(train_pairs, run.label_source, seed=config.seed)
    held_out = [p for p in preference_pairs(run.experiment, "test") if p.human_choice in (1, 2)]
    progress, record_metrics = _record_metrics(run, on_progress)
    if config.curve_sizes:
        _train_reward_curve(run, config, examples, held_out, progress, record)
        return
    result = train_reward_model(
        config, examples, runs.run_dir(run), artifact_root=settings.ARTIFACT_LOCAL,
        eval_pairs=held_out or None, on_progress=progress, on_metrics=record_metrics,
    )
    if not record:
        return
    metrics: dict[str, object] = {**result.metrics, "train/pairs": len(examples), "train/pairs_per_second": result.pairs_per_second}
    if result.accuracy is not None:
        accuracy = result.accuracy.to_dict()
        metrics.update({"reward/accuracy": accuracy.get("accuracy"), "reward/accuracy_ci": [accuracy.get("ci_low"), accuracy.get("ci_high")], "reward/accuracy_n": accuracy.get("n")})
    _finish(run, result, metrics)


def _train_reward_curve(run: TrainingRun, config, examples, held_out, progress: ProgressFn, record: bool) -> None:
    """The paper's Figure 5: one reward model per size on nested subsets, accuracy of each on the
    test split's human labels, stored as ``reward/accuracy_vs_pairs`` (what the dashboard draws)."""
    from pipeline.reward.curve import accuracy_vs_train_size

    if not held_out:
        raise ValueError(f"{run.experiment.slug} has no human-labelled test pairs to measure the curve on")
    points = accuracy_vs_train_size(config, examples, held_out, config.curve_sizes, runs.run_dir(run),
                                    artifact_root=settings.ARTIFACT_LOCAL, seed=config.seed, on_progress=progress)
    if not record:
        return
    curve = [[p.n, p.accuracy.accuracy, p.accuracy.ci_low, p.accuracy.ci_high] for p in points]
    last = points[-1]
    metrics = {"reward/accuracy_vs_pairs": curve, "reward/accuracy": last.accuracy.accuracy,
               "reward/accuracy_ci": [last.accuracy.ci_low, last.accuracy.ci_high], "reward/accuracy_n": last.accuracy.n,
               "train/pairs": last.n}
    artifacts.push(runs.run_dir(run))
    runs.run_finish(run, metrics=metrics, checkpoint_path=last.model_path, step=len(points))


# -- policies ------------------------------------------------------------------------------------


def sft_checkpoint(experiment: Experiment) -> str:
    """The SFT policy of an experiment: its finished SFT run, or the instruction-tuned base."""
    sft = TrainingRun.objects.filter(experiment=experiment, kind=TrainingKind.SFT, status=Status.SUCCEEDED).order_by("-finished_at").first()
    return sft.checkpoint_path if sft else experiment.policy_model


def policy_run_create(
    *, experiment: Experiment, arm: str, algorithm: str = "reinforce", steps: int | None = None,
    reward_run: TrainingRun | None = None, labeling_run: LabelingRun | None = None, config: dict | None = None,
) -> TrainingRun:
    """A policy for one arm: RL against ``reward_run`` (or the direct score), or DPO on pairs."""
    from pipeline.arms import get_arm

    spec = get_arm(arm)
    algorithm = "dpo" if spec.method == "dpo" else algorithm
    if spec.method == "rl" and spec.reward == "rm" and reward_run is None:
        raise ValueError(f"arm {arm!r} trains against a reward model: give reward_run")
    if spec.method == "dpo" and spec.labels == "ai" and labeling_run is None:
        labeling_run = _labeling_run_for(experiment, reward_data.LabelSource.parse("ai"))
    policy = sft_checkpoint(experiment)
    settings_ = {"policy": policy, **(config or {})}
    if steps is not None:
        settings_["steps" if algorithm != "dpo" else "max_steps"] = steps
    return TrainingRun.objects.create(
        experiment=experiment,
        kind=TrainingKind.POLICY,
        arm=spec.name,
        algorithm=algorithm,
        label_source=spec.labels or ("direct" if spec.reward == "direct" else ""),
        labeling_run=labeling_run,
        reward_run=reward_run,
        parent=TrainingRun.objects.filter(experiment=experiment, kind=TrainingKind.SFT, checkpoint_path=policy).first(),
        model_spec=policy,
        config=settings_,
    )


def _reward_fn(run: TrainingRun):
    if run.reward_run is not None:
        from pipeline.reward.model import RewardModel

        rm = RewardModel.from_pretrained(run.reward_run.checkpoint_path, settings.ARTIFACT_LOCAL)
        return rm.eval().as_reward_fn()
    from pipeline.configs import LabelingConfig
    from pipeline.labeling.direct import DirectScorer
    from pipeline.rl import direct_reward_fn
    from webapp.pipeline.services.labeling import load_labeler

    labeler = load_labeler(run.experiment.labeler_model, "exact")
    return direct_reward_fn(DirectScorer(labeler, LabelingConfig(task=run.experiment.task)))


def _train_policy(run: TrainingRun, on_progress: ProgressFn | None, record: bool) -> None:
    """Train one arm's policy (REINFORCE / PPO / RLOO / GRPO on a reward, or DPO)."""
    progress, record_metrics = _record_metrics(run, on_progress)
    if run.algorithm == "dpo":
        from pipeline.configs import DPOConfig
        from pipeline.dpo import train_dpo

        pairs = preference_pairs(run.experiment, "train", run.labeling_run)
        config = DPOConfig.from_dict(run.config)
        # Soft AI labels go through as p (the soft-label DPO loss) unless the config asks for argmax labels.
        examples = reward_data.build_examples(pairs, "ai" if run.labeling_run else "human", hard=not config.soft_labels)
        result = train_dpo(config, examples, runs.run_dir(run),
                           artifact_root=settings.ARTIFACT_LOCAL, on_progress=progress, on_metrics=record_metrics)
    else:
        from pipeline.configs import RLConfig
        from pipeline.rl import train_policy

        prompts = list(Prompt.objects.filter(experiment=run.experiment, split="train").order_by("id").values_list("context", flat=True))
        result = train_policy(RLConfig.from_dict(run.config), prompts, _reward_fn(run), runs.run_dir(run), algorithm=run.algorithm,
                              artifact_root=settings.ARTIFACT_LOCAL, on_progress=progress, on_metrics=record_metrics)
    if record:
        _finish(run, result, {**result.metrics, "rl/tokens_per_second": result.tokens_per_second})


def sft_run_create(*, experiment: Experiment, config: dict | None = None) -> TrainingRun | None:
    """SFT on the train split's reference outputs; None when there are none (the base is the SFT)."""
    if not Prompt.objects.filter(experiment=experiment, split="train").exclude(reference="").exists():
        return None
    return TrainingRun.objects.create(
        experiment=experiment, kind=TrainingKind.SFT, arm="sft", algorithm="sft", model_spec=experiment.policy_model,
        config={"model": experiment.policy_model, **(config or {})},
    )


def _train_sft(run: TrainingRun, on_progress: ProgressFn | None, record: bool) -> None:
    from pipeline.configs import SFTConfig
    from pipeline.sft import SFTExample, train_sft

    progress, record_metrics = _record_metrics(run, on_progress)
    prompts = Prompt.objects.filter(experiment=run.experiment, split="train").exclude(reference="").order_by("id")
    examples = [SFTExample(p.context, p.reference) for p in prompts]
    result = train_sft(SFTConfig.from_dict(run.config), examples, runs.run_dir(run), artifact_root=settings.ARTIFACT_LOCAL,
                       on_progress=progress, on_metrics=record_metrics)
    if record:
        _finish(run, result, result.metrics)


TRAINERS: dict[str, Callable[[TrainingRun, ProgressFn | None, bool], None]] = {
    TrainingKind.REWARD: _train_reward,
    TrainingKind.SFT: _train_sft,
    TrainingKind.POLICY: _train_policy,
}


def _checkpoints_read(run: TrainingRun) -> list[str | None]:
    """The models a run starts from: its base, and for a policy the reward model it is trained against."""
    if run.kind == TrainingKind.POLICY:
        return [run.config.get("policy"), run.reward_run.checkpoint_path if run.reward_run else None]
    return [run.config.get("model")]


def training_run_execute(
    *, run_id: int, worker: str | None = None, force: bool = False, on_progress: ProgressFn | None = None,
    processes: int = 1,
) -> TrainingRun | None:
    """Claim and train any training run (reward model, SFT, policy) by its kind; resumable.

    With ``processes`` > 1 the run trains data-parallel in that many processes started by
    torchrun (one per GPU): this process holds the claim and watches them (``launcher``).
    """
    run = runs.run_claim(model=TrainingRun, run_id=run_id, worker=worker, force=force)
    if run is None:
        return None
    with runs.run_working(run):
        _start(run, *_checkpoints_read(run))
        if processes > 1:
            from webapp.pipeline import launcher

            launcher.train_in_processes(run, processes=processes, on_progress=on_progress)
        else:
            TRAINERS[run.kind](run, on_progress, True)
    return run


def training_run_rank(*, run_id: int, claim: str, rank: int) -> None:
    """One of the processes ``launcher.train_in_processes`` starts: it trains its share of every
    step; process 0 also records metrics, progress and the result, under the watcher's claim."""
    run = TrainingRun.objects.select_related("experiment", "labeling_run", "reward_run").get(pk=run_id)
    if run.status != Status.RUNNING or run.claimed_by != claim:
        raise runs.RunCancelled(f"{run} is {run.status}, claimed by {run.claimed_by or 'nobody'}, not by {claim}")
    TRAINERS[run.kind](run, None, rank == 0)
