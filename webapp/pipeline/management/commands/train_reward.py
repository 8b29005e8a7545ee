"""python manage.py train_reward --experiment SLUG --labels ai:RUN_ID|human|mixed:0.5 [--json]"""

from __future__ import annotations

from functools import partial

from django.core.management.base import BaseCommand, CommandError

from pipeline.configs import RewardConfig
from webapp.pipeline.management.commands._training import add_micro_batch_argument, execute_with_bar, finish_output, processes_arg
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.services import training


class Command(BaseCommand):
    help = "Train a reward model on human, AI (soft) or mixed labels; reports held-out pairwise accuracy."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True)
        parser.add_argument("--labels", default="human", help="human | ai | ai:RUN_ID | mixed:SHARE (share of human labels)")
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
        parser.add_argument("--batch-size", type=int, default=8)
        add_micro_batch_argument(parser)
        parser.add_argument("--max-length", type=int, default=512)
        parser.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (0: only at the end)")
        parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
        parser.add_argument("--model", help="base model spec (default: the experiment's reward model)")
        parser.add_argument("--resume", type=int, metavar="RUN_ID", help="continue a run from its last checkpoint")
        parser.add_argument("--processes", type=processes_arg, default=1,
                            help="train data-parallel in N processes under torchrun (one per GPU); 'auto': one per visible GPU")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        if o["resume"]:
            run = training.TrainingRun.objects.filter(pk=o["resume"], experiment=experiment).first()
            if run is None:
                raise CommandError(f"no training run #{o['resume']} in {experiment.slug}")
        else:
            config = RewardConfig(
                model=o["model"] or experiment.reward_model, epochs=o["epochs"], max_steps=o["max_steps"],
                batch_size=o["batch_size"], micro_batch_size=o["micro_batch_size"], max_length=o["max_length"], checkpoint_every=o["checkpoint_every"], lora=False if o["full"] else None,
            )
            try:
                run = training.reward_run_create(experiment=experiment, label_source=o["labels"], config=config)
            except (ValueError, training.LabelingRun.DoesNotExist) as exc:
                raise CommandError(str(exc)) from None
        execute = partial(training.training_run_execute, processes=o["processes"])
        run = execute_with_bar(self, run, execute, quiet=o["verbosity"] == 0)
        finish_output(self, run, as_json=o["json"])
