"""A filled experiment for the report tests: real rounds, items, leases, judgements and marks,
made through the rating services, with raters whose rankings follow a planted effect.

Raters rank by Plackett–Luce utilities ``θ_policy + Gumbel noise``; ``θ_rlaif − θ_sft =
logit(0.7)`` plants a 70 % win rate of RLAIF over SFT, and RLHF is as strong as RLAIF, so
RLAIF vs RLHF is a null pair. Gold items are ranked with the degraded entry last.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from webapp.access import RATERS_GROUP
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Round, alias_for
from webapp.rating.services import judgements, leasing, rounds

PASSWORD = "report-pass-123"
PLANTED = {"sft": 0.0, "rlaif": math.log(0.7 / 0.3), "rlhf": math.log(0.7 / 0.3)}
HARMLESS = {"sft": 0.6, "rlaif": 0.9, "rlhf": 0.75}
LENGTHS = {"sft": 40, "rlaif": 60, "rlhf": 70}


@pytest.fixture(autouse=True)
def fresh_cache():
    # Ids repeat between tests (each test's rows are rolled back), so a fingerprint could
    # repeat too; a cached report must never leak from one test into the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(db):
    return User.objects.create_user(username="boss", password=PASSWORD, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_token(staff):
    return Token.objects.create(user=staff).key


@pytest.fixture
def make_rater(db):
    def make(username: str) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD)
        user.groups.add(Group.objects.get_or_create(name=RATERS_GROUP)[0])
        return user

    return make


@dataclass
class Filled:
    experiment: Experiment
    round: Round
    raters: list[User]
    contrarian: User | None


def _rank(entries: dict[str, str], rng: random.Random, contrarian: bool) -> dict[str, int]:
    """Ranks 1..N by alias: the planted model; a contrarian puts SFT first; gold entries last."""
    def utility(policy: str) -> float:
        if policy.startswith("gold-degraded:"):
            return -1e9
        if contrarian:
            return 1e9 if policy == "sft" else rng.random()
        return PLANTED[policy] - math.log(-math.log(rng.random()))  # θ + Gumbel(0, 1)

    # Draw in policy order, not shown order: the screen's order comes from SystemRandom, and
    # the seeded draws must fall on the same policies in every run for the data to be fixed.
    drawn = {alias: utility(policy) for alias, policy in sorted(entries.items(), key=lambda kv: kv[1])}
    order = sorted(drawn, key=lambda alias: -drawn[alias])
    return {alias: i + 1 for i, alias in enumerate(order)}


def fill_round(round: Round, raters: list[User], rng: random.Random, contrarian: User | None = None,
               per_rater: int | None = None) -> int:
    """Every rater takes items from the real queue until it is empty (or they judged
    ``per_rater`` items), and judges each."""
    made = 0
    for rater in raters:
        mine = 0
        while (per_rater is None or mine < per_rater) and (lease := leasing.item_lease(rater=rater, round=round)) is not None:
            mine += 1
            policies = dict(
                round.items.get(pk=lease.item_id).entries.values_list("id", "policy")
            )
            entries = {alias_for(i): policies[entry_id] for i, entry_id in enumerate(lease.shown_order)}
            ranks = _rank(entries, rng, rater == contrarian) if round.ranks else None
            harmless = (
                {a: rng.random() < HARMLESS.get(p.split(":")[-1], 0.5) for a, p in sorted(entries.items(), key=lambda kv: kv[1])}
                if round.judges_harm else None
            )
            judgements.judgement_submit(rater=rater, token=lease.token, ranks=ranks, harmless=harmless,
                                      active_ms=rng.randint(8_000, 40_000))
            made += 1
    return made


@pytest.fixture
def make_filled(db, make_rater):
    """make_filled(slug, n_prompts, n_raters, overlap, gold_share, contrarian, seed, mode, per_rater) -> Filled."""

    def make(slug: str = "planted", n_prompts: int = 60, n_raters: int = 4, overlap: int = 3, gold_share: float = 0.1,
             contrarian: bool = False, seed: int = 7, mode: str = "both", per_rater: int | None = None) -> Filled:
        rng = random.Random(seed)
        experiment = Experiment.objects.create(slug=slug, name=f"Planted effect ({slug})", task="harmless")
        for i in range(n_prompts):
            prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Human: question {i}?",
                                           content_hash=Prompt.hash_for(f"{slug}-{i}"))
            for policy, mean in LENGTHS.items():
                words = max(5, int(rng.gauss(mean, 10)))
                PolicyResponse.objects.create(prompt=prompt, policy=policy, text=" ".join(["word"] * words),
                                              token_count=words + 3 if policy != "sft" else None)
        round = Round.objects.create(experiment=experiment, name="Round one", policies=list(PLANTED), mode=mode,
                                     overlap=overlap, gold_share=gold_share)
        rounds.round_items_create(round=round, seed=seed)
        rounds.round_open(round=round, is_open=True)
        raters = [make_rater(f"{slug}-rater-{k}") for k in range(n_raters)]
        odd = make_rater(f"{slug}-contrarian") if contrarian else None
        # The contrarian rates first so that their judgements are spread over many items.
        if odd is not None:
            fill_round(round, [odd], rng, contrarian=odd)
        fill_round(round, raters, rng, per_rater=per_rater)
        return Filled(experiment, round, raters, odd)

    return make


def _calibration(seed: int) -> list[dict]:
    rng = random.Random(seed)
    bins = []
    for i in range(5):
        low, high = 0.5 + 0.1 * i, 0.6 + 0.1 * i
        confidence = (low + high) / 2
        bins.append({"low": low, "high": high, "count": rng.randint(5, 40), "mean_confidence": confidence,
                     "agreement": min(1.0, confidence - 0.05 + 0.1 * rng.random())})
    return bins


@pytest.fixture
def make_runs(db):
    """make_runs(experiment) -> a labeling sweep (4 cells), runs of two labeler models (one with
    the nested metrics form, one not finished), two reward models with accuracy-vs-pairs curves
    and a policy run with logged training curves."""
    from webapp.pipeline.models import LabelingRun, LabelingSweep, TrainingMetric, TrainingRun

    def make(experiment: Experiment) -> dict:
        sweep = LabelingSweep.objects.create(experiment=experiment, split="train", limit=200, model_spec="smollm2-135m-instruct")
        cells = [("base", 0, False), ("base", 0, True), ("detailed", 1, False), ("detailed", 1, True)]
        runs = []
        for k, (preamble, shots, cot) in enumerate(cells):
            alignment = 0.62 + 0.03 * k
            runs.append(LabelingRun.objects.create(
                experiment=experiment, sweep=sweep, model_spec=sweep.model_spec, status="succeeded",
                config={"task": "harmless", "preamble": preamble, "shots": shots, "cot": cot, "swap": True},
                progress_done=200, progress_total=200, prompt_tokens=200 * (300 + 100 * shots), generated_tokens=200 * (40 if cot else 0),
                price_per_1k_tokens=0.0005, price_per_human_label=0.5,
                metrics={"n": 200, "alignment": alignment, "alignment_ci": [alignment - 0.07, alignment + 0.06],
                         "position1_rate": 0.58 - 0.02 * k, "order_disagreement": 0.2 - 0.03 * k, "label_mass": 0.9,
                         "calibration": _calibration(k)},
            ))
        # A labeler comparison (Table 3): a second model, in the nested metrics form, and a run not finished.
        comparison = LabelingSweep.objects.create(experiment=experiment, split="train", limit=100, kind="models",
                                                  model_spec="Qwen/Qwen2.5-1.5B-Instruct, smollm2-135m-instruct")
        nested = LabelingRun.objects.create(
            experiment=experiment, sweep=comparison, model_spec="Qwen/Qwen2.5-1.5B-Instruct", status="succeeded",
            config={"task": "harmless", "preamble": "detailed", "shots": 0, "cot": True, "swap": True},
            progress_done=100, progress_total=100, prompt_tokens=40_000, generated_tokens=5_000,
            price_per_1k_tokens=0.001, price_per_human_label=0.5,
            metrics={"alignment": {"n": 100, "aligned": 74, "z_acc": 0.74, "ci_low": 0.65, "ci_high": 0.81, "ties": 0},
                     "position_bias": {"position1_rate": 0.52, "order_disagreement": 0.1}, "label_mass": 0.95,
                     "calibration": [[0.5, 0.75, 40, 0.62, 0.6], [0.75, 1.0, 60, 0.88, 0.83]]},
        )
        pending = LabelingRun.objects.create(experiment=experiment, sweep=comparison, model_spec="smollm2-135m-instruct", status="pending",
                                             config={"preamble": "base", "shots": 2}, metrics={})
        rms = []
        for source, base in (("human", 0.6), (f"ai:{runs[-1].pk}", 0.58)):
            curve = [[n, base + 0.02 * i] for i, n in enumerate((100, 200, 400, 800))]
            rms.append(TrainingRun.objects.create(
                experiment=experiment, kind="reward", arm="rm-" + source.split(":")[0], algorithm="bradley-terry",
                label_source=source, status="succeeded", model_spec="smollm2-135m-instruct",
                metrics={"reward/accuracy": curve[-1][1], "reward/accuracy_ci": [curve[-1][1] - 0.04, curve[-1][1] + 0.04],
                         "reward/accuracy_vs_pairs": curve},
            ))
        policy = TrainingRun.objects.create(experiment=experiment, kind="policy", arm="rlaif", algorithm="reinforce",
                                            label_source=f"ai:{runs[-1].pk}", status="running", model_spec="smollm2-135m-instruct",
                                            reward_run=rms[1])
        TrainingMetric.objects.bulk_create(
            TrainingMetric(run=policy, step=step, values={"loss/train": 1.0 / (1 + 0.1 * step), "rl/reward": 0.02 * step,
                                                          "rl/kl": 0.001 * step, "note": "not a number"})
            for step in range(40)
        )
        return {"sweep": sweep, "runs": runs, "nested": nested, "pending": pending, "reward": rms, "policy": policy}

    return make
