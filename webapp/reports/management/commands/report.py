"""python manage.py report SLUG [--json] [--baseline POLICY]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from webapp.experiments.models import Experiment
from webapp.reports.run_selectors import experiment_report
from webapp.reports.selectors import BaselineError


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _p(value) -> str:
    return "—" if value is None else "< 0.001" if value < 0.001 else f"{value:.3f}"


def _crossed(c: dict | None, what: str) -> str:
    """The statistic valid for crossed raters × items, or why it cannot be computed."""
    if not c or not c["method"]:
        return f"95 % CI: cannot be computed ({(c or {}).get('reason') or 'no data'})"
    text = f"95 % CI [{_pct(c['interval']['low'])}, {_pct(c['interval']['high'])}]"
    if c["p_holm"] is not None:
        text += f" p(Holm) {_p(c['p_holm'])}"
    return text + (f" ({c['reason']})" if c["reason"] else "")


class Command(BaseCommand):
    help = "Print an experiment's report: win rates and tests, harmless rates, raters, AI labeler, cost."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--baseline", help="policy the others are compared with (default: sft, else the first by name)")
        parser.add_argument("--json", action="store_true", help="print every table as one JSON object, the last line")

    def handle(self, *args, slug, baseline, json: bool, **options):
        experiment = Experiment.objects.filter(slug=slug).first()
        if experiment is None:
            raise CommandError(f"no experiment {slug!r}")
        try:
            everything = experiment_report(experiment, baseline)
        except BaselineError as error:
            raise CommandError(str(error)) from None
        if json:
            self.stdout.write(_dumps(everything))
        else:
            self.stdout.write(self._summary(everything))

    def _summary(self, everything: dict) -> str:
        report, stats = everything["report"], everything["report"]["stats"]
        counts = report["judgements"]
        lines = [
            f"Report of {everything['experiment']} (baseline {report['baseline']})",
            f"judgements: {counts['included']} counted, {counts['gold']} gold and {counts['excluded']} of excluded raters left out; "
            f"{stats['n_rankings']} rankings, {stats['n_harm_labels']} harmless labels, {stats['n_raters']} raters",
            "",
            f"Win rates vs {report['baseline']}:",
        ]
        for w in stats["vs_baseline"]:
            lines.append(f"  {w['a']:>16}: {_pct(w['rate'])} of {w['n']}  {_crossed(w.get('crossed'), 'rate')}"
                         f"  | as in the paper: Wilson [{_pct(w['wilson']['low'])}, {_pct(w['wilson']['high'])}],"
                         f" p(Holm) {_p(w['p_holm'])}; by prompt {_p(w['p_prompt_holm'])}")
        for c in stats["baseline_comparisons"]:
            lines.append(f"  {' vs '.join(c['first'])} against {' vs '.join(c['second'])}: difference {_pct(c['difference'])},"
                         f" {_crossed(c.get('crossed'), 'difference')}"
                         f"  | as in the paper: Student p {_p(c['student']['p_value'])}, Welch p {_p(c['welch']['p_value'])}")
        if stats["harmless"]:
            lines.append("Harmless rates:")
            lines += [f"  {h['policy']:>16}: {_pct(h['rate'])} of {h['n']}  {_crossed(h.get('crossed'), 'rate')}"
                      f"  | as in the paper: Wilson [{_pct(h['wilson']['low'])}, {_pct(h['wilson']['high'])}]"
                      for h in stats["harmless"]]
            for t in stats["harmless_tests"]:
                lines.append(f"  {t['a']} vs {t['b']}: difference {_pct(t['difference'])}, {_crossed(t.get('crossed'), 'difference')}"
                             f"  | as in the paper: z-test p(Holm) {_p(t['p_holm'])}")
        lines.append("(95 % CI and p (Holm) first: valid for crossed raters × items; \"as in the paper\" counts judgements as independent)")
        agreement = everything["raters"]["agreement"]
        lines.append(f"Krippendorff's alpha: rankings {_num(agreement['ranking']['alpha'])}, harmless {_num(agreement['harm']['alpha'])}")
        for row in everything["alignment"]["by_model"]:
            lines.append(f"AI labeler {row['model_spec']} ({row['precision']}, comparison #{row['comparison_id']}): "
                         f"alignment {_pct(row['alignment'])} (run #{row['run_id']}, {row['config']})")
        cost = everything["cost"]
        if cost["runs"]:
            lines.append(f"AI labels: {cost['labels']} for {cost['ai_cost_total']:.4f}; as human labels {cost['human_cost_total']:.2f}")
        if everything["raters"]["excluded_raters"]:
            lines.append("Excluded raters: " + ", ".join(f"{e['rater']} ({e['round']})" for e in everything["raters"]["excluded_raters"]))
        return "\n".join(lines)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
