"""Pages for researchers and staff: the list of experiments and one experiment's data."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from webapp.pipeline import selectors as pipeline_selectors
from webapp.experiments import selectors
from webapp.experiments.models import Experiment


@login_required
def home(request):
    if not request.user.is_staff:
        return redirect("rating:rounds")
    experiments = selectors.experiments_with_counts().select_related("owner")
    return render(request, "experiments/home.html", {"experiments": experiments})


@login_required
def experiment_detail(request, slug: str):
    if not request.user.is_staff:
        return render(request, "experiments/home_rater.html", {}, status=403)
    experiment = get_object_or_404(Experiment, slug=slug)
    summary = selectors.experiment_summary(experiment, sample_size=10)
    runs = pipeline_selectors.experiment_runs(experiment, limit=5)
    return render(request, "experiments/experiment_detail.html", {"experiment": experiment, "summary": summary, "runs": runs})
