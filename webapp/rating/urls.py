from django.urls import path

from webapp.rating import api, views

app_name = "rating"

urlpatterns = [
    path("rate/", views.rounds, name="rounds"),
    path("rate/<int:round_id>/", views.rate, name="rate"),
    path("rate/<int:round_id>/items/<int:item_id>/", views.item, name="item"),
    path("rate/<int:round_id>/submit/", views.submit, name="submit"),
    path("rate/<int:round_id>/skip/", views.skip, name="skip"),
    path("accounts/invite/<str:token>/", views.invite_signup, name="invite"),
    path("api/rounds/", api.RoundList.as_view(), name="api-rounds"),
    path("api/rounds/<int:pk>/", api.RoundDetail.as_view(), name="api-round"),
    path("api/rounds/<int:pk>/progress/", api.round_progress, name="api-round-progress"),
    path("api/rounds/<int:pk>/judgements.jsonl", api.export_jsonl, name="api-export-jsonl"),
    path("api/rounds/<int:pk>/judgements.csv", api.export_csv, name="api-export-csv"),
    path("api/rounds/<int:pk>/preferences.<str:fmt>", api.export_preferences, name="api-export-preferences"),
    path("api/judgements/", api.JudgementList.as_view(), name="api-judgements"),
]
