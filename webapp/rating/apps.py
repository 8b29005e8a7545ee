from django.apps import AppConfig


class RatingConfig(AppConfig):
    name = "webapp.rating"
    label = "rating"
    verbose_name = "Rating"
