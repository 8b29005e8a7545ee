"""Experiment setup in the Django admin: experiments, prompts, pairs and a file-import form."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from pipeline.data import FORMATS, HIGH_CONFIDENCE_STRENGTH, ImportFormatError, readers, size_text
from webapp.experiments import selectors, services
from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt


def _short(text: str, words: int = 14) -> str:
    return Truncator(text.replace("\n", " ")).words(words)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, JSONL.gz or CSV.")
    # hf is a folder (or Parquet) on the server's disk: the command reads it, an upload does not.
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS if f != "hf"])
    split = forms.ChoiceField(
        choices=[("", "as given in the file"), ("train", "train"), ("test", "test")],
        required=False,
        help_text="Split for rows that do not name one.",
    )
    high_confidence = forms.BooleanField(
        required=False, help_text="TL;DR comparisons: keep only confidence 1, 2, 8 or 9 (as in the paper)."
    )
    seed = forms.IntegerField(initial=0, help_text="Seed of the candidate-order shuffle.")

    def __init__(self, *args, refused_upload: str | None = None, **kwargs):
        """``refused_upload``: the name of a file the upload handler stopped storing (too large)."""
        super().__init__(*args, **kwargs)
        limit = size_text(settings.IMPORT_MAX_UPLOAD_BYTES)
        self.fields["file"].help_text = f"JSONL, JSONL.gz or CSV, up to {limit} (IMPORT_MAX_UPLOAD_BYTES)."
        self.refused_upload = refused_upload
        if refused_upload:
            self.fields["file"].required = False  # it is missing for the reason clean_file gives

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if self.refused_upload or upload.size > limit:
            raise forms.ValidationError(
                f"Nothing was imported. {self.refused_upload or upload.name} is larger than the upload limit "
                f"of {size_text(limit)} (IMPORT_MAX_UPLOAD_BYTES)."
            )
        return upload


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "task", "train_prompts", "test_prompts", "pair_count", "labelled_pairs")
    list_filter = ("task", "owner", "created_at")
    search_fields = ("slug", "name", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "overview")
    actions = ["run_experiment"]
    fieldsets = (
        (None, {"fields": ("slug", "name", "task", "description", "owner")}),
        ("Models", {"fields": ("policy_model", "labeler_model", "reward_model")}),
        ("Data", {"fields": ("overview", "created_at")}),
    )

    def get_queryset(self, request):
        return selectors.experiments_with_counts(super().get_queryset(request))

    @admin.display(description="train prompts", ordering="n_train")
    def train_prompts(self, obj):
        return obj.n_train

    @admin.display(description="test prompts", ordering="n_test")
    def test_prompts(self, obj):
        return obj.n_test

    @admin.display(description="pairs", ordering="n_pairs")
    def pair_count(self, obj):
        return obj.n_pairs

    @admin.display(description="with human label", ordering="n_labelled")
    def labelled_pairs(self, obj):
        return obj.n_labelled

    @admin.display(description="What is in it")
    def overview(self, obj):
        if obj.pk is None:
            return "Save the experiment, then import a file with the “Import preferences” button."
        summary = selectors.experiment_summary(obj)
        return render_to_string("admin/experiments/experiment_overview.html", {"summary": summary, "experiment": obj})

    @admin.action(description="Run experiment… (the whole pipeline, on the workers)")
    def run_experiment(self, request, queryset):
        # The arms and size are chosen on the run form, the same one the experiment page links to.
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one experiment to run.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("pipeline:run_new", args=[queryset.get().slug]))

    def save_model(self, request, obj, form, change):
        if not change and obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        custom = [
            path(
                "<int:experiment_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="experiments_experiment_import",
            ),
        ]
        return custom + super().get_urls()

    def import_view(self, request: HttpRequest, experiment_id: int):
        experiment = get_object_or_404(Experiment, pk=experiment_id)
        if not self.has_change_permission(request, experiment):
            return HttpResponseRedirect(reverse("admin:index"))
        files = request.FILES if request.method == "POST" else None  # reading them runs the upload handlers
        refused = getattr(request, "refused_uploads", {}).get("file")
        form = ImportForm(request.POST or None, files or None, refused_upload=refused)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            suffix = ".jsonl.gz" if upload.name.endswith(".gz") else Path(upload.name).suffix
            with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
                handle.flush()
                try:
                    result = services.preferences_import(
                        experiment=experiment,
                        path=handle.name,
                        fmt=form.cleaned_data["format"],
                        split=form.cleaned_data["split"] or None,
                        seed=form.cleaned_data["seed"] or 0,
                        min_confidence=HIGH_CONFIDENCE_STRENGTH if form.cleaned_data["high_confidence"] else None,
                        source=upload.name,
                    )
                except ImportFormatError as exc:
                    # The temporary name means nothing to the user: name their file instead.
                    where = f"{upload.name}, line {exc.line}" if exc.line else upload.name
                    form.add_error("file", f"Nothing was imported. {where}: {exc.problem}")
                else:
                    messages.success(request, services.import_summary(result))
                    return HttpResponseRedirect(reverse("admin:experiments_experiment_change", args=[experiment.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import preferences into {experiment.slug}",
            "experiment": experiment,
            "form": form,
            "opts": self.model._meta,
            "formats_help": readers.__doc__,
        }
        return TemplateResponse(request, "admin/experiments/import.html", context)


class PreferencePairInline(admin.TabularInline):
    model = PreferencePair
    extra = 0
    fields = ("candidate_1", "candidate_2", "human_choice", "human_confidence", "source_order_swapped", "source", "source_line")
    readonly_fields = ("source_order_swapped", "source", "source_line")
    show_change_link = True


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("id", "experiment", "split", "short_context", "n_pairs", "has_reference", "source")
    list_filter = ("experiment", "split", "source")
    search_fields = ("context", "reference", "source_id")
    readonly_fields = ("content_hash", "created_at")
    list_select_related = ("experiment",)
    inlines = [PreferencePairInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(pair_total=Count("pairs"))

    @admin.display(description="context")
    def short_context(self, obj):
        return _short(obj.context)

    @admin.display(description="pairs", ordering="pair_total")
    def n_pairs(self, obj):
        return obj.pair_total

    @admin.display(description="reference", boolean=True)
    def has_reference(self, obj):
        return bool(obj.reference)


@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt_link", "short_1", "short_2", "human_choice", "human_confidence", "source_order_swapped")
    list_filter = ("prompt__experiment", "prompt__split", "human_choice", "source_order_swapped", "source")
    search_fields = ("candidate_1", "candidate_2", "prompt__context")
    readonly_fields = ("content_hash", "created_at", "source_order_swapped")
    raw_id_fields = ("prompt",)
    list_select_related = ("prompt", "prompt__experiment")

    @admin.display(description="prompt")
    def prompt_link(self, obj):
        url = reverse("admin:experiments_prompt_change", args=[obj.prompt_id])
        return format_html('<a href="{}">{}#{}</a>', url, obj.prompt.experiment.slug, obj.prompt_id)

    @admin.display(description="candidate 1")
    def short_1(self, obj):
        return _short(obj.candidate_1, 10)

    @admin.display(description="candidate 2")
    def short_2(self, obj):
        return _short(obj.candidate_2, 10)


@admin.register(PolicyResponse)
class PolicyResponseAdmin(admin.ModelAdmin):
    list_display = ("id", "policy", "prompt", "short_text", "token_count", "created_at")
    list_filter = ("prompt__experiment", "policy")
    search_fields = ("text", "policy")
    raw_id_fields = ("prompt",)
    list_select_related = ("prompt", "prompt__experiment")

    @admin.display(description="text")
    def short_text(self, obj):
        return _short(obj.text, 16)


admin.site.site_header = "RLAIF lab"
admin.site.site_title = "RLAIF lab admin"
admin.site.index_title = "Experiment setup"
