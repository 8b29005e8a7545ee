"""The rater's pages: open rounds, the rating screen (one page, its panel swapped by htmx), sign-up.

Each view: access check, form, one service call, render. The panel partial is the unit
htmx swaps: after a submit or a skip it comes back holding the next item, the progress and
a status message, and the address bar follows with HX-Push-Url.
"""

from __future__ import annotations

from django.contrib.auth import login
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.access import rater_required
from webapp.rating import selectors
from webapp.rating.forms import InviteSignupForm, JudgementForm, SkipForm
from webapp.rating.models import RaterInvite, Round
from webapp.rating.services import errors, invites, judgements, leasing


def _open_round(round_id: int) -> Round:
    return get_object_or_404(Round.objects.select_related("experiment"), pk=round_id, is_open=True)


def _panel(request, round, lease, *, message="", error="", entered=None, status=200):
    """The rating page, or only its panel for htmx; ``lease`` None means nothing is left."""
    context = {
        "round": round,
        "item": selectors.item_view(lease, entered, noun=round.experiment.candidate_noun) if lease else None,
        "progress": selectors.rater_progress(round=round, rater=request.user, holding=lease is not None),
        "message": message,
        "error": error,
    }
    template = "rating/_panel.html" if request.htmx else "rating/rate.html"
    response = render(request, template, context, status=status)
    if request.htmx and lease is not None:
        response["HX-Push-Url"] = reverse("rating:item", args=[round.pk, lease.item_id])
    return response


@require_GET
@rater_required
def rounds(request):
    open_rounds = selectors.open_rounds()
    if len(open_rounds) == 1:
        return redirect("rating:rate", open_rounds[0].pk)
    rows = [(r, selectors.rater_progress(round=r, rater=request.user)) for r in open_rounds]
    return render(request, "rating/rounds.html", {"rows": rows})


@require_GET
@rater_required
def rate(request, round_id: int):
    round = _open_round(round_id)
    lease = leasing.item_lease(rater=request.user, round=round)
    if lease is not None and not request.htmx:
        return redirect("rating:item", round.pk, lease.item_id)
    return _panel(request, round, lease)


@require_GET
@rater_required
def item(request, round_id: int, item_id: int):
    round = _open_round(round_id)
    lease = selectors.active_lease(round=round, rater=request.user)
    if lease is None or lease.item_id != item_id:
        return render(request, "rating/not_yours.html", {"round": round}, status=404)
    return _panel(request, round, lease)


@require_POST
@rater_required
def submit(request, round_id: int):
    round = _open_round(round_id)
    form = JudgementForm(request.POST)
    if not form.is_valid():
        return _panel(request, round, leasing.item_lease(rater=request.user, round=round), error="The form was incomplete; please try again.", status=400)
    try:
        judgements.judgement_submit(
            rater=request.user,
            token=form.cleaned_data["token"],
            ranks=form.ranks(),
            harmless=form.harmless(),
            active_ms=form.cleaned_data["active_ms"],
        )
    except errors.InvalidJudgement as refusal:
        lease = selectors.active_lease(round=round, rater=request.user)
        return _panel(request, round, lease, error=refusal.message, entered=form.entered(), status=refusal.status)
    except errors.RatingError as refusal:
        # The refused lease is gone for good (saved, skipped, taken): say so and move on.
        lease = leasing.item_lease(rater=request.user, round=round)
        return _panel(request, round, lease, error=refusal.message, message="Here is the next item." if lease else "", status=refusal.status)
    return _panel(request, round, leasing.item_lease(rater=request.user, round=round), message="Saved. Here is the next item.")


@require_POST
@rater_required
def skip(request, round_id: int):
    round = _open_round(round_id)
    form = SkipForm(request.POST)
    if not form.is_valid():
        return _panel(request, round, leasing.item_lease(rater=request.user, round=round), error="The form was incomplete; please try again.", status=400)
    try:
        leasing.lease_skip(rater=request.user, token=form.cleaned_data["token"], reason=form.cleaned_data["reason"])
    except errors.RatingError as refusal:
        return _panel(request, round, leasing.item_lease(rater=request.user, round=round), error=refusal.message, status=refusal.status)
    return _panel(request, round, leasing.item_lease(rater=request.user, round=round), message="Skipped. Here is another item.")


@require_http_methods(["GET", "POST"])
def invite_signup(request, token: str):
    invite = RaterInvite.objects.filter(token=token).first()
    form = InviteSignupForm(request.POST or None)
    if invite is None or invite.used_at is not None or invite.expires_at <= timezone.now():
        return render(request, "rating/invite_invalid.html", {}, status=404)
    if request.method == "POST" and form.is_valid():
        try:
            user = invites.rater_invite_accept(
                token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except errors.InviteInvalid:
            return render(request, "rating/invite_invalid.html", {}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("rating:rounds")
    return render(request, "rating/invite_signup.html", {"form": form, "invite": invite})
