from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAdminUser

from webapp.reports import api, views

app_name = "reports"

urlpatterns = [
    path("experiments/<slug:slug>/report/", views.results, name="results"),
    path("experiments/<slug:slug>/report/alignment/", views.alignment, name="alignment"),
    path("experiments/<slug:slug>/report/raters/", views.raters, name="raters"),
    path("experiments/<slug:slug>/report/cost/", views.cost, name="cost"),
    path("experiments/<slug:slug>/report/paper/", views.paper, name="paper"),
    path("experiments/<slug:slug>/report/sample-size/", views.plan, name="plan"),
    path("experiments/<slug:slug>/report/csv/<slug:name>.csv", views.table_csv, name="csv"),
    path("reports/plotly.min.js", views.plotly_js, name="plotly_js"),
    path("api/experiments/<slug:slug>/report/", api.report, name="api-report"),
    path("api/experiments/<slug:slug>/raters/", api.raters, name="api-raters"),
    path("api/experiments/<slug:slug>/precision/", api.precision_targets, name="api-precision"),
    path("api/experiments/<slug:slug>/alignment/", api.alignment, name="api-alignment"),
    path("api/experiments/<slug:slug>/training/", api.training, name="api-training"),
    path("api/experiments/<slug:slug>/cost/", api.cost, name="api-cost"),
    path("api/sample-size/", api.sample_size, name="api-sample-size"),
    # The schema lists staff-only endpoints, so it is staff-only too.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(
            permission_classes=[IsAdminUser],
            custom_settings={"TITLE": "RLAIF lab API", "DESCRIPTION": "Rounds, judgements and reports; staff only (token or session).", "VERSION": "1"},
        ),
        name="api-schema",
    ),
]
