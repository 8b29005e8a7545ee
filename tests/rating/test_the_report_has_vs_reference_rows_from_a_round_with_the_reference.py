"""The report needs nothing of its own for the reference: judged like any policy, it gets win-rate
rows against every policy, and "vs reference" rows when chosen as the baseline. (The report code
belongs to webapp/reports; this checks it from a real round with the reference included.)"""

import pytest

from tests.rating.reference_world import experiment_with_references
from webapp.rating.models import Entry
from webapp.rating.services import judgements, leasing, rounds
from webapp.reports import selectors

pytestmark = pytest.mark.django_db

BEST_FIRST = ["reference", "rlaif", "sft"]  # every rater's order, whatever the shown order


def judge_everything(round, raters):
    policy_of = dict(Entry.objects.filter(item__round=round).values_list("id", "policy"))
    for rater in raters:
        while (lease := leasing.item_lease(rater=rater, round=round)) is not None:
            shown = [policy_of[entry_id] for entry_id in lease.shown_order]
            order = sorted(shown, key=BEST_FIRST.index)
            ranks = {chr(65 + i): order.index(policy) + 1 for i, policy in enumerate(shown)}
            judgements.judgement_submit(rater=rater, token=lease.token, ranks=ranks)


def rows(report, table):
    return {(row["a"], row["b"]): row for row in report["stats"][table]}


def test_the_report_ranks_the_reference_like_a_policy_and_gives_vs_reference_rows(make_rater):
    experiment = experiment_with_references(n_prompts=8, blank=(5,))  # one prompt without a reference
    round, made = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], overlap=2, gold_share=0.0)
    assert made.regular == 8 and round.policies == ["sft", "rlaif", "reference"]
    judge_everything(round, [make_rater("ann"), make_rater("bob")])

    report = selectors.human_report(experiment)
    assert report["baseline"] == "sft" and set(report["stats"]["policies"]) == {"sft", "rlaif", "reference"}
    vs_sft = rows(report, "vs_baseline")
    assert vs_sft[("reference", "sft")]["wins"] == vs_sft[("reference", "sft")]["n"] == 14  # 7 prompts x 2 raters
    assert vs_sft[("rlaif", "sft")]["n"] == 16  # the prompt without a reference still compares the policies
    win_rates = rows(report, "win_rates")
    assert win_rates[("rlaif", "reference")]["rate"] == 0.0 and win_rates[("reference", "rlaif")]["rate"] == 1.0

    vs_reference = rows(selectors.human_report(experiment, baseline="reference"), "vs_baseline")
    assert set(vs_reference) == {("rlaif", "reference"), ("sft", "reference")}
    assert vs_reference[("rlaif", "reference")]["n"] == 14 and vs_reference[("rlaif", "reference")]["wins"] == 0


def test_the_report_page_shows_the_vs_reference_table_to_staff(client, staff, make_rater):
    experiment = experiment_with_references(n_prompts=4)
    round, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], overlap=1, gold_share=0.0)
    judge_everything(round, [make_rater("ann")])
    client.force_login(staff)
    page = client.get(f"/experiments/{experiment.slug}/report/?baseline=reference")
    assert page.status_code == 200 and "vs reference" in page.content.decode()
