"""Contextual calibration of the labeler's answer, and the exemplar copy rate it corrects.

Why. A small labeler shown k solved exemplars can answer from the exemplars, not the sample:
with the bundled 135M model on real HH pairs, 1-shot cells answer "2" on nearly every pair in
both orders and 2-shot cells "1" (``copy_rate`` measures the share answered like the last
exemplar in both orders; for this model it is the *opposite* answer that sticks). The swap
average then cancels the fixed answer, and what is left is a label squeezed toward 0.5 whose
argmax is decided by the little signal that got through.

Correction (Zhao et al. 2021, "Calibrate before use"). Score the same prompt with a
*content-free* sample ("N/A", "[MASK]", "" as context and both candidates) and read its P("1"):
the answer the prompt alone pushes toward, since a content-free pair has nothing to prefer.
With q = the mean of those P("1"), every single-order answer is re-weighted by the prior::

    P_cal("1") = (P("1") / q) / (P("1") / q + P("2") / (1 - q))
    i.e.  logit P_cal("1") = logit P("1") - logit q

so a labeler that only copies (P("1") = q for every sample) lands at 0.5, and what moves a
sample away from its prompt's prior is kept. The prior is the same for both orders (the
content-free candidates are identical), so the swap average is unchanged in form.

What it can change. With the swap on, the chosen candidate cannot move: with a = logit P("1")
in order 1 and b in order 2, p > 0.5 exactly when sigma(a - c) > sigma(b - c), i.e. a > b,
whatever the shift c = logit q. So swap alignment is the same with and without calibration
(tested); what changes is the soft label p (how far from 0.5 it sits, which the soft-label
reward model and DPO train on), the single-order answers (position-1 rate, one-order alignment)
and the calibration against human labels. Measured on 60 held-out HH pairs with the bundled
labeler by ``bench/exemplar_copy.py``.

Not offered: showing the exemplars flipped in the sample's second order "so their answer
flips with the sample's". Under the swap that turns copying into a *consistent* vote for the
stored second candidate (order 1 copies "2" = candidate 2; order 2 copies "1" = candidate 2,
shown first), a confident wrong label, where today copying cancels out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Content-free inputs of Zhao et al. (2021): each fills the context and both candidates.
CONTENT_FREE = ("N/A", "[MASK]", "")

# Keeps logit(q) finite for a labeler that puts all its belief on one answer.
_EPS = 1e-6


def recalibrate(p1: float, prior: float) -> float:
    """P("1") of one single-order answer with the content-free prior P("1") = ``prior`` divided out."""
    q = min(max(prior, _EPS), 1.0 - _EPS)
    p = min(max(p1, _EPS), 1.0 - _EPS)
    shifted = math.log(p / (1.0 - p)) - math.log(q / (1.0 - q))
    return 1.0 / (1.0 + math.exp(-shifted))


def copy_rate(p_order1: Sequence[float], p_order2: Sequence[float | None], last_answer: int) -> float | None:
    """Share of swapped pairs whose shown answer equals the last exemplar's (1 or 2) in both orders.

    Order 1 shows candidate 1 first, so its answer is "1" when P(candidate 1) > 0.5; order 2
    shows candidate 1 second, so its answer is "1" when P(candidate 1) < 0.5. A pair "copies"
    when both answers are ``last_answer``: the sample's content cannot have decided both, since
    the two orders ask for opposite answers. None when no pair was scored in both orders.
    """
    if last_answer not in (1, 2):
        raise ValueError(f"an exemplar's answer is 1 or 2, got {last_answer!r}")
    swapped = copies = 0
    for a, b in zip(p_order1, p_order2):
        if b is None:
            continue
        swapped += 1
        shown_1 = 1 if a > 0.5 else 2 if a < 0.5 else None
        shown_2 = 1 if b < 0.5 else 2 if b > 0.5 else None
        copies += shown_1 == shown_2 == last_answer
    return copies / swapped if swapped else None
