from pipeline.heap import ask_for_huge_pages

# Before anything imports torch: every Django entry point (manage.py, the Celery worker and the
# processes it starts, gunicorn) then trains with huge pages (see pipeline.heap).
ask_for_huge_pages()

from webapp.celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
