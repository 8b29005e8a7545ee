"""Contextual calibration (``LabelingConfig.calibrate``) divides the answer prior that the prompt
alone gives a content-free sample out of every single-order answer; the fast labeler does it
exactly as the plain reference does, on real HH pairs, and (with the swap) never changes which
candidate wins; and the copy rate counts the pairs answered like the last exemplar in both orders."""

import math

import pytest

from pipeline.configs import LabelingConfig
from pipeline.labeling.calibration import copy_rate, recalibrate
from pipeline.labeling.engine import Labeler
from pipeline.labeling.reference import score_naive


def test_a_prior_is_divided_out_in_log_odds():
    assert recalibrate(0.8, 0.8) == pytest.approx(0.5)  # the prompt's own lean: no preference left
    # odds 9 against the prior's odds 4: 9/4 -> 9/13
    assert recalibrate(0.9, 0.8) == pytest.approx(9 / 13)
    assert recalibrate(0.3, 0.5) == pytest.approx(0.3)  # an even prior changes nothing
    assert 0.0 < recalibrate(1.0, 1.0) < 1.0  # a prior of certainty stays finite


def test_the_copy_rate_counts_pairs_given_the_same_shown_answer_in_both_orders():
    # order 1 answers "1" when P(c1) > 0.5; order 2 (c1 shown second) answers "1" when P(c1) < 0.5
    p_order1 = [0.9, 0.9, 0.2, 0.2, 0.5]
    p_order2 = [0.1, 0.8, 0.9, 0.1, 0.1]
    # shown answers: (1, 1) (1, 2) (2, 2) (2, 1) (tie, 1)
    assert copy_rate(p_order1, p_order2, 1) == pytest.approx(1 / 5)
    assert copy_rate(p_order1, p_order2, 2) == pytest.approx(1 / 5)
    assert copy_rate([0.9], [None], 1) is None  # never swapped: nothing to tell copying apart
    with pytest.raises(ValueError, match="1 or 2"):
        copy_rate(p_order1, p_order2, 3)


@pytest.mark.slow
def test_the_fast_labeler_calibrates_exactly_as_the_plain_way(lm, six_pairs):
    config = LabelingConfig(shots=1, calibrate=True, batch_size=4)
    plain = score_naive(lm, six_pairs[:2], config)
    labeler = Labeler(lm, config)
    fast = labeler.label(six_pairs[:2])
    for a, b in zip(plain, fast):
        assert abs(a.p_order1 - b.p_order1) <= 1e-3
        assert abs(a.p_order2 - b.p_order2) <= 1e-3
        assert abs(a.label_mass - b.label_mass) <= 1e-3
    # and each calibrated answer is the uncalibrated one with the measured prior divided out
    prior = labeler.content_free_prior()
    assert 0.0 < prior < 1.0
    raw = Labeler(lm, config.replace(calibrate=False)).label(six_pairs[:2])
    for r, c in zip(raw, fast):
        assert c.p_order1 == pytest.approx(recalibrate(r.p_order1, prior), abs=1e-6)
        # order 2 shows candidate 1 second: its answer "1" is P(c2), i.e. 1 - p_order2
        assert c.p_order2 == pytest.approx(1 - recalibrate(1 - r.p_order2, prior), abs=1e-6)
        assert c.label_mass == pytest.approx(r.label_mass)
        # with the swap, a shift of both orders' log-odds cannot change which candidate wins
        assert c.choice == r.choice
    assert not math.isclose(prior, 0.5, abs_tol=1e-3), "the 1-shot prompt leans: calibration has work to do"
