"""The whole human report for 100,000 judgements, read from the database, vs the plain ORM way.

    .venv/bin/python bench/report_db.py [--judgements 100000] [--raters 50]

bench/report.py times the statistics alone; this one times what a report page costs when
nothing is cached: reading every judgement of an experiment from a fresh SQLite database
(WAL, the embedded default) and computing every table. It builds a round of 4 policies with
a planted effect (2,000 items, every rater ranks every item and labels harmlessness), then:

  seconds_100k        reports.selectors._human_report (our read + compute_report), best of 3
  seconds_100k_first  the same, the first (cold) call
  read_seconds        of that, the read of the judgements (human_inputs)
  naive_read_seconds  the plain ORM read (Judgement -> marks via prefetch_related, objects)
  read_speedup        naive_read_seconds / read_seconds
  poll_seconds        the cached page poll (fingerprint + cache hit)

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STRENGTHS = {"sft": 0.0, "rlhf": 0.90, "rlaif": 0.85, "reference": 0.40}
HARMLESS = {"sft": 0.64, "rlhf": 0.76, "rlaif": 0.88, "reference": 0.80}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup_django(db_path: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build(n_judgements: int, n_raters: int, seed: int = 0):
    """One experiment, one round, items × raters judgements; bulk-inserted in one transaction."""
    import numpy as np
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from webapp.experiments.models import Experiment, PolicyResponse, Prompt
    from webapp.rating.models import Entry, Item, Judgement, Lease, Mark, Mode, Round

    rng = np.random.default_rng(seed)
    policies = list(STRENGTHS)
    strength = np.array([STRENGTHS[p] for p in policies])
    harmless_p = np.array([HARMLESS[p] for p in policies])
    n_items = n_judgements // n_raters
    now = timezone.now()
    with transaction.atomic():
        experiment = Experiment.objects.create(slug="bench", name="Report benchmark", task="harmless")
        prompts = Prompt.objects.bulk_create(
            Prompt(experiment=experiment, split="test", context=f"prompt {i}", source="bench", source_id=str(i),
                   content_hash=f"bench-{i}")
            for i in range(n_items)
        )
        responses = PolicyResponse.objects.bulk_create(
            # The stored length the report reads (as round creation would store it), equal to the sampler's count here.
            PolicyResponse(prompt=prompt, policy=policy, text=f"{policy} answer {k}", token_count=(n := int(rng.integers(40, 120))),
                           length_tokens=n, length_tokenizer="smollm2-135m-instruct")
            for k, prompt in enumerate(prompts) for policy in policies
        )
        round = Round.objects.create(experiment=experiment, name="bench round", policies=policies, mode=Mode.BOTH,
                                     overlap=n_raters, is_open=True)
        items = Item.objects.bulk_create(Item(round=round, prompt=prompt, judged=n_raters, claimed=n_raters) for prompt in prompts)
        entries = Entry.objects.bulk_create(
            Entry(item=item, response=responses[i * len(policies) + j], policy=policy, text=responses[i * len(policies) + j].text)
            for i, item in enumerate(items) for j, policy in enumerate(policies)
        )
        raters = User.objects.bulk_create(User(username=f"rater{r:03d}") for r in range(n_raters))
        log(f"built {len(items)} items, {len(entries)} entries; inserting {n_items * n_raters:,} judgements ...")
        for r, rater in enumerate(raters):
            leases = Lease.objects.bulk_create(
                Lease(round=round, item=item, rater=rater, shown_order=[e.pk for e in entries[i * 4 : i * 4 + 4]],
                      state="done", leased_at=now, expires_at=now, ended_at=now)
                for i, item in enumerate(items)
            )
            # Plackett-Luce by Gumbel-max: sort strength + Gumbel noise, best first.
            noise = rng.gumbel(size=(len(items), len(policies)))
            ranks = np.argsort(np.argsort(-(strength + noise), axis=1), axis=1) + 1
            harmless = rng.random((len(items), len(policies))) < harmless_p
            # As judgement_submit stores them: the marks, and their copies on the judgement.
            judgements = Judgement.objects.bulk_create(
                Judgement(round=round, item=item, rater=rater, lease=lease, shown_order=lease.shown_order,
                          leased_at=now, submitted_at=now, server_ms=9000,
                          ranks=[int(x) for x in ranks[i]], harmless=[bool(x) for x in harmless[i]])
                for i, (item, lease) in enumerate(zip(items, leases))
            )
            Mark.objects.bulk_create(
                Mark(judgement=judgement, entry=entries[i * 4 + j], alias="ABCD"[j], shown_position=j,
                     rank=int(ranks[i, j]), harmless=bool(harmless[i, j]))
                for i, judgement in enumerate(judgements) for j in range(len(policies))
            )
            if r % 10 == 9:
                log(f"  {len(items) * (r + 1):,} judgements")
    return experiment


def naive_read(experiment) -> int:
    """What a first version would write: objects, prefetch, Python filtering."""
    from webapp.rating.models import Judgement

    n = 0
    for judgement in Judgement.objects.filter(round__experiment=experiment).select_related("item", "rater").prefetch_related("marks__entry").iterator(chunk_size=100):
        if judgement.item.is_gold:
            continue
        ranked = sorted((m.rank, m.entry.policy) for m in judgement.marks.all() if m.rank is not None)
        n += len(ranked) >= 2
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgements", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        setup_django(Path(tmp) / "bench.sqlite3")
        from django.core.cache import cache

        from webapp.reports import selectors

        t = time.perf_counter()
        experiment = build(args.judgements, args.raters)
        log(f"inserted in {time.perf_counter() - t:.1f}s")

        totals, reads = [], []
        for attempt in range(4):
            t = time.perf_counter()
            inputs = selectors.human_inputs(experiment)
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            report = selectors._human_report(experiment, None, selectors.human_fingerprint(experiment))
            totals.append(time.perf_counter() - t)
            log(f"round {attempt}: read {reads[-1]:.3f}s, whole report {totals[-1]:.3f}s")
        t = time.perf_counter()
        n_naive = naive_read(experiment)
        naive_s = time.perf_counter() - t
        assert n_naive == inputs.rankings.n, (n_naive, inputs.rankings.n)

        cache.clear()
        selectors.human_report(experiment)  # fill the cache
        t = time.perf_counter()
        for _ in range(10):
            selectors.human_report(experiment)
        poll_s = (time.perf_counter() - t) / 10

        rates = {row["a"]: round(row["rate"], 3) for row in report["stats"]["vs_baseline"]}
        print(json.dumps({
            "judgements": report["judgements"]["included"],
            "rankings_read": inputs.rankings.n,
            "harm_labels_read": inputs.harm_labels.n,
            "seconds_100k": round(min(totals[1:]), 4),
            "seconds_100k_first": round(totals[0], 4),
            "read_seconds": round(min(reads[1:]), 4),
            "naive_read_seconds": round(naive_s, 4),
            "read_speedup": round(naive_s / min(reads[1:]), 2),
            "poll_seconds": round(poll_s, 5),
            "win_rates_vs_sft": rates,
        }))


if __name__ == "__main__":
    main()
