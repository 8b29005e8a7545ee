"""python manage.py train_policy --experiment SLUG --arm ARM [--algorithm reinforce|ppo|rloo|grpo] [--steps N] [--json]"""

from __future__ import annotations

from functools import partial

from django.core.management.base import BaseCommand, CommandError

from pipeline.arms import ALGORITHMS, ARMS, DEFAULT_ALGORITHM, get_arm
from webapp.pipeline.management.commands._training import execute_with_bar, finish_output, processes_arg
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.models import Status, TrainingKind, TrainingRun
from webapp.pipeline.services import training


class Command(BaseCommand):
    help = "Train one arm's policy: sft, rlhf, rlaif, same-size-rlaif, direct-rlaif, dpo-ai, dpo-human or mixed."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True)
        parser.add_argument("--arm", required=True, choices=sorted(ARMS))
        # pipeline.arms, not pipeline.rl: importing pipeline.rl loads torch, too slow for --help.
        parser.add_argument("--algorithm", choices=list(ALGORITHMS), default=DEFAULT_ALGORITHM)
        parser.add_argument("--steps", type=int, default=8)
        parser.add_argument("--batch-size", type=int, default=8, help="prompts per RL step / pairs per DPO step")
        parser.add_argument("--max-new-tokens", type=int, default=48)
        parser.add_argument("--reward-run", type=int, help="the reward model (default: the latest finished RM on the arm's labels)")
        parser.add_argument("--resume", type=int, metavar="RUN_ID")
        parser.add_argument("--processes", type=processes_arg, default=1,
                            help="train data-parallel in N processes under torchrun (one per GPU); 'auto': one per visible GPU")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        arm = get_arm(o["arm"])
        if o["resume"]:
            run = TrainingRun.objects.filter(pk=o["resume"], experiment=experiment).first()
            if run is None:
                raise CommandError(f"no training run #{o['resume']} in {experiment.slug}")
        elif arm.method == "sft":
            run = training.sft_run_create(experiment=experiment, config={"max_steps": o["steps"], "batch_size": o["batch_size"]})
            if run is None:
                self.stdout.write(f"{experiment.slug} has no reference outputs: the instruction-tuned base ({experiment.policy_model}) is the SFT policy")
                return
        else:
            run = self._policy_run(experiment, arm, o)
        execute = partial(training.training_run_execute, processes=o["processes"])
        run = execute_with_bar(self, run, execute, quiet=o["verbosity"] == 0)
        finish_output(self, run, as_json=o["json"])

    def _policy_run(self, experiment, arm, o) -> TrainingRun:
        reward_run = None
        if arm.method == "rl" and arm.reward == "rm":
            finished = TrainingRun.objects.filter(experiment=experiment, kind=TrainingKind.REWARD, status=Status.SUCCEEDED)
            if o["reward_run"]:
                reward_run = finished.filter(pk=o["reward_run"]).first()
            else:
                prefix = {"human": "human", "ai": "ai", "mixed": "mixed"}[arm.labels]
                reward_run = finished.filter(label_source__startswith=prefix).order_by("-finished_at").first()
            if reward_run is None:
                raise CommandError(f"arm {arm.name} needs a finished reward model on {arm.labels} labels: run train_reward first")
        if arm.method == "dpo":
            config = {"batch_size": o["batch_size"]}
        else:
            config = {"batch_size": o["batch_size"], "max_new_tokens": o["max_new_tokens"]}
        try:
            return training.policy_run_create(
                experiment=experiment, arm=arm.name, algorithm=o["algorithm"], steps=o["steps"], reward_run=reward_run, config=config
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
