"""Plan a round for the test the report shows first: rated items for a win rate vs 50 %, found by
simulating the lab's design, with and without the AI judge.

``power.py`` answers with the z-test of independent outcomes (times a design effect the user has
to guess). The report's first test is the two-way (prompt x rater) cluster-robust t of
``crossed.py``; its power depends on how raters and items vary, which a formula gets wrong when
there are few raters. So this planner simulates: each item is ranked by ``raters_per_item``
raters drawn from a pool of ``rater_pool``; P(policy above baseline) = sigma(delta + item effect
+ the rater's own preference), effects normal with ``item_sd`` and ``rater_sd`` on the logit scale
(the scale the validity suite uses; sd 1 / 0.5 match the agreement the demo rounds show), and
delta set so that the population win rate is ``p1``. Power at n items is the share of
``simulations`` datasets whose shown-first test rejects 50 % at ``alpha``; the plan is the
smallest n whose power reaches the target (a doubling then bisection search on common random
numbers, so the answer does not move with the search path), to within 5 % of n: the simulated
power itself is only known to about +-3 points at 200 simulations.

With the AI judge. PPI++ counts the judge's scores as ``judge_worth`` human ratings per human
rating (the report's "worth in human judgements" divided by the ratings: 1 = the judge adds
nothing). The rated items needed then scale by 1 / judge_worth, the judge scoring every item.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import Serializable
from .crossed import crossed_win_rates
from .power import sample_size_one_sample, sample_size_two_sample
from .tables import Coded, encode_ranking_flat

__all__ = ["CrossedPlan", "NOT_SHOWN_FIRST", "plan_crossed", "plan_shown_first", "crossed_power"]

#: Why a one-sample question against anything but 50 % has no raters x items plan.
NOT_SHOWN_FIRST = "the report tests one win rate against 50 % only"

# Below 8 items the two-way variance has nothing to rest on; above 2,000 the plan is for a
# different instrument (and its simulation would take minutes).
_MIN_ITEMS, _MAX_ITEMS = 8, 2000


@dataclass(frozen=True)
class CrossedPlan(Serializable):
    """Rated items for the shown-first test (``p1`` against 50 %, or against ``p2``), and its power."""

    p1: float
    p2: float | None  # the other win rate against the same baseline; None: p1 against 50 %
    alpha: float
    target_power: float
    raters_per_item: int
    rater_pool: int
    item_sd: float
    rater_sd: float
    judge_worth: float
    items: int  # rated items, each by raters_per_item raters
    ratings: int  # items x raters_per_item human ratings
    achieved_power: float  # simulated at ``items``
    items_with_judge: int  # with the AI judge scoring every item
    z_items: int  # what the z-test of independent ratings would say (one rating per item), for comparison
    simulations: int
    power_at_double: float  # simulated with twice the items: how much more items still buy
    note: str  # says so when the power levels off (too few raters in the pool), else ""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@functools.lru_cache(maxsize=256)
def _delta(p1: float, spread: float) -> float:
    """The logit shift whose population rate E sigma(delta + N(0, spread^2)) is ``p1``."""
    x, w = np.polynomial.hermite_e.hermegauss(81)
    w = w / w.sum()
    low, high = -20.0, 20.0
    for _ in range(80):
        mid = (low + high) / 2
        if float(np.sum(w * _sigmoid(mid + spread * x))) < p1:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def crossed_power(p1: float, items: int, *, p2: float | None = None, raters_per_item: int = 3, rater_pool: int = 20,
                  item_sd: float = 1.0, rater_sd: float = 0.5, alpha: float = 0.05, simulations: int = 300,
                  seed: int = 0) -> float:
    """Share of simulated rounds of ``items`` items whose shown-first test rejects: the win rate
    ``p1`` against 50 % or, with ``p2``, the difference of two win rates against the same baseline
    (x and y ranked with the baseline by the same raters, the report's "Comparing win rates")."""
    if raters_per_item > rater_pool:
        raise ValueError(f"{raters_per_item} raters per item need a pool of at least as many raters, got {rater_pool}")
    rng = np.random.default_rng(seed)
    item = np.repeat(np.arange(items), raters_per_item)
    names: tuple[str, ...]
    if p2 is None:
        names, spread = ("a", "b"), math.hypot(item_sd, rater_sd)
        strength = np.array([_delta(p1, spread), 0.0])
    else:  # per-response and per-rater-per-policy effects: a difference of two of each per comparison
        names, spread = ("x", "y", "base"), math.sqrt(2) * math.hypot(item_sd, rater_sd)
        strength = np.array([_delta(p1, spread), _delta(p2, spread), 0.0])
    k = len(names)
    policy = Coded(np.tile(np.arange(k), item.size), names)
    rejected = 0
    for _ in range(simulations):
        rater = np.argsort(rng.random((items, rater_pool)), axis=1)[:, :raters_per_item].ravel()
        if p2 is None:  # one effect per item and rater on the pair: P(a above b) = sigma(delta + effects)
            effect = rng.normal(0, item_sd, items)[item] + rng.normal(0, rater_sd, rater_pool)[rater]
            utility = np.column_stack([strength[0] + effect, np.zeros(item.size)])
            won = rng.random(item.size) < _sigmoid(utility[:, 0])
            rank = np.where(won[:, None], [[1, 2]], [[2, 1]]).ravel()
        else:  # Plackett-Luce over three: Gumbel noise keeps every pairwise chance a sigmoid
            utility = (strength + rng.normal(0, item_sd, (items, k))[item] + rng.normal(0, rater_sd, (rater_pool, k))[rater]
                       + rng.gumbel(size=(item.size, k)))
            rank = (np.argsort(np.argsort(-utility, axis=1), axis=1) + 1).ravel()
        table = encode_ranking_flat(item, item, rater, np.full(item.size, k), policy, rank)
        rates = crossed_win_rates(table)
        test = rates.rate("a", "b") if p2 is None else rates.difference(("x", "base"), ("y", "base"))
        rejected += test.p_value < alpha
    return rejected / simulations


@functools.lru_cache(maxsize=64)  # the planner page asks again with the same numbers; each answer takes seconds
def plan_crossed(p1: float, *, p2: float | None = None, alpha: float = 0.05, power: float = 0.8, raters_per_item: int = 3,
                 rater_pool: int = 20, item_sd: float = 1.0, rater_sd: float = 0.5, judge_worth: float = 1.0,
                 simulations: int = 200, seed: int = 0) -> CrossedPlan:
    """The smallest number of rated items whose simulated power reaches ``power`` (see the module):
    for ``p1`` against 50 %, or with ``p2`` for two win rates against the same baseline."""
    if not 0.0 < p1 < 1.0 or (p2 is None and p1 == 0.5):
        raise ValueError(f"p1 must lie strictly between 0 and 1 and differ from 0.5, got {p1!r}")
    if p2 is not None and (not 0.0 < p2 < 1.0 or abs(p1 - p2) < 0.001):
        raise ValueError(f"p2 must lie strictly between 0 and 1 and differ from p1, got {p2!r}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must lie strictly between 0 and 1")
    if raters_per_item < 1 or rater_pool < raters_per_item:
        raise ValueError(f"need 1 <= raters per item <= rater pool, got {raters_per_item} and {rater_pool}")
    if judge_worth < 1.0:
        raise ValueError(f"the judge is worth at least its human ratings (1 = nothing added), got {judge_worth!r}")
    z_items = (sample_size_one_sample(p1, alpha=alpha, power=power) if p2 is None
               else sample_size_two_sample(p1, p2, alpha=alpha, power=power))
    if math.ceil(z_items / raters_per_item) > _MAX_ITEMS:  # even independent ratings would need more
        raise ValueError(f"more than {_MAX_ITEMS} items would be needed: the effect is too small to plan for")

    def at(n: int) -> float:
        return crossed_power(p1, n, p2=p2, raters_per_item=raters_per_item, rater_pool=rater_pool, item_sd=item_sd,
                             rater_sd=rater_sd, alpha=alpha, simulations=simulations, seed=seed)

    low, high = _MIN_ITEMS - 1, max(_MIN_ITEMS, math.ceil(z_items / raters_per_item))
    before = 0.0
    while (reached := at(high)) < power:  # double until the power is reached
        if reached - before < 0.02 and low >= _MIN_ITEMS:
            raise ValueError(f"with {rater_pool} raters in the pool the power levels off near {reached:.0%}: more items "
                             f"will not reach {power:.0%}; add raters to the pool")
        before, low, high = reached, high, high * 2
        if high > _MAX_ITEMS:
            raise ValueError(f"more than {_MAX_ITEMS} items would be needed: the effect is too small to plan for")
    while high - low > max(1, high // 20):  # then the smallest n that reaches it, within 5 %
        mid = (low + high) // 2
        low, high = (low, mid) if at(mid) >= power else (mid, high)
    achieved, doubled = at(high), at(2 * high)
    note = ""
    if doubled - achieved < 0.05:  # a shared rater effect does not average out over items, only over raters
        note = (f"The power levels off: twice the items give {doubled:.0%}. With {rater_pool} raters in the pool, "
                "their own preferences limit what more items can show; more raters help more than more items.")
    return CrossedPlan(p1, p2, alpha, power, raters_per_item, rater_pool, item_sd, rater_sd, judge_worth, high,
                       high * raters_per_item, achieved, math.ceil(high / judge_worth), z_items, simulations,
                       doubled, note)


def plan_shown_first(p1: float, p0: float, *, two_sample: bool, alpha: float, power: float,
                     **design: Any) -> CrossedPlan | None:
    """The raters x items plan for the z-test planner's question (``power.plan_sample_size``):
    ``p1`` against 50 %, or against win rate ``p0`` with ``two_sample``; None when the report shows
    no such test (one rate against anything but 50 %: ``NOT_SHOWN_FIRST``). ``design``: the
    keyword arguments of ``plan_crossed`` that describe raters and items. Raises ``ValueError``
    when no plan can be made (see ``plan_crossed``)."""
    if not two_sample and abs(p0 - 0.5) > 1e-9:
        return None
    return plan_crossed(p1, p2=p0 if two_sample else None, alpha=alpha, power=power, **design)
