"""Position swap: both orders are scored, mapped back to candidate 1 and averaged, so
labelling (c2, c1) gives 1 - p for the same pair."""

import pytest

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler, Sample, combine_orders


@pytest.mark.parametrize("p1,p2", [(0.9, 0.3), (0.5, 0.5), (0.123456789, 0.987654321), (1e-9, 0.75)])
def test_the_swap_average_is_exactly_symmetric(p1, p2):
    # labelling (c2, c1): its order 1 is our order 2 and vice versa, each seen from c2's side
    assert combine_orders(1 - p2, 1 - p1) == pytest.approx(1 - combine_orders(p1, p2), abs=1e-15)


@pytest.mark.slow
def test_labelling_the_swapped_pair_gives_one_minus_p(exact_labeler, six_pairs, naive_labels):
    swapped = [Sample(s.context, s.candidate_2, s.candidate_1, key=s.key) for s in six_pairs[:2]]
    for label, mirrored in zip(naive_labels, exact_labeler.label(swapped)):
        assert mirrored.p == pytest.approx(1 - label.p, abs=1e-5)
        assert mirrored.p_order1 == pytest.approx(1 - label.p_order2, abs=1e-5)
        assert mirrored.p_order2 == pytest.approx(1 - label.p_order1, abs=1e-5)
        assert label.p == pytest.approx((label.p_order1 + label.p_order2) / 2, abs=1e-12)


@pytest.mark.slow
def test_without_swap_p_is_the_single_order_probability(lm, six_pairs, naive_labels):
    no_swap = Labeler(lm, LabelingConfig(swap=False)).label(six_pairs[:2])
    for a, b in zip(naive_labels, no_swap):
        assert b.p_order2 is None and b.p == b.p_order1
        assert b.p_order1 == pytest.approx(a.p_order1, abs=1e-5)
