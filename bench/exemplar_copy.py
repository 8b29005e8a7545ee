"""Does the labeler copy its few-shot exemplars' answers, and does contextual calibration help?

    .venv/bin/python bench/exemplar_copy.py [--pairs 60] [--skip 1000] [--model smollm2-135m-instruct]

Labels held-out real HH harmless pairs (``../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz``,
pairs skip .. skip + pairs, in file order; the first 1,000 are what the RM benches train on) with
the base preamble at 0, 1 and 2 shots, no CoT, swap on, each without and with contextual
calibration (``LabelingConfig.calibrate``). Prints a table and, as the last line, one JSON object
per cell: alignment with the human labels (Wilson 95 % CI) with both orders and with order 1
only, position-1 rate, copy rate (pairs answered like the last exemplar in both orders) and its
opposite, label mass, the content-free prior, mean confidence max(p, 1 - p) and the Brier score
of p against the human label.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import registry  # noqa: E402 - after the path is set
from pipeline.configs import LabelingConfig  # noqa: E402
from pipeline.data import read  # noqa: E402
from pipeline.labeling.calibration import copy_rate  # noqa: E402
from pipeline.labeling.data import labeled_samples  # noqa: E402
from pipeline.labeling.engine import Labeler  # noqa: E402
from pipeline.labeling.metrics import evaluate  # noqa: E402
from pipeline.labeling.prompts import exemplars  # noqa: E402

HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--skip", type=int, default=1000)
    parser.add_argument("--model", default=registry.DEFAULT_MODEL)
    args = parser.parse_args()

    data = labeled_samples(islice(read(HH, "hh"), args.skip, args.skip + args.pairs))
    samples, human = [s for s, _ in data], [h for _, h in data]
    lm = registry.load_causal_lm(args.model, Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts")))
    cells = []
    print(f"{len(samples)} held-out HH pairs, base preamble, no CoT, swap on", file=sys.stderr)
    print(f"  {'shots':>5} {'calib':>5} {'alignment':>16} {'1-order':>7} {'pos-1':>6} {'copies':>7} {'opposite':>8} "
          f"{'mass':>6} {'prior':>6} {'conf':>5} {'brier':>6}", file=sys.stderr)
    for shots in (0, 1, 2):
        last = exemplars("harmless", "default", shots)[-1].preferred if shots else None
        for calibrate in (False, True):
            labeler = Labeler(lm, LabelingConfig(task="harmless", shots=shots, calibrate=calibrate))
            labels = labeler.label(samples)
            m = evaluate(labels, human, last_exemplar_answer=last)
            p1, p2 = [x.p_order1 for x in labels], [x.p_order2 for x in labels]
            cell = {
                "shots": shots, "calibrate": calibrate, "last_exemplar_answer": last,
                "alignment": m.alignment.z_acc, "alignment_ci": [m.alignment.ci_low, m.alignment.ci_high],
                "alignment_single_order": m.alignment_single_order.z_acc,
                "opposite_rate": copy_rate(p1, p2, 3 - last) if last else None,
                "brier": sum((x.p - (h == 1)) ** 2 for x, h in zip(labels, human)) / len(labels),
                "mean_confidence": sum(abs(x.p - 0.5) for x in labels) / len(labels) + 0.5,
                "position1_rate": m.position_bias.position1_rate, "copy_rate": m.copy_rate,
                "label_mass": m.label_mass, "prior": labeler.content_free_prior() if calibrate else None,
            }
            cells.append(cell)
            copies = "-" if m.copy_rate is None else f"{100 * m.copy_rate:.1f}%"
            opposite = "-" if cell["opposite_rate"] is None else f"{100 * cell['opposite_rate']:.1f}%"
            prior = "-" if cell["prior"] is None else f"{cell['prior']:.3f}"
            print(f"  {shots:>5} {'yes' if calibrate else 'no':>5} {100 * m.alignment.z_acc:5.1f}% "
                  f"[{100 * m.alignment.ci_low:4.1f}, {100 * m.alignment.ci_high:4.1f}] "
                  f"{100 * m.alignment_single_order.z_acc:6.1f}% {100 * m.position_bias.position1_rate:5.1f}% {copies:>7} "
                  f"{opposite:>8} {100 * m.label_mass:5.1f}% {prior:>6} {cell['mean_confidence']:5.3f} {cell['brier']:6.3f}",
                  file=sys.stderr, flush=True)
    print(json.dumps({"pairs": len(samples), "skip": args.skip, "model": args.model, "cells": cells}))


if __name__ == "__main__":
    main()
