"""A seeded experiment whose raters rank RLAIF above SFT 70 % of the time: the report finds
that significant, and RLAIF vs RLHF (planted equal) not."""

from __future__ import annotations

import pytest

from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def test_the_planted_win_rate_is_significant_and_the_null_pair_is_not(make_filled):
    # Fixed data (the fixture draws by policy, not by the screen's random order). A 5 % test
    # rejects a true null on some fixed datasets: seed 7 is one (p_holm 0.040), seed 0 is not.
    filled = make_filled(seed=0)
    stats = selectors.human_report(filled.experiment)["stats"]

    assert stats["policies"] == ["rlaif", "rlhf", "sft"]
    assert selectors.human_report(filled.experiment)["baseline"] == "sft"
    rlaif_vs_sft = next(w for w in stats["vs_baseline"] if w["a"] == "rlaif")
    assert 0.6 < rlaif_vs_sft["rate"] < 0.8
    assert rlaif_vs_sft["p_holm"] < 0.01 and rlaif_vs_sft["p_prompt_holm"] < 0.01
    assert rlaif_vs_sft["wilson"]["low"] > 0.5 and rlaif_vs_sft["bootstrap"]["low"] > 0.5

    null = next(w for w in stats["win_rates"] if (w["a"], w["b"]) == ("rlaif", "rlhf"))
    assert null["p_holm"] > 0.05 and null["p_prompt_holm"] > 0.05
    assert null["wilson"]["low"] < 0.5 < null["wilson"]["high"]

    # RLAIF-vs-SFT against RLHF-vs-SFT: both planted at 70 %, so Student and Welch agree it is no difference.
    comparison = stats["baseline_comparisons"][0]
    assert comparison["first"] == ["rlaif", "sft"] and comparison["second"] == ["rlhf", "sft"]
    assert comparison["student"]["p_value"] > 0.05 and comparison["welch"]["p_value"] > 0.05

    harmless = {h["policy"]: h for h in stats["harmless"]}
    assert harmless["rlaif"]["rate"] > harmless["sft"]["rate"]
    strengths = {s["policy"]: s for s in stats["bradley_terry"]["strengths"]}
    assert strengths["rlaif"]["interval"]["low"] > strengths["sft"]["interval"]["high"]
