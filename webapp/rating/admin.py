"""Staff set-up of evaluation rounds: rounds, their items and progress, rater QC, invites."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from webapp.access import MAKE_RESPONSES, SEE_JUDGEMENTS
from webapp.experiments.models import Experiment, PolicyResponse
from webapp.rating import selectors
from webapp.rating.models import Item, Judgement, Lease, RaterInvite, Round, RoundRater
from webapp.rating.services import errors, rounds


def _policy_choices():
    names = PolicyResponse.objects.order_by("policy").values_list("policy", flat=True).distinct()
    return [(name, name) for name in names]


REFERENCE_CHOICES = [
    ("", "As the task suggests: yes for summarization with references, no otherwise"),
    ("yes", "Yes: the references take part as the policy “reference”"),
    ("no", "No"),
]


class RoundForm(forms.ModelForm):
    policies = forms.MultipleChoiceField(
        choices=_policy_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Response sources that take part. None yet? Use “Make responses from imported pairs” on the rounds list.",
    )
    with_reference = forms.ChoiceField(
        choices=REFERENCE_CHOICES,
        required=False,
        label="Human reference",
        help_text=(
            "The test prompts' reference responses as one more policy, blinded like the others; a prompt "
            "without a reference is shown with the other responses only."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["with_reference"] = "yes" if self.instance.with_reference else "no"

    class Meta:
        model = Round
        fields = "__all__"
        help_texts = {"name": "Raters see this name: do not name the policies in it."}

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns, without the Optional of a subclass's clean
        experiment, policies = cleaned.get("experiment"), cleaned.get("policies") or []
        asked = {"yes": True, "no": False}.get(cleaned.get("with_reference") or "")
        cleaned["with_reference"] = bool(asked)
        if experiment is not None:
            try:
                cleaned["with_reference"], policies = rounds.round_reference_resolve(
                    experiment=experiment, policies=policies, with_reference=asked
                )
            except errors.RatingError as problem:
                self.add_error("with_reference", problem.message)
            else:
                cleaned["policies"] = policies
                policies = [p for p in policies if p != rounds.REFERENCE]  # made from the prompts when missing
            present = set(PolicyResponse.objects.filter(prompt__experiment=experiment, policy__in=policies).values_list("policy", flat=True).distinct())
            absent = [p for p in policies if p not in present]
            if absent:
                self.add_error("policies", f"{experiment.slug} has no responses from: {', '.join(absent)}.")
        if cleaned.get("mode") in ("rank", "both") and len(policies) + bool(cleaned.get("with_reference")) == 1:
            self.add_error("policies", "Ranking needs at least two policies.")
        return cleaned


class PrepareResponsesForm(forms.Form):
    experiment = forms.ModelChoiceField(queryset=Experiment.objects.all())
    naming = forms.ChoiceField(
        choices=[
            ("candidates", "candidate-1 / candidate-2, as stored"),
            ("human", "human-chosen / human-rejected (labelled pairs only)"),
        ]
    )


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    form = RoundForm
    list_display = ("name", "experiment", "mode", "is_open", "item_count", "progress_bar", "overlap", "created_at")
    list_filter = ("is_open", "mode", "experiment")
    search_fields = ("name", "experiment__slug")
    raw_id_fields = ("prompts",)
    readonly_fields = ("progress_panel", "created_at", "created_by", "precision_met_at")
    actions = ["create_items", "open_rounds", "close_rounds"]
    fieldsets = (
        (None, {"fields": ("name", "experiment", "policies", "with_reference", "mode", "instructions")}),
        ("Items", {"fields": ("prompts", "overlap", "gold_share", "lease_minutes")}),
        ("Quality control", {"fields": ("min_gold_accuracy",)}),
        ("Stop when precise enough", {"fields": ("target_half_width", "precision_met_at")}),
        ("State", {"fields": ("is_open", "progress_panel", "created_at", "created_by")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("experiment")

    @admin.display(description="items")
    def item_count(self, obj):
        return obj.items.count()

    @admin.display(description="judgements")
    def progress_bar(self, obj):
        progress = selectors.round_progress(obj)
        return f"{progress.judgements} / {progress.judgements_needed} ({progress.percent} %)"

    @admin.display(description="Progress and quality")
    def progress_panel(self, obj):
        if obj.pk is None:
            return "Save the round, then create its items (action “Create items” on the list)."
        return render_to_string(
            "admin/rating/round_progress.html",
            {"round": obj, "progress": selectors.round_progress(obj), "quality_url": reverse("admin:rating_round_quality", args=[obj.pk])},
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.is_open and (obj.pk is None or not obj.items.exists()):
            obj.is_open = False
            messages.warning(request, "A round opens only once it has items: create them, then open it.")
        super().save_model(request, obj, form, change)

    @admin.action(description="Create items (adds only what is missing)")
    def create_items(self, request, queryset):
        for round in queryset:
            try:
                made = rounds.round_items_create(round=round)
            except errors.RatingError as problem:
                self.message_user(request, f"{round.name}: {problem.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{round.name}: {made.regular} items and {made.gold} gold items created; "
                f"{made.skipped_prompts} prompts lack a response from some policy.",
            )

    @admin.action(description="Open for raters")
    def open_rounds(self, request, queryset):
        for round in queryset:
            try:
                rounds.round_open(round=round, is_open=True)
            except errors.RatingError as problem:
                self.message_user(request, f"{round.name}: {problem.message}", messages.ERROR)

    @admin.action(description="Close")
    def close_rounds(self, request, queryset):
        for round in queryset:
            rounds.round_open(round=round, is_open=False)

    def get_urls(self):
        custom = [
            path("<int:round_id>/quality/", self.admin_site.admin_view(self.quality_view), name="rating_round_quality"),
            path("prepare-responses/", self.admin_site.admin_view(self.prepare_view), name="rating_round_prepare"),
        ]
        return custom + super().get_urls()

    def quality_view(self, request: HttpRequest, round_id: int):
        round = get_object_or_404(Round.objects.select_related("experiment"), pk=round_id)
        # admin_view only checks is_staff; the page lists every rater's judgements.
        if not (self.has_view_permission(request, round) and request.user.has_perm(SEE_JUDGEMENTS)):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, round):
                return HttpResponseRedirect(reverse("admin:index"))
            rater = get_object_or_404(User, pk=request.POST.get("rater"))
            exclude = request.POST.get("action") == "exclude"
            rounds.round_rater_exclude(round=round, rater=rater, excluded=exclude, reason=request.POST.get("reason", ""))
            self.message_user(request, f"{rater.username}: judgements {'excluded from' if exclude else 'included in'} reports.")
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Quality control: {round.name}",
            "round": round,
            "progress": selectors.round_progress(round),
            "rows": selectors.round_quality(round),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rating/round_quality.html", context)

    def prepare_view(self, request: HttpRequest):
        if not request.user.has_perm(MAKE_RESPONSES):
            raise PermissionDenied
        form = PrepareResponsesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            created = rounds.policy_responses_from_pairs(experiment=form.cleaned_data["experiment"], naming=form.cleaned_data["naming"])
            summary = ", ".join(f"{n} {policy}" for policy, n in sorted(created.items())) or "nothing new"
            self.message_user(request, f"{form.cleaned_data['experiment'].slug}: created {summary}.")
            return HttpResponseRedirect(reverse("admin:rating_round_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Make responses to rate from imported pairs",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rating/prepare_responses.html", context)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("id", "round", "prompt_id", "is_gold", "judged", "claimed")
    list_filter = ("round", "is_gold")
    list_select_related = ("round", "round__experiment")
    readonly_fields = ("round", "prompt", "is_gold", "judged", "claimed", "created_at")

    def has_add_permission(self, request):
        return False


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ("id", "round", "item_id", "rater", "gold_passed", "server_ms", "active_ms", "submitted_at")
    list_filter = ("round", "gold_passed", "rater")
    list_select_related = ("round", "round__experiment", "rater")
    readonly_fields = [f.name for f in Judgement._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ("id", "round", "item_id", "rater", "state", "leased_at", "expires_at", "skip_reason")
    list_filter = ("state", "round")
    list_select_related = ("round", "round__experiment", "rater")
    readonly_fields = [f.name for f in Lease._meta.fields if f.name != "token"]
    exclude = ("token",)

    def has_add_permission(self, request):
        return False


@admin.register(RoundRater)
class RoundRaterAdmin(admin.ModelAdmin):
    list_display = ("rater", "round", "excluded", "excluded_reason", "joined_at")
    list_editable = ("excluded",)
    list_filter = ("excluded", "round")
    list_select_related = ("round", "round__experiment", "rater")


class RaterInviteForm(forms.ModelForm):
    class Meta:
        model = RaterInvite
        fields = ("note", "expires_at")


@admin.register(RaterInvite)
class RaterInviteAdmin(admin.ModelAdmin):
    form = RaterInviteForm
    list_display = ("note", "sign_up_link", "expires_at", "used_at", "used_by", "created_by")
    readonly_fields = ("sign_up_link", "used_at", "used_by", "created_by", "created_at")

    def get_changeform_initial_data(self, request):
        return {"expires_at": timezone.now() + timedelta(days=7)}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="sign-up link (works once)")
    def sign_up_link(self, obj):
        if obj.pk is None:
            return "Saved invites get a link here."
        if obj.used_at is not None:
            return "used"
        url = reverse("rating:invite", args=[obj.token])
        return format_html('<a class="invite-link" href="{}">{}</a>', url, url)
