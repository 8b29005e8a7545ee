"""The home page: staff see the list of experiments, everyone else is sent to the rating pages.

One experiment's page lists its pipeline runs, so ``webapp.pipeline.views`` renders it.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from webapp.access import SEE_EXPERIMENTS, is_staff_with
from webapp.experiments import selectors


@login_required
def home(request):
    if not request.user.is_staff:
        return redirect("rating:rounds")
    if not is_staff_with(request.user, SEE_EXPERIMENTS):
        return render(request, "access/missing_permission.html", {"permission": SEE_EXPERIMENTS}, status=403)
    experiments = selectors.experiments_with_counts().select_related("owner")
    return render(request, "experiments/home.html", {"experiments": experiments})
