"""python manage.py ai_judge ROUND_ID [--model SPEC] [--limit N]: the AI judge scores a round.

Every pair of responses of every (non-gold) item, both orders, and every response's
harmlessness when the round asks raters about harm; a rerun scores only what is missing. The
report then shows AI-assisted (PPI++) win rates and harmless rates beside the human-only ones.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pipeline.configs import PRECISION_ALIASES, PRECISIONS
from pipeline.progress import Progress
from webapp.pipeline.services.ai_judge import NothingToJudge, round_ai_judge
from webapp.rating.models import Round


class Command(BaseCommand):
    help = "Score every pair of responses of a rating round with an AI judge (both orders), for AI-assisted estimates."

    def add_arguments(self, parser):
        parser.add_argument("round", type=int, help="rating round id (the admin's round list shows it)")
        parser.add_argument("--model", help="judge model spec (default: the experiment's labeler model)")
        parser.add_argument("--limit", type=int, help="score only the round's first N items")
        parser.add_argument("--precision", choices=[*PRECISIONS, *PRECISION_ALIASES], default="exact")

    def handle(self, *args, **o):
        if o["limit"] is not None and o["limit"] < 1:
            raise CommandError(f"--limit must be at least 1, got {o['limit']}")
        round = Round.objects.select_related("experiment").filter(pk=o["round"]).first()
        if round is None:
            raise CommandError(f"no rating round #{o['round']}: make one with make_round or in the admin")
        bar = tqdm(desc=f"AI judge on round #{round.pk}", unit="pair", file=self.stderr._out, disable=o["verbosity"] == 0)

        def show(progress: Progress) -> None:
            bar.total = progress.total
            bar.update(progress.done - bar.n)

        try:
            scored = round_ai_judge(round=round, model_spec=o["model"], limit=o["limit"], precision=o["precision"],
                                    on_progress=show)
        except NothingToJudge as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        pairs, harm = round.ai_judgements.count(), round.ai_harm_judgements.count()
        self.stdout.write(f"round #{round.pk}: {scored} scored now; in all {pairs} pairs compared and {harm} responses labelled for harm")
