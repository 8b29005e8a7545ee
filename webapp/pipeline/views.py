"""Pipeline pages (staff only): an experiment with its runs, start its pipeline, watch a run, cancel
or retry a stage. The experiment page is here rather than in the experiments app because it
lists runs, and the experiments app sits below this one.

Each view: access check, form, one service or selector call, render. The run page polls its
own partial with htmx while the run is unfinished; an unchanged poll gets 204 No Content
(htmx leaves the page alone) and a finished run's partial carries no trigger, so polling stops.
Cancel and retry are plain POST forms that htmx also submits in place.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.arms import ALGORITHMS, ARMS
from webapp.access import CONTROL_STAGES, SEE_EXPERIMENTS, SEE_RUNS, START_RUNS, staff_permission_required
from webapp.experiments import selectors as experiment_selectors
from webapp.experiments.models import Experiment
from webapp.pipeline import selectors
from webapp.pipeline.forms import RunForm
from webapp.pipeline.models import PipelineRun, PipelineStage
from webapp.pipeline.services import orchestration

# What each arm and algorithm is, for the table on the run form and the run page (declared once in pipeline.arms).
ARMS_TABLE = {"arms_table": list(ARMS.values()), "algorithms_table": list(ALGORITHMS.values())}


@staff_permission_required(SEE_EXPERIMENTS)
def experiment_detail(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    summary = experiment_selectors.experiment_summary(experiment, sample_size=10)
    runs = selectors.experiment_runs(experiment, limit=5)
    return render(request, "experiments/experiment_detail.html", {"experiment": experiment, "summary": summary, "runs": runs})


@require_http_methods(["GET", "POST"])
@staff_permission_required(START_RUNS)
def run_new(request, slug: str):
    experiment = get_object_or_404(Experiment, slug=slug)
    form = RunForm(request.POST or None, sweeps=selectors.sweep_choices(experiment))
    if request.method == "POST" and form.is_valid():
        try:
            run = orchestration.pipeline_run_create(
                experiment=experiment, arms=form.cleaned_data["arms"], size=form.cleaned_data["size"], user=request.user,
                ai_judge=form.cleaned_data["ai_judge"], labeling_sweep=form.cleaned_data["labeling_sweep"],
                mixed_share=form.cleaned_data["mixed_share"], algorithm=form.cleaned_data["algorithm"],
                iterations=form.cleaned_data["iterations"], iteration_labels=form.cleaned_data["iteration_labels"],
                overrides=form.overrides(), reward_curve=form.cleaned_data["reward_curve"],
            )
        except orchestration.PipelineError as exc:
            form.add_error(exc.setting if exc.setting in form.fields else None, str(exc))
        else:
            messages.success(request, f"Started pipeline run #{run.pk}: {run.stages.count()} stages.")
            return redirect("pipeline:run_detail", slug=experiment.slug, run_id=run.pk)
    runs = selectors.experiment_runs(experiment)
    context = {"experiment": experiment, "form": form, "runs": runs, "shared_labeler": selectors.shared_labeler(experiment),
               **ARMS_TABLE}
    return render(request, "pipeline/run_new.html", context, status=400 if form.errors else 200)


@require_GET
@staff_permission_required(SEE_RUNS)
def run_detail(request, slug: str, run_id: int):
    run = get_object_or_404(PipelineRun.objects.select_related("experiment", "created_by"), pk=run_id, experiment__slug=slug)
    page = selectors.run_page(run)
    if request.htmx and request.GET.get("since") == page.fingerprint:
        return HttpResponse(status=204)
    context = {"experiment": run.experiment, "page": page, "run": run, "elapsed": selectors.run_elapsed(run), **ARMS_TABLE}
    template = "pipeline/_run_status.html" if request.htmx else "pipeline/run_detail.html"
    return render(request, template, context)


def _stage_action(request, slug: str, run_id: int, stage_id: int, action):
    stage = get_object_or_404(PipelineStage, pk=stage_id, pipeline_id=run_id, pipeline__experiment__slug=slug)
    done = action(stage=stage, user=request.user)
    if request.htmx:
        return run_detail_partial(request, stage.pipeline_id)
    verb = "Cancelled" if action is orchestration.pipeline_stage_cancel else "Sent again"
    if done:
        messages.success(request, f"{verb}: {stage.name}.")
    else:
        messages.error(request, f"{stage.name} is {stage.get_status_display().lower()} now: nothing to do.")
    return redirect("pipeline:run_detail", slug=slug, run_id=run_id)


def run_detail_partial(request, run_id: int):
    run = PipelineRun.objects.select_related("experiment").get(pk=run_id)
    context = {"experiment": run.experiment, "page": selectors.run_page(run), "run": run, "elapsed": selectors.run_elapsed(run)}
    return render(request, "pipeline/_run_status.html", context)


@require_POST
@staff_permission_required(CONTROL_STAGES)
def stage_cancel(request, slug: str, run_id: int, stage_id: int):
    return _stage_action(request, slug, run_id, stage_id, orchestration.pipeline_stage_cancel)


@require_POST
@staff_permission_required(CONTROL_STAGES)
def stage_retry(request, slug: str, run_id: int, stage_id: int):
    return _stage_action(request, slug, run_id, stage_id, orchestration.pipeline_stage_retry)
