"""Who may see which page: staff run the lab, raters (members of one group) rate.

It sits below the apps and imports none of them, so that every app checks access the same way
without importing another app's views. The refusal pages are named, not imported: a template
name is looked up at render time.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

RATERS_GROUP = "raters"


def is_rater(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.groups.filter(name=RATERS_GROUP).exists())


def staff_required(view):
    """Anonymous users go to the login page; signed-in non-staff get 403 with a pointer to the rating pages."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            return render(request, "experiments/home_rater.html", {}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def rater_required(view):
    """Anonymous users go to the login page; signed-in users outside the raters group get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_rater(request.user):
            return render(request, "rating/forbidden.html", {}, status=403)
        return view(request, *args, **kwargs)

    return wrapped
