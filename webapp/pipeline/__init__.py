"""The pipeline's Django side: stage runs in the database, the Celery tasks that run them, the run pages.

The ML code itself lives in the top-level ``pipeline`` package and never imports Django.
"""
