from django.apps import AppConfig
from django.db.models.signals import post_save


class ReportsConfig(AppConfig):
    name = "webapp.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # The rating app sits below the reports, so it cannot call the precision check itself:
        # a saved judgement triggers it from here (webapp.reports.precision).
        from webapp.rating.models import Judgement
        from webapp.reports.precision import judgement_saved

        post_save.connect(judgement_saved, sender=Judgement, dispatch_uid="reports.precision.judgement_saved")
