"""Sending a stage to a worker: one Celery task for every kind, on the queue stored with the stage.

The queue is the stage row's (``pipeline.kinds`` decides it when the run is planned), so the
queue the run page shows is the one the message goes to; no route table in the settings can
say otherwise. The task is sent by name: orchestration sends stages and the task calls
orchestration, and neither has to import the other.
"""

from __future__ import annotations

from celery import current_app
from django.conf import settings

STAGE_TASK = "pipeline.stage"
# A fanned-out stage's helpers: "work on the next chunks of this stage" (services.fanout).
CHUNK_TASK = "pipeline.chunk"


def time_limits(queue: str) -> dict:
    """Accelerator work (labeling, training, sampling) may take hours; light work (preparing
    models, opening a round) that takes half an hour is stuck."""
    if queue == "gpu":
        return {"soft_time_limit": settings.PIPELINE_TIME_LIMIT, "time_limit": settings.PIPELINE_TIME_LIMIT + 120}
    return {"soft_time_limit": 1800, "time_limit": 1900}


def stage_send(*, stage_id: int, queue: str) -> None:
    # A signature runs the registered task's apply_async (which honours task_always_eager)
    # and falls back to sending by name where the tasks module was never imported.
    current_app.signature(STAGE_TASK, args=(stage_id,)).apply_async(queue=queue, **time_limits(queue))


def chunk_send(*, stage_id: int, queue: str) -> None:
    current_app.signature(CHUNK_TASK, args=(stage_id,)).apply_async(queue=queue, **time_limits(queue))
