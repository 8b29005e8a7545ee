"""The AI judge's bias card, read from its scores and the raters' rankings of the same items.

``judge_report(experiment)`` gives, per judge model, ``pipeline.stats.judge_bias``'s card as
JSON-ready data, cached under the human report's fingerprint (which counts the judge's scores).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable

import numpy as np

from pipeline.stats.judge_bias import judge_bias
from webapp.experiments.models import Experiment
from webapp.rating.models import AiJudgement, Entry
from webapp.reports.length_selectors import entry_lengths
from webapp.reports.selectors import cached, human_fingerprint, human_inputs


def _human_shares(experiment: Experiment) -> dict[tuple[Hashable, str, str], tuple[float, int]]:
    """(share of rankings with a above b, rankings) per (item id, a, b), a < b by name."""
    table = human_inputs(experiment).rankings
    out: dict[tuple[Hashable, str, str], tuple[float, int]] = {}
    names = table.policies
    present = table.rank >= 0
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            both = present[:, i] & present[:, j]
            if not both.any():
                continue
            n = np.bincount(table.item[both], minlength=len(table.items))
            won = np.bincount(table.item[both & (table.rank[:, i] < table.rank[:, j])], minlength=len(table.items))
            for code in np.flatnonzero(n):
                out[(table.items[code], names[i], names[j])] = (float(won[code] / n[code]), int(n[code]))
    return out


def _judge_report(experiment: Experiment) -> dict:
    lengths_by_entry, _, _ = entry_lengths(experiment)
    length = {(item_id, policy): lengths_by_entry[entry_id][1]
              for entry_id, item_id, policy in Entry.objects.filter(item__round__experiment=experiment, item__is_gold=False)
              .values_list("id", "item_id", "policy") if entry_id in lengths_by_entry}
    shares = _human_shares(experiment)
    columns: dict[str, list[list]] = defaultdict(lambda: [[] for _ in range(9)])
    rows = AiJudgement.objects.filter(round__experiment=experiment).order_by("id").values_list(
        "judge_spec", "item_id", "policy_a", "policy_b", "p", "p_order1", "p_order2")
    for spec, item_id, a, b, p, p1, p2 in rows.iterator(chunk_size=2000):
        share, n = shares.get((item_id, a, b), (float("nan"), 0))
        values = (a, b, p, p1, float("nan") if p2 is None else p2, length.get((item_id, a), float("nan")),
                  length.get((item_id, b), float("nan")), share, n)
        for column, value in zip(columns[spec], values):
            column.append(value)
    return {"judges": [{"judge_spec": spec, **judge_bias(*(np.asarray(c) for c in cols)).to_dict()}
                       for spec, cols in sorted(columns.items())]}


def judge_report(experiment: Experiment) -> dict:
    return cached("judge", experiment, human_fingerprint(experiment), lambda: _judge_report(experiment))
