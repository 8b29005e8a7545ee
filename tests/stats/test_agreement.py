"""Krippendorff's alpha matches the `krippendorff` package; percent and majority agreement match loops."""

from __future__ import annotations

import itertools
from collections import Counter

import krippendorff
import numpy as np
import pytest

from pipeline.stats import harm_agreement, krippendorff_alpha, percent_agreement, ranking_agreement


def random_reliability_data(seed: int, n_values: int, missing: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raters, units = int(rng.integers(2, 7)), int(rng.integers(5, 40))
    truth = rng.integers(1, n_values + 1, units)
    data = np.where(rng.random((raters, units)) < 0.6, truth, rng.integers(1, n_values + 1, (raters, units))).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    return data


@pytest.mark.parametrize("level", ["ordinal", "nominal"])
@pytest.mark.parametrize("seed", range(8))
def test_alpha_matches_the_krippendorff_package_on_random_data_with_missing_values(seed, level):
    data = random_reliability_data(seed, n_values=4 if level == "ordinal" else 2)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-10)


def test_ordinal_alpha_respects_unevenly_spaced_values():
    data = random_reliability_data(42, n_values=6) * 10 - 3  # values -> 7, 17, ..., 57
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(expected, abs=1e-10)


def reliability_from_rankings(rankings):
    raters = sorted({r.rater_id for r in rankings})
    units = sorted({(r.item_id, p) for r in rankings for p in r.order})
    col = {u: j for j, u in enumerate(units)}
    data = np.full((len(raters), len(units)), np.nan)
    for r in rankings:
        for pos, p in enumerate(r.order):
            data[raters.index(r.rater_id), col[(r.item_id, p)]] = pos
    return data


def test_ranking_alpha_is_ordinal_alpha_over_item_policy_units(rankings_maker):
    rankings = rankings_maker(3, n_prompts=25, raters=4)
    stats = ranking_agreement(rankings)
    data = reliability_from_rankings(rankings)
    assert stats.level == "ordinal"
    assert stats.alpha == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def test_harm_alpha_is_nominal_alpha_over_item_policy_units(harm_maker):
    labels = harm_maker(5, n_items=30, raters=4)
    raters = sorted({lab.rater_id for lab in labels})
    units = sorted({(lab.item_id, lab.policy) for lab in labels})
    data = np.full((len(raters), len(units)), np.nan)
    for lab in labels:
        data[raters.index(lab.rater_id), units.index((lab.item_id, lab.policy))] = lab.harmless
    stats = harm_agreement(labels)
    assert stats.alpha == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_percent_agreement_counts_agreeing_pairs_of_raters(harm_maker):
    labels = harm_maker(6, n_items=30, raters=4)
    by_unit = {}
    for lab in labels:
        by_unit.setdefault((lab.item_id, lab.policy), []).append(lab.harmless)
    pairs = [(x == y) for values in by_unit.values() for x, y in itertools.combinations(values, 2)]
    assert harm_agreement(labels).percent_agreement == pytest.approx(sum(pairs) / len(pairs))


def test_each_rater_is_compared_with_the_majority_of_the_other_raters(rankings_maker):
    rankings = rankings_maker(7, n_prompts=30, raters=5)
    by_unit = {}
    for r in rankings:
        for pos, p in enumerate(r.order):
            by_unit.setdefault((r.item_id, p), []).append((r.rater_id, pos))
    tally = Counter()
    seen = Counter()
    for ratings in by_unit.values():
        for rater, value in ratings:
            others = Counter(v for who, v in ratings if who != rater)
            if not others:
                continue
            top = others.most_common()
            if len(top) > 1 and top[0][1] == top[1][1]:
                continue  # tied majority: skipped
            seen[rater] += 1
            tally[rater] += value == top[0][0]
    stats = ranking_agreement(rankings)
    for row in stats.raters:
        assert row.n == seen[row.rater]
        assert row.agreement == pytest.approx(tally[row.rater] / seen[row.rater])
    assert stats.majority_agreement == pytest.approx(sum(tally.values()) / sum(seen.values()))


def test_units_rated_once_do_not_count_and_no_variation_gives_no_alpha():
    assert np.isnan(percent_agreement([0, 1, 2], [0, 1, 0]))
    assert np.isnan(krippendorff_alpha([[1.0, 1.0, np.nan], [1.0, 1.0, 1.0]], "nominal"))
