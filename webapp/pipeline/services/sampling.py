"""Sampling runs: one response per test prompt from one policy, stored as PolicyResponse rows.

A run is executed whole (``sampling_run_execute``, what the ``sample`` command calls) or slice by
slice of its prompts in id order (``sampling_prompts_sample``, what each chunk of a fanned-out
sampling stage calls, ``services.fanout``). Either way each response is fixed by the run's seed
and its prompt's text (``pipeline.generation.generate_samples``), so it is the same whatever the
slices, batches and workers; a prompt already answered under the run's policy name is skipped,
and the unique constraint keeps one response per prompt and name even when two workers answer it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from pipeline.configs import GenerationConfig
from pipeline.progress import Progress, ProgressFn
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.experiments.services import response_lengths_fill
from webapp.pipeline import artifacts, runs
from webapp.pipeline.models import SamplingRun, TrainingRun

# Prompts answered per transaction (and per fan-out chunk unless the stage says): what a killed run resumes from.
CHUNK_SIZE = 16


def sampling_run_create(
    *, experiment: Experiment, policy: str, training_run: TrainingRun | None = None, config: dict | None = None,
    model_spec: str | None = None,
) -> SamplingRun:
    """``model_spec`` names the model when it is neither a training run nor the policy name itself."""
    if model_spec is None:
        model_spec = training_run.checkpoint_path if training_run else (experiment.policy_model if policy == "sft" else policy)
    return SamplingRun.objects.create(
        experiment=experiment, policy=policy, training_run=training_run, model_spec=model_spec, config=config or {},
        progress_total=Prompt.objects.filter(experiment=experiment, split="test").count(),
    )


def sampling_run_execute(*, run_id: int, worker: str | None = None, force: bool = False, on_progress: ProgressFn | None = None):
    """One response per test prompt from the run's policy, ``CHUNK_SIZE`` prompts per transaction."""
    run = runs.run_claim(model=SamplingRun, run_id=run_id, worker=worker, force=force)
    if run is None:
        return None
    with runs.run_working(run):
        models: dict = {}
        total = _prompts(run).count()
        done, _ = sampling_run_progress(run=run)
        runs.run_heartbeat(run, **runs.progress_fields(Progress.durable(done, total, "sampling")))
        for start in range(0, total, CHUNK_SIZE):
            sampling_prompts_sample(run=run, start=start, stop=start + CHUNK_SIZE, models=models)
            done, _ = sampling_run_progress(run=run)
            progress = Progress.durable(done, total, "sampling")
            runs.run_heartbeat(run, **runs.progress_fields(progress))
            if on_progress:  # after the commit: what the caller shows is stored
                on_progress(progress)
        response_lengths_fill(experiment=run.experiment)
        runs.run_finish(run)
    return run


def sampling_prompts_sample(*, run: SamplingRun, start: int, stop: int, models: dict | None = None) -> int:
    """Answer the run's prompts ``[start, stop)`` (in id order) not answered yet, in one transaction;
    returns how many it answered. Takes no claim: the caller holds the run or the chunk.
    ``models`` keeps the loaded policy between the caller's slices (by spec: a spec staff corrected
    meanwhile is loaded afresh)."""
    from pipeline import registry
    from pipeline.generation import generate_samples

    prompts = list(_prompts(run)[start:stop])
    done = set(PolicyResponse.objects.filter(prompt__in=prompts, policy=run.policy).values_list("prompt_id", flat=True))
    todo = [p for p in prompts if p.pk not in done]
    if not todo:
        return 0
    models = {} if models is None else models
    if run.model_spec not in models:
        artifacts.pull_spec(run.model_spec)  # a policy trained on another machine
        models.clear()  # one policy in memory at a time
        models[run.model_spec] = registry.load_causal_lm(run.model_spec, settings.ARTIFACT_LOCAL)
    loaded = models[run.model_spec]
    config = GenerationConfig.from_dict(run.config) if run.config else GenerationConfig()
    samples = generate_samples(loaded.model, loaded.tokenizer, [p.context for p in todo], config)
    generation = {"run": run.pk, "checkpoint": run.model_spec, **config.to_dict()}
    with transaction.atomic():
        PolicyResponse.objects.bulk_create(
            [PolicyResponse(prompt=p, policy=run.policy, text=s.text, token_count=s.num_tokens, generation=generation)
             for p, s in zip(todo, samples)],
            ignore_conflicts=True,  # answered meanwhile by a worker presumed dead: kept once
        )
        SamplingRun.objects.filter(pk=run.pk).update(progress_done=sampling_run_progress(run=run)[0])
    return len(todo)


def sampling_run_progress(*, run: SamplingRun) -> tuple[int, int]:
    """(prompts answered under the run's policy name, prompts in all)."""
    prompts = _prompts(run)
    return PolicyResponse.objects.filter(prompt__in=prompts, policy=run.policy).count(), prompts.count()


def _prompts(run: SamplingRun):
    return Prompt.objects.filter(experiment=run.experiment_id, split=run.split).order_by("id")
