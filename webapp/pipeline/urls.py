from django.urls import path

from webapp.pipeline import api, views

app_name = "pipeline"

urlpatterns = [
    path("experiments/<slug:slug>/runs/new/", views.run_new, name="run_new"),
    path("experiments/<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("experiments/<slug:slug>/runs/<int:run_id>/stages/<int:stage_id>/cancel/", views.stage_cancel, name="stage_cancel"),
    path("experiments/<slug:slug>/runs/<int:run_id>/stages/<int:stage_id>/retry/", views.stage_retry, name="stage_retry"),
    path("api/labeling-runs/<int:labeling_run_id>/labels.<str:fmt>", api.export_labels, name="api-export-labels"),
    path("api/training-runs/<int:training_run_id>/model.<str:archive>", api.export_model, name="api-export-model"),
]
