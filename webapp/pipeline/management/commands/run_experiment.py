"""python manage.py run_experiment SLUG [--arms sft rlhf rlaif] [--algorithm reinforce|ppo|rloo|grpo] [--size demo|full]
[--iterations K [--iteration-labels all|newest]] [--reward-curve [--curve-sizes 50 100 200] [--curve-labels human ai]]
[--wait] [--json]

Starts the experiment's whole pipeline on the Celery workers. ``--wait`` shows one progress
bar per stage until the run ends; it needs a worker consuming the ``gpu`` and ``default``
queues (``make run`` starts one), unless ``--in-process`` runs the stages in this process
instead (same claims, so a worker running at the same time is harmless). With ``--json`` the
last line is one JSON object: run id, every stage's final state, the wall time, the status.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pipeline.arms import ALGORITHMS, ARMS, DEFAULT_ALGORITHM, ITERATION_LABELS, ITERATIVE_ARMS, MAX_ITERATIONS
from pipeline.kinds import get_kind
from pipeline.plan import DEFAULT_ARMS, SIZE_CONFIGS
from pipeline.progress import Progress
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.models import PipelineRun, PipelineSize, PipelineStage, PipelineStatus, Status
from webapp.pipeline.services import orchestration, stages

NO_WORKER_HINT = (
    "nothing has started after {0:.0f} s: is a worker consuming the queues? "
    "Start one with `celery -A webapp worker -Q gpu,default --concurrency 1`, or pass --in-process"
)


def parse_overrides(items: list[str]) -> dict:
    """["rl.steps=2", "sampling.max_new_tokens=8"] -> {"rl": {"steps": 2}, "sampling": {"max_new_tokens": 8}}"""
    overrides: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        kind, dot, field = key.partition(".")
        if not (sep and dot and kind and field):
            raise CommandError(f"--set {item!r}: write KIND.FIELD=VALUE, e.g. rl.steps=2")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        overrides.setdefault(kind, {})[field] = value
    return overrides


def stage_state(stage: PipelineStage) -> str:
    if stage.status == Status.SUCCEEDED and stage.reused_from_id:
        return "reused"
    return stage.status


class Command(BaseCommand):
    help = "Run an experiment's whole pipeline (labels, reward models, arms, samples, evaluation round) on the workers."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="experiment slug")
        parser.add_argument("--arms", nargs="+", default=list(DEFAULT_ARMS), metavar="ARM",
                            help=f"arms to compare (default: {' '.join(DEFAULT_ARMS)}); any of {', '.join(ARMS)}")
        parser.add_argument("--algorithm", choices=list(ALGORITHMS), default=DEFAULT_ALGORITHM,
                            help=f"the RL algorithm of the RL arms (default {DEFAULT_ALGORITHM}, the paper's); DPO arms use DPO")
        parser.add_argument("--size", choices=[s.value for s in PipelineSize], default=PipelineSize.DEMO)
        parser.add_argument("--set", action="append", default=[], metavar="KIND.FIELD=VALUE",
                            help="override a stage config value, e.g. rl.steps=2 or sampling.max_new_tokens=16")
        parser.add_argument("--labeling-from-sweep", type=int, metavar="SWEEP_ID",
                            help="label with the best cell (highest alignment) of this labeling sweep; --set labeling.* still wins")
        parser.add_argument("--mixed-share", type=float, default=0.5, metavar="SHARE",
                            help="share of human labels (0-1) the mixed arm's reward model trains on; the rest are AI labels")
        parser.add_argument("--iterations", type=int, default=1, metavar="K",
                            help=f"iterative RLAIF for {', '.join(ITERATIVE_ARMS)}: K rounds (1 to {MAX_ITERATIONS}; 1 = once), "
                                 "each policy's own pairs AI-labelled for the next reward model")
        parser.add_argument("--iteration-labels", choices=ITERATION_LABELS, default="all",
                            help="the AI labels each iteration's reward model trains on: all so far (default) or the newest")
        reference = parser.add_mutually_exclusive_group()
        reference.add_argument("--with-reference", dest="with_reference", action="store_const", const=True, default=None,
                               help="rate the test prompts' references in the evaluation round (default: for summarization)")
        reference.add_argument("--no-reference", dest="with_reference", action="store_const", const=False,
                               help="leave the references out of the evaluation round")
        parser.add_argument("--reward-curve", action="store_true",
                            help="the paper's Figure 5 too: reward models on nested subsets of the training pairs, "
                                 "accuracy on the test split's human labels, for each label source")
        parser.add_argument("--curve-sizes", nargs="+", metavar="N",
                            help="with --reward-curve: training-set sizes in increasing order (default by --size: "
                                 f"{' '.join(map(str, SIZE_CONFIGS['demo']['curve']['sizes']))} for demo, up to the training pairs)")
        parser.add_argument("--curve-labels", nargs="+", metavar="SOURCE",
                            help="with --reward-curve: label sources, one curve each (default human ai): human, ai, mixed:SHARE")
        parser.add_argument("--ai-judge", action="store_true",
                            help="after the evaluation round, the AI judge scores its items (AI-assisted estimates in the report)")
        parser.add_argument("--wait", action="store_true", help="show progress until the run ends")
        parser.add_argument("--in-process", action="store_true", help="with --wait: run the stages here, no worker needed")
        parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after this many seconds")
        parser.add_argument("--if-none", action="store_true", help="start nothing when the experiment already has a pipeline run")
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        parser.add_argument("--base-url", default="", help="prefix of the run page address printed, e.g. http://127.0.0.1:8000")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["slug"])
        arms = [arm for item in o["arms"] for arm in item.split(",") if arm]
        existing = PipelineRun.objects.filter(experiment=experiment).order_by("-created_at").first()
        if o["if_none"] and existing is not None:
            run = existing
            self.stdout.write(f"{experiment.slug} already has {run} ({run.get_status_display().lower()}): nothing started")
        else:
            overrides = parse_overrides(o["set"])
            if o["with_reference"] is not None:
                overrides.setdefault("round", {})["with_reference"] = o["with_reference"]
            for option in ("sizes", "labels"):
                if o[f"curve_{option}"] and not o["reward_curve"]:
                    raise CommandError(f"--curve-{option} sets the reward-model curve: add --reward-curve to plan it")
                if o[f"curve_{option}"]:
                    overrides.setdefault("curve", {})[option] = o[f"curve_{option}"]
            try:
                run = orchestration.pipeline_run_create(
                    experiment=experiment, arms=arms, size=o["size"],
                    overrides=overrides, labeling_sweep=o["labeling_from_sweep"], mixed_share=o["mixed_share"],
                    enqueue=not o["in_process"], ai_judge=o["ai_judge"], algorithm=o["algorithm"],
                    iterations=o["iterations"], iteration_labels=o["iteration_labels"],
                    reward_curve=o["reward_curve"],
                )
            except orchestration.PipelineError as exc:
                raise CommandError(f"--{exc.setting.replace('_', '-')}: {exc}" if exc.setting else str(exc)) from None
            iterated = f", {run.iterations} iterations ({run.iteration_labels} AI labels)" if run.iterations > 1 else ""
            self.stdout.write(f"{run}: {run.stages.count()} stages, arms {', '.join(run.arms)}, algorithm {run.algorithm}, "
                              f"size {run.size}{iterated}")
        self.stdout.write(f"  watch it at {o['base_url'].rstrip('/')}/experiments/{experiment.slug}/runs/{run.pk}/")
        if o["wait"]:
            if o["in_process"]:
                self._execute_here(run, quiet=o["verbosity"] == 0)
            else:
                self._watch(run, quiet=o["verbosity"] == 0, timeout=o["timeout"])
        run.refresh_from_db()
        self._report(run, as_json=o["json"])
        if o["wait"] and run.status != PipelineStatus.SUCCEEDED:
            failed = run.stages.filter(status=Status.FAILED).first()
            detail = f": {failed.name}: {failed.error.splitlines()[0]}" if failed and failed.error else ""
            raise CommandError(f"{run} {run.get_status_display().lower()}{detail}")

    # -- waiting -----------------------------------------------------------------------------

    def _bars(self, run: PipelineRun, quiet: bool) -> dict[int, tqdm]:
        width = max(len(s.name) for s in run.stages.all())
        return {
            stage.pk: tqdm(total=stage.progress_total or 1, desc=stage.name.ljust(width), unit=get_kind(stage.kind).unit,
                           position=i, leave=True, disable=quiet, file=self.stderr._out, mininterval=0.5)
            for i, stage in enumerate(run.stages.all())
        }

    @staticmethod
    def _update(bars: dict[int, tqdm], run: PipelineRun) -> None:
        for stage in run.stages.all():
            bar = bars[stage.pk]
            if getattr(bar, "settled", False):
                continue  # a finished bar keeps the time it took
            if stage.status == Status.PENDING:
                bar.start_t = bar.last_print_t = time.time()  # the clock starts when the stage does
            bar.total = max(stage.progress_total, 1)
            bar.n = bar.total if stage.status == Status.SUCCEEDED else min(stage.progress_done, bar.total)
            bar.set_postfix_str(stage_state(stage), refresh=False)
            bar.refresh()
            bar.settled = stage.is_finished

    def _watch(self, run: PipelineRun, *, quiet: bool, timeout: float | None) -> None:
        bars = self._bars(run, quiet)
        start, hinted = time.monotonic(), False
        try:
            while True:
                run.refresh_from_db()
                self._update(bars, run)
                if run.is_finished:
                    return
                waited = time.monotonic() - start
                if not hinted and waited > 60 and run.status == PipelineStatus.PENDING:
                    self.stderr.write(NO_WORKER_HINT.format(waited))
                    hinted = True
                if timeout is not None and waited > timeout:
                    raise CommandError(f"{run} is still {run.get_status_display().lower()} after {timeout:.0f} s")
                time.sleep(1.0)
        finally:
            for bar in bars.values():
                bar.close()

    def _execute_here(self, run: PipelineRun, *, quiet: bool) -> None:
        bars = self._bars(run, quiet)
        try:
            while True:
                ready = orchestration.ready_stages(run)
                if not ready:
                    break
                for stage in ready:
                    def progress(report: Progress, bar=bars[stage.pk]) -> None:
                        bar.total, bar.n = max(report.total, 1), report.done
                        bar.set_postfix_str(report.describe(), refresh=False)
                        bar.refresh()

                    try:
                        stages.pipeline_stage_execute(stage_id=stage.pk, on_progress=progress, advance=False)
                    except Exception as exc:  # noqa: BLE001 - recorded on the stage; the other branches go on
                        self.stderr.write(f"{stage.name} failed: {exc}")
                    run.refresh_from_db()
                    self._update(bars, run)
        finally:
            for bar in bars.values():
                bar.close()

    # -- the result ----------------------------------------------------------------------------

    def _report(self, run: PipelineRun, *, as_json: bool) -> None:
        stage_rows = list(run.stages.all())
        for stage in stage_rows:
            line = f"  {stage.name}: {stage_state(stage)}"
            if stage.status == Status.FAILED and stage.error:
                line += f" ({stage.error.splitlines()[0]})"
            self.stdout.write(line)
        self.stdout.write(f"{run}: {run.get_status_display().lower()}" + (f" in {run.wall_seconds:.0f} s" if run.is_finished else ""))
        if as_json:
            self.stdout.write(json.dumps({
                "run_id": run.pk,
                "experiment": run.experiment.slug,
                "stages": {s.name: stage_state(s) for s in stage_rows},
                "wall_seconds": round(run.wall_seconds, 1) if run.is_finished else None,
                "status": run.status,
                "algorithm": run.algorithm,
                "mixed_share": run.mixed_share,
                "iterations": run.iterations,
            }))
