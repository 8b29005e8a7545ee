"""The labeler metrics equal a count by hand on a small list."""

import math
from types import SimpleNamespace

import pytest

from pipeline.labeling.metrics import alignment, calibration, evaluate, position_bias
from pipeline.stats import wilson_interval

#                 p     p_order1  p_order2  mass   human
ROWS = [
    (0.80, 0.90, 0.70, 0.50, 1),  # AI 1, aligned; orders agree (1, 1)
    (0.30, 0.55, 0.05, 0.20, 2),  # AI 2, aligned; orders disagree (1, 2)
    (0.60, 0.70, 0.50, 0.30, 2),  # AI 1, not aligned; order 2 tie -> disagree
    (0.50, 0.60, 0.40, 0.40, 1),  # tie: not aligned; orders disagree (1, 2)
    (0.45, 0.52, 0.38, 0.60, 1),  # AI 2, not aligned; orders disagree (1, 2)
]
P = [r[0] for r in ROWS]
HUMAN = [r[4] for r in ROWS]


def test_alignment_counts_a_tie_as_not_aligned():
    result = alignment(P, HUMAN)
    assert (result.n, result.aligned, result.ties) == (5, 2, 1)
    assert result.z_acc == pytest.approx(0.4)


def test_the_wilson_interval_matches_the_formula():
    low, high = wilson_interval(2, 5)
    z = 1.959963984540054
    centre = (0.4 + z * z / 10) / (1 + z * z / 5)
    half = z / (1 + z * z / 5) * math.sqrt(0.4 * 0.6 / 5 + z * z / 100)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_position_bias_counts_single_order_choices_of_the_first_slot():
    result = position_bias([r[1] for r in ROWS], [r[2] for r in ROWS])
    # order 1 picks slot 1 when p_order1 > 0.5: all 5. Order 2 shows candidate 1 second, so it
    # picks slot 1 when p_order2 < 0.5: rows 2, 4, 5 -> 3 (row 3's tie picks neither).
    assert (result.judgements, result.position1) == (10, 8)
    assert result.position1_rate == pytest.approx(0.8)
    assert (result.swapped_pairs, result.disagreeing_pairs) == (5, 4)
    assert result.order_disagreement == pytest.approx(0.8)


def test_without_swap_position_bias_uses_order_one_only():
    result = position_bias([0.9, 0.2], [None, None])
    assert (result.judgements, result.position1, result.order_disagreement) == (2, 1, None)


def test_the_calibration_table_bins_confidence_and_agreement():
    table = calibration(P, HUMAN, bins=5)
    # confidences: 0.8, 0.7, 0.6, 0.5, 0.55 -> bins [0.5,0.6): 0.5, 0.55; [0.6,0.7): 0.6;
    # [0.7,0.8): 0.7; [0.8,0.9): 0.8; [0.9,1.0]: none
    assert [b.count for b in table] == [2, 1, 1, 1, 0]
    assert [b.agreement for b in table[:4]] == [0.0, 0.0, 1.0, 1.0]
    assert table[0].mean_confidence == pytest.approx(0.525)
    assert math.isnan(table[4].agreement)
    assert table[0].to_dict()["low"] == 0.5 and table[4].to_dict()["agreement"] is None


def test_evaluate_gathers_everything_with_label_mass_and_the_single_order_alignment():
    labels = [SimpleNamespace(p=r[0], p_order1=r[1], p_order2=r[2], label_mass=r[3]) for r in ROWS]
    result = evaluate(labels, HUMAN)
    assert result.alignment.aligned == 2
    # order 1 alone always says 1 (every p_order1 > 0.5); humans chose 1 in rows 1, 4 and 5
    assert result.alignment_single_order.aligned == 3
    assert result.label_mass == pytest.approx(0.4)
    as_dict = result.to_dict()
    assert as_dict["alignment"]["z_acc"] == pytest.approx(0.4)
    assert as_dict["position_bias"]["order_disagreement"] == pytest.approx(0.8)
    assert len(as_dict["calibration"]) == 5
