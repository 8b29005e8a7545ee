"""The sample-size planner plans for the test the report shows first (raters x items, two-way
cluster-robust) by simulating the lab's design: the planned number of items reaches the asked
power when checked again on fresh simulations, fewer items do not; with too few raters in the pool
the planner says the power levels off; two win rates against one baseline are planned for their
paired test; the AI judge divides the items needed by its worth."""

import math

import pytest

from pipeline.stats.planner import crossed_power, plan_crossed


def test_the_planned_items_reach_the_power_on_fresh_simulations():
    plan = plan_crossed(0.65, raters_per_item=3, rater_pool=20)
    assert plan.items * plan.raters_per_item == plan.ratings and plan.note == ""
    again = crossed_power(0.65, plan.items, raters_per_item=3, rater_pool=20, simulations=1000, seed=7)
    assert again >= 0.8 - 0.04, again  # 1,000 simulations: +-1.3 points of Monte Carlo error, and the 5 % search step
    fewer = crossed_power(0.65, math.floor(plan.items * 0.6), raters_per_item=3, rater_pool=20, simulations=1000, seed=7)
    assert fewer < 0.8, fewer
    # independent ratings (the z-test) would promise the same power from fewer ratings than raters x items gives
    assert plan.z_items <= plan.ratings


def test_two_win_rates_against_one_baseline_are_planned_for_their_paired_test():
    plan = plan_crossed(0.7, p2=0.6, raters_per_item=3, rater_pool=20)
    again = crossed_power(0.7, plan.items, p2=0.6, raters_per_item=3, rater_pool=20, simulations=800, seed=11)
    assert again >= 0.8 - 0.045, again
    # equal rates: the simulated test keeps its level, so the power above is power, not false positives
    assert crossed_power(0.6, plan.items, p2=0.6, raters_per_item=3, rater_pool=20, simulations=800, seed=11) <= 0.075
    with pytest.raises(ValueError, match="differ from p1"):
        plan_crossed(0.6, p2=0.6)


def test_a_small_rater_pool_levels_the_power_off_and_the_plan_says_so():
    plan = plan_crossed(0.65, raters_per_item=3, rater_pool=6)
    assert "levels off" in plan.note and plan.power_at_double - plan.achieved_power < 0.05
    with pytest.raises(ValueError, match="levels off near"):
        plan_crossed(0.6, raters_per_item=3, rater_pool=4)


def test_the_ai_judge_divides_the_items_by_its_worth_and_bad_input_is_refused():
    plan = plan_crossed(0.7, raters_per_item=3, rater_pool=20, judge_worth=1.6)
    assert plan.items_with_judge == math.ceil(plan.items / 1.6)
    with pytest.raises(ValueError, match="too small to plan for"):
        plan_crossed(0.501)
    with pytest.raises(ValueError, match="differ from 0.5"):
        plan_crossed(0.5)
    with pytest.raises(ValueError, match="rater pool"):
        plan_crossed(0.7, raters_per_item=5, rater_pool=3)
    with pytest.raises(ValueError, match="worth at least"):
        plan_crossed(0.7, judge_worth=0.5)
