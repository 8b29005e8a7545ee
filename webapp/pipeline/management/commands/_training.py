"""Shared pieces of the stage commands (label, train_*, sample): a progress bar and the final report."""

from __future__ import annotations

import argparse
import json
import traceback

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pipeline.progress import Progress
from webapp.pipeline.models import Status


def execute_with_bar(command: BaseCommand, run, execute, *, quiet: bool = False, desc: str = "", unit: str = "step"):
    """Claim and run ``run`` with ``execute`` in this process, a progress bar on stderr; a run
    with nothing to do or one that fails is a CommandError naming it.

    The bar follows the phase that runs, in its own unit ("training 7/40 steps, 5 saved", then
    "evaluating 120/711 pairs"), so a long evaluation or export is never a silent wait."""
    desc = desc or str(run)
    bar = tqdm(total=getattr(run, "progress_total", None) or None, desc=desc, unit=unit, disable=quiet,
               file=command.stderr._out)

    shown = {"phase": ""}

    def progress(report: Progress) -> None:
        if report.phase != shown["phase"]:
            shown["phase"] = report.phase
            bar.reset(total=report.phase_total or None)  # a new phase: its own count and rate
            bar.set_description(f"{desc} {report.phase}", refresh=False)
            bar.unit = report.unit
        bar.total = report.phase_total if report.phase else report.total
        bar.n = report.phase_done if report.phase else report.done
        if report.phase == "training":
            bar.set_postfix_str(f"{report.done} saved", refresh=False)
        bar.refresh()

    try:
        result = execute(run_id=run.pk, force=True, on_progress=progress)
    except Exception as exc:  # noqa: BLE001 - recorded on the run; the person gets its summary (--traceback: all)
        summary = "".join(traceback.format_exception_only(type(exc), exc)).strip().split("\n\n")[0]
        raise CommandError(f"{run} failed: {summary}") from exc
    finally:
        bar.close()
    if result is None:
        raise CommandError(f"{run} is {type(run).objects.get(pk=run.pk).status}: nothing to do")
    if result.status != Status.SUCCEEDED:
        raise CommandError(f"{run} {result.status}: {result.error.splitlines()[0] if result.error else ''}")
    return result


def processes_arg(value: str) -> int:
    """--processes N | auto, as a number of processes (the rule of the TRAINING_PROCESSES setting)."""
    from webapp.env import EnvError, processes_value
    from webapp.pipeline.launcher import training_processes

    try:
        return training_processes(processes_value("--processes", value))
    except EnvError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def micro_batch_arg(value: str) -> int:
    """--micro-batch-size N: pairs per forward/backward of a reward-model step, N >= 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of pairs >= 1")
    return number


def add_micro_batch_argument(parser) -> None:
    parser.add_argument("--micro-batch-size", type=micro_batch_arg, metavar="N",
                        help="pairs per forward/backward within a step (default: the whole batch); the same step, "
                             "with the activations of N pairs in memory at a time")


def finish_output(command: BaseCommand, run, *, as_json: bool) -> None:
    command.stdout.write(f"{run}: {run.status} in {run.wall_seconds:.0f} s")
    if getattr(run, "checkpoint_path", ""):
        command.stdout.write(f"  checkpoint: {run.checkpoint_path}")
    for key, value in sorted(run.metrics.items()):
        command.stdout.write(f"  {key}: {value}")
    if as_json:
        command.stdout.write(json.dumps({"run_id": run.pk, "status": run.status, **run.metrics}))


# -- reward-model sweeps (rm_curve, rm_mix) ----------------------------------------------------------


def add_reward_sweep_arguments(parser) -> None:
    """The training settings every reward model of a sweep shares."""
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="stop each model after this many optimizer steps")
    parser.add_argument("--batch-size", type=int, default=8)
    add_micro_batch_argument(parser)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--model", help="base model spec (default: the experiment's reward model)")


def plan_reward_sweep(experiment, options: dict, sources, option: str, create):
    """One reward run per label source, all created (``create(source, config)``) before any trains
    (a bad source in the list must not cost the ones before it their training time); refused
    together, nothing left behind, the message naming ``option``, the command's option the
    sources came from."""
    from pipeline.configs import RewardConfig
    from webapp.pipeline.services import training

    config = RewardConfig(model=options["model"] or experiment.reward_model, epochs=options["epochs"],
                          max_steps=options["max_steps"], batch_size=options["batch_size"],
                          micro_batch_size=options["micro_batch_size"], max_length=options["max_length"], checkpoint_every=0)
    planned = []
    try:
        for source in dict.fromkeys(sources):
            planned.append(create(source, config))
    except (ValueError, training.LabelingRun.DoesNotExist) as exc:
        for run in planned:
            run.delete()
        raise CommandError(f"{option}: {exc}") from None
    return planned
