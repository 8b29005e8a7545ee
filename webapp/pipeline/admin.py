"""Pipeline runs in the admin: status, progress, metrics and the AI-vs-human cost beside each other."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from webapp.pipeline.models import AILabel, LabelingRun, LabelingSweep, PipelineRun, PipelineStage, SamplingRun, TrainingRun
from webapp.pipeline.services import labeling


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f} %"


@admin.register(LabelingRun)
class LabelingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "experiment", "split", "model_spec", "technique", "status", "progress", "alignment", "cost", "created_at")
    list_filter = ("status", "experiment", "split", "model_spec")
    search_fields = ("model_spec", "experiment__slug")
    readonly_fields = (
        "experiment", "split", "limit", "sweep", "model_spec", "config", "status", "progress_done", "progress_total",
        "metrics", "error", "claimed_by", "attempts", "created_at", "started_at", "heartbeat_at", "finished_at",
        "wall_seconds", "prompt_tokens", "generated_tokens", "cost_comparison", "labels_link",
    )
    list_select_related = ("experiment",)

    def has_add_permission(self, request):
        return False

    @admin.display(description="technique")
    def technique(self, obj):
        c = obj.config
        return f"{c.get('preamble')} · {c.get('shots')}-shot{' · CoT' if c.get('cot') else ''}{'' if c.get('swap', True) else ' · no swap'}"

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.progress_done}/{obj.progress_total}"

    @admin.display(description="alignment")
    def alignment(self, obj):
        return _pct(obj.metrics.get("alignment"))

    @admin.display(description="cost per 1,000 labels (AI vs human)")
    def cost(self, obj):
        return f"${obj.ai_cost_per_1k_labels:.2f} vs ${obj.human_cost_per_1k_labels:.2f}"

    @admin.display(description="cost comparison")
    def cost_comparison(self, obj):
        ratio = obj.human_cost_per_1k_labels / obj.ai_cost_per_1k_labels if obj.ai_cost_per_1k_labels else None
        return format_html(
            "{:.0f} tokens per label · AI ${:.4f} per 1,000 tokens → <strong>${:.2f}</strong> per 1,000 labels; "
            "human ${:.2f} per label → <strong>${:.2f}</strong> per 1,000 labels{}",
            obj.tokens_per_label, obj.price_per_1k_tokens, obj.ai_cost_per_1k_labels,
            obj.price_per_human_label, obj.human_cost_per_1k_labels,
            f" (AI is {ratio:.0f}× cheaper)" if ratio else "",
        )

    @admin.display(description="labels")
    def labels_link(self, obj):
        url = reverse("admin:pipeline_ailabel_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">{} labels</a>', url, obj.labels.count())


@admin.register(AILabel)
class AILabelAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "pair", "p", "p_order1", "p_order2", "label_mass", "human_choice")
    list_filter = ("run",)
    raw_id_fields = ("run", "pair")
    list_select_related = ("pair",)

    def has_add_permission(self, request):
        return False

    @admin.display(description="human choice")
    def human_choice(self, obj):
        return obj.pair.human_choice


@admin.register(LabelingSweep)
class LabelingSweepAdmin(admin.ModelAdmin):
    list_display = ("id", "experiment", "split", "limit", "model_spec", "created_at")
    readonly_fields = ("experiment", "split", "limit", "model_spec", "created_at", "comparison")

    def has_add_permission(self, request):
        return False

    @admin.display(description="prompt-technique comparison")
    def comparison(self, obj):
        rows = labeling.labeling_sweep_table(sweep=obj)
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (r["preamble"], r["shots"], "yes" if r["cot"] else "no", r["status"], _pct(r["alignment"]),
                 _pct(r["position1_rate"]), _pct(r["order_disagreement"]))
                for r in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>preamble</th><th>shots</th><th>CoT</th><th>status</th><th>alignment</th>"
            "<th>position-1 rate</th><th>order disagreement</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


class ReadOnlyRunAdmin(admin.ModelAdmin):
    """Runs are made by the pipeline and the commands, never typed in."""

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.progress_done}/{obj.progress_total}"


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyRunAdmin):
    list_display = ("id", "experiment", "kind", "arm", "algorithm", "label_source", "status", "progress", "created_at")
    list_filter = ("status", "kind", "arm", "experiment")
    list_select_related = ("experiment",)


@admin.register(SamplingRun)
class SamplingRunAdmin(ReadOnlyRunAdmin):
    list_display = ("id", "experiment", "policy", "status", "progress", "created_at")
    list_filter = ("status", "experiment")
    list_select_related = ("experiment",)


class PipelineStageInline(admin.TabularInline):
    model = PipelineStage
    fk_name = "pipeline"
    extra = 0
    can_delete = False
    fields = ("name", "kind", "queue", "status", "progress", "attempts", "claimed_by", "wall_seconds", "reused_from", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.progress_done}/{obj.progress_total}"


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ("id", "experiment", "arms_shown", "algorithm", "size", "status", "created_by", "created_at", "wall_seconds", "page")
    list_filter = ("status", "size", "algorithm", "experiment")
    list_select_related = ("experiment", "created_by")
    readonly_fields = ("experiment", "arms", "algorithm", "mixed_share", "iterations", "iteration_labels", "size", "overrides",
                       "status", "created_by", "created_at", "started_at", "finished_at", "wall_seconds", "page")
    inlines = [PipelineStageInline]

    def has_add_permission(self, request):
        return False  # started from the run form (or the experiment's admin action), where arms and size are chosen

    @admin.display(description="arms")
    def arms_shown(self, obj):
        return ", ".join(obj.arms)

    @admin.display(description="run page")
    def page(self, obj):
        url = reverse("pipeline:run_detail", args=[obj.experiment.slug, obj.pk])
        return format_html('<a href="{}">watch run #{}</a>', url, obj.pk)
