"""The AI judge's bias card: how far its pairwise preferences can be trusted, and where they lean.

Input: one row per pair the judge scored, ``p`` = P(a beats b) (both orders averaged),
``p_order1`` (a shown first) and ``p_order2`` (b shown first, mapped back to P(a beats b)),
the two responses' lengths, and, where raters ranked the same item, the human share of
rankings with a above b (``human``, NaN elsewhere) with how many rankings it rests on.

* **Position bias**: the share of pairs whose preferred response changes when the order is
  swapped (``flip_rate``), and the mean probability given to whichever response is shown
  first (``first_shown``; 50 % is unbiased).
* **Length bias**: on pairs raters also ranked, the judge's mean probability that the longer
  response wins minus the raters' share of rankings where it did (``length_gap``; 0 is unbiased:
  the judge likes length no more than people do).
* **Calibration against people**: reliability bins of ``p`` (oriented so p ≥ 0.5) against the
  raters' share, the expected calibration error (``ece``, weighted by rankings) and the Brier
  score of ``p`` against each human ranking (``brier``), beside the Brier score of always
  saying 50 % (0.25) for scale.
* **Self-preference**: per policy, the judge's win rate against the others minus the raters'
  on the same items; a judge that shares a model with a policy tends to favour it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import Serializable

__all__ = ["JudgeBias", "PolicyLean", "ReliabilityBin", "judge_bias"]

NAN = float("nan")
BIN_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class ReliabilityBin(Serializable):
    low: float
    high: float
    pairs: int
    rankings: int
    mean_confidence: float
    human_agreement: float


@dataclass(frozen=True)
class PolicyLean(Serializable):
    policy: str
    pairs: int
    ai_win_rate: float
    human_win_rate: float
    gap: float


@dataclass(frozen=True)
class JudgeBias(Serializable):
    pairs: int
    pairs_with_humans: int
    flip_rate: float
    first_shown: float
    length_gap: float
    longer_ai: float
    longer_human: float
    ece: float
    brier: float
    reliability: tuple[ReliabilityBin, ...]
    leans: tuple[PolicyLean, ...]


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else NAN


def judge_bias(policy_a: np.ndarray, policy_b: np.ndarray, p: np.ndarray, p_order1: np.ndarray, p_order2: np.ndarray,
               length_a: np.ndarray, length_b: np.ndarray, human: np.ndarray, rankings: np.ndarray) -> JudgeBias:
    """The bias card of one judge over its scored pairs (arrays of equal length, see the module)."""
    p, p1, p2, la, lb, human, rankings = (np.asarray(x, dtype=float) for x in (p, p_order1, p_order2, length_a, length_b,
                                                                                  human, rankings))
    n = p.size
    both = ~np.isnan(p2)
    flip = float(np.mean((p1[both] > 0.5) != (p2[both] > 0.5))) if both.any() else NAN
    # P(first shown wins): order 1 shows a first (p1); order 2 shows b first (1 − p2).
    first = float(np.mean(np.concatenate([p1, 1.0 - p2[both]]))) if n else NAN

    rated = ~np.isnan(human) & (rankings > 0)
    differ = rated & ~np.isnan(la) & ~np.isnan(lb) & (la != lb)
    a_longer = la > lb
    longer_ai = _weighted_mean(np.where(a_longer, p, 1.0 - p)[differ], rankings[differ])
    longer_human = _weighted_mean(np.where(a_longer, human, 1.0 - human)[differ], rankings[differ])

    # Orient every pair so the judge's preferred side is "a": confidence ≥ 0.5.
    flipped = p < 0.5
    confidence = np.where(flipped, 1.0 - p, p)
    agree = np.where(flipped, 1.0 - human, human)
    bins = []
    ece_sum = 0.0
    for low, high in zip(BIN_EDGES[:-1], BIN_EDGES[1:]):
        inside = rated & (confidence >= low) & ((confidence < high) if high < 1.0 else (confidence <= high))
        weight = float(rankings[inside].sum())
        mean_conf = _weighted_mean(confidence[inside], rankings[inside])
        mean_agree = _weighted_mean(agree[inside], rankings[inside])
        if weight > 0:
            ece_sum += weight * abs(mean_conf - mean_agree)
        bins.append(ReliabilityBin(low, high, int(inside.sum()), int(weight), mean_conf, mean_agree))
    total = float(rankings[rated].sum())
    ece = ece_sum / total if total > 0 else NAN
    # Brier against each ranking: share h of the n rankings said "a": mean of (p − 1)² h + p² (1 − h).
    brier = _weighted_mean((((p - 1.0) ** 2) * human + (p ** 2) * (1.0 - human))[rated], rankings[rated])

    leans = []
    for policy in sorted(set(np.asarray(policy_a).tolist()) | set(np.asarray(policy_b).tolist())):
        is_a, is_b = np.asarray(policy_a) == policy, np.asarray(policy_b) == policy
        mine = rated & (is_a | is_b)
        ai = np.where(is_a, p, 1.0 - p)[mine]
        people = np.where(is_a, human, 1.0 - human)[mine]
        ai_rate, human_rate = _weighted_mean(ai, rankings[mine]), _weighted_mean(people, rankings[mine])
        leans.append(PolicyLean(policy, int(mine.sum()), ai_rate, human_rate, ai_rate - human_rate))
    return JudgeBias(n, int(rated.sum()), flip, first, longer_ai - longer_human, longer_ai, longer_human, ece, brier,
                     tuple(bins), tuple(leans))
