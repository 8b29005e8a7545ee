from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "webapp.pipeline"
    verbose_name = "Pipeline runs"
