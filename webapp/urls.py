from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from webapp.experiments import views
from webapp.pipeline import views as pipeline_views

urlpatterns = [
    path("", views.home, name="home"),
    path("experiments/<slug:slug>/", pipeline_views.experiment_detail, name="experiment_detail"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("webapp.rating.urls")),
    path("", include("webapp.reports.urls")),
    path("", include("webapp.pipeline.urls")),
]
