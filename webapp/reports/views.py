"""The report pages (staff only): results, AI-labeler alignment, raters, cost, the paper's tables, sample size;
each table's CSV; and plotly's JavaScript from the installed plotly package.

Each view: access check, form, one selector call (through ``pages``), render. The results
page polls its own partial with htmx; a poll whose data has not changed gets 204 No Content,
which htmx leaves alone, so an idle page costs a few aggregate queries every ten seconds.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from pipeline.stats import plan_sample_size
from pipeline.stats.planner import plan_shown_first
from webapp.access import SEE_JUDGEMENTS, staff_permission_required
from webapp.csv_cells import csv_writer
from webapp.experiments.models import Experiment
from webapp.reports import pages
from webapp.reports.forms import BaselineForm, PlanForm
from webapp.reports.selectors import BaselineError

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _baseline(request) -> str | None:
    form = BaselineForm(request.GET)
    return (form.cleaned_data["baseline"] or None) if form.is_valid() else None


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def results(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    baseline = _baseline(request)
    try:
        context = pages.results_context(experiment, baseline)
    except BaselineError as error:
        return render(request, "reports/results.html", {"experiment": experiment, "page": "results", "error": str(error)}, status=400)
    if request.htmx and request.GET.get("since") == context["fingerprint"]:
        return HttpResponse(status=204)
    context.update(page="results", plan_form=PlanForm(initial={}))
    template = "reports/_results.html" if request.htmx else "reports/results.html"
    return render(request, template, context)


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def alignment(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return render(request, "reports/alignment.html", {**pages.alignment_context(experiment), "page": "alignment"})


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def raters(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return render(request, "reports/raters.html", {**pages.raters_context(experiment), "page": "raters"})


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def cost(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return render(request, "reports/cost.html", {**pages.cost_context(experiment), "page": "cost"})


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def paper(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    return render(request, "reports/paper.html", {**pages.paper_context(experiment), "page": "paper"})


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def plan(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    form = PlanForm(request.GET if "p1" in request.GET else None)
    result = crossed = None
    if form.is_valid():
        arguments = form.plan_arguments()
        result = plan_sample_size(**arguments)
        question = {key: arguments[key] for key in ("p1", "p0", "two_sample", "alpha", "power")}
        try:
            crossed = plan_shown_first(**question, **form.crossed_design())
        except ValueError as error:
            form.add_error(None, str(error))
            result = None
    context = {"experiment": experiment, "page": "plan", "plan_form": form, "plan": result, "crossed": crossed}
    template = "reports/_plan_result.html" if request.htmx else "reports/plan.html"
    return render(request, template, context, status=400 if form.is_bound and not form.is_valid() else 200)


@require_GET
@staff_permission_required(SEE_JUDGEMENTS)
def table_csv(request, slug: str, name: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    try:
        table = pages.page_table(name, experiment, _baseline(request))
    except BaselineError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    if table is None:
        raise Http404(f"no table named {name!r}")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{experiment.slug}-{table.name}.csv"'
    writer = csv_writer(response)
    writer.writerow(table.csv_header)
    writer.writerows(table.csv_rows())
    return response


@require_GET
def plotly_js(request):
    """plotly.js as the plotly package ships it: our own copy, never a CDN. The address
    carries plotly's version, so browsers may keep it for a year."""
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
