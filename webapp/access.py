"""Who may see which page: staff run the lab, raters (members of one group) rate.

Staff pages check a model permission as well as ``is_staff``: a staff account made only to
look after users, say, should not start pipeline runs or read raters' judgements. Superusers
hold every permission, so ``make run``'s ``admin`` sees everything; other staff get the
permissions (or a group holding them) in the admin's user page.

It sits below the apps and imports none of them, so that every app checks access the same way
without importing another app's views. The refusal pages are named, not imported: a template
name is looked up at render time.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from rest_framework.permissions import BasePermission

RATERS_GROUP = "raters"

# The permission each kind of staff page needs (Django's model permissions, "app.codename").
SEE_EXPERIMENTS = "experiments.view_experiment"
MAKE_RESPONSES = "experiments.add_policyresponse"
SEE_RUNS = "pipeline.view_pipelinerun"
START_RUNS = "pipeline.add_pipelinerun"
CONTROL_STAGES = "pipeline.change_pipelinestage"
SEE_ROUNDS = "rating.view_round"
SEE_JUDGEMENTS = "rating.view_judgement"


def is_rater(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.groups.filter(name=RATERS_GROUP).exists())


def is_staff_with(user, permission: str) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(permission))


def staff_permission_required(permission: str):
    """Anonymous users go to the login page; signed-in non-staff get 403 with a pointer to the
    rating pages; staff without ``permission`` get 403 naming what they lack."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.is_staff:
                return render(request, "experiments/home_rater.html", {}, status=403)
            if not is_staff_with(request.user, permission):
                return render(request, "access/missing_permission.html", {"permission": permission}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def staff_permission(permission: str) -> type[BasePermission]:
    """The API's version: a REST framework permission class for staff holding ``permission``."""

    class StaffWithPermission(BasePermission):
        message = f"Staff only, with the permission {permission}."

        def has_permission(self, request, view):
            return is_staff_with(request.user, permission)

    StaffWithPermission.__name__ = f"StaffWith_{permission.replace('.', '_')}"
    return StaffWithPermission


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
