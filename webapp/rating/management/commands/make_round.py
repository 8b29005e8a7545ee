"""python manage.py make_round --experiment demo: a ready-to-rate round, from imported pairs if need be."""

import json

from django.core.management.base import BaseCommand, CommandError

from webapp.experiments.models import Experiment, PolicyResponse
from webapp.rating.models import Mode, Round
from webapp.rating.services import errors, rounds


class Command(BaseCommand):
    help = (
        "Create an evaluation round over an experiment's test prompts, make its items and open it. "
        "With no policy responses yet, responses are made from the imported pairs first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--policies", default="", help="comma-separated; default: every policy the experiment has but the reference"
        )
        reference = parser.add_mutually_exclusive_group()
        reference.add_argument(
            "--with-reference", dest="with_reference", action="store_const", const=True, default=None,
            help="include the test prompts' references as the policy 'reference', blinded like the others "
            "(default: yes for summarization, no otherwise)",
        )
        reference.add_argument("--no-reference", dest="with_reference", action="store_const", const=False, help="leave the references out")
        parser.add_argument("--mode", choices=[m.value for m in Mode], default=None, help="default: both for harmless experiments, rank otherwise")
        parser.add_argument("--naming", choices=["candidates", "human"], default="candidates")
        parser.add_argument("--overlap", type=int, default=3)
        parser.add_argument("--gold-share", type=float, default=0.1)
        parser.add_argument("--instructions", default=rounds.DEFAULT_INSTRUCTIONS)
        parser.add_argument("--target-half-width", type=float, default=None, metavar="H",
                            help="stop when precise enough: close the round once every interval the report shows first "
                                 "is at most H wide on each side (e.g. 0.05); it stops on precision, never on significance")
        parser.add_argument("--closed", action="store_true", help="leave the round closed")
        parser.add_argument("--json", action="store_true", help="print one JSON object last")
        parser.add_argument("--if-none", action="store_true", help="do nothing when the experiment already has a round")

    def handle(self, *args, **options):
        experiment = Experiment.objects.filter(slug=options["experiment"]).first()
        if experiment is None:
            raise CommandError(f"no experiment {options['experiment']!r}")
        if options["if_none"] and Round.objects.filter(experiment=experiment).exists():
            self.stdout.write(f"{experiment.slug} already has a round: nothing to do")
            return
        responses = PolicyResponse.objects.filter(prompt__experiment=experiment)
        if not responses.exists():
            created = rounds.policy_responses_from_pairs(experiment=experiment, naming=options["naming"])
            self.stdout.write(f"made responses from pairs: {created}")
        # The reference takes part through --with-reference/--no-reference (or by name in --policies).
        available = sorted(set(responses.values_list("policy", flat=True)) - {rounds.REFERENCE})
        policies = [p.strip() for p in options["policies"].split(",") if p.strip()] or available
        try:
            round, made = rounds.round_create(
                experiment=experiment, policies=policies, name=options["name"], mode=options["mode"],
                overlap=options["overlap"], gold_share=options["gold_share"], instructions=options["instructions"],
                is_open=not options["closed"], with_reference=options["with_reference"],
                target_half_width=options["target_half_width"],
            )
        except errors.RatingError as problem:
            raise CommandError(problem.message) from None
        policies = round.policies
        mode = round.mode
        result = {"round": round.pk, "policies": policies, "mode": mode, "items": made.regular, "gold": made.gold, "open": round.is_open}
        self.stdout.write(json.dumps(result) if options["json"] else f"round #{round.pk}: {made.regular} items + {made.gold} gold, policies {', '.join(policies)}, mode {mode}, {'open' if round.is_open else 'closed'}")
