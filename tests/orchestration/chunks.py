"""Helpers of the fan-out tests: two real workers sharing a labeling stage, read from the lab's database."""

from __future__ import annotations

from tests.orchestration.conftest import TINY, overrides_args
from tests.orchestration.lab import Lab

STAGE = "ai-labels"


def start_shared_labeling(lab: Lab, pairs: int) -> list:
    """A pipeline whose labeling stage has one-pair chunks and whose other stages (but preparing
    the models) are cancelled, so that neither worker is busy elsewhere; then two workers (one
    torch thread each)."""
    lab.import_tiny(train=pairs, test=2)
    lab.env["OMP_NUM_THREADS"] = "1"  # two workers on a small machine: each keeps to one core
    lab.manage("run_experiment", "tiny", "--arms", "dpo-ai", *overrides_args(TINY), "--set", "labeling.chunk_size=1")
    assert lab.cancel_stages(keep=("prepare", "labeling"))
    return [lab.start_worker("worker-a"), lab.start_worker("worker-b")]


def chunks(lab: Lab) -> list[tuple]:
    """(index, status, worker pid, attempts) of the labeling stage's chunks."""
    rows = lab.sql("SELECT c.\"index\", c.status, c.worker, c.attempts FROM pipeline_stagechunk c"
                   f" JOIN pipeline_pipelinestage s ON s.id = c.stage_id WHERE s.name = '{STAGE}' ORDER BY c.\"index\"")
    return [(index, status, int(worker.split(":")[1]) if worker else None, attempts) for index, status, worker, attempts in rows]


def stage_status(lab: Lab) -> str:
    rows = lab.sql(f"SELECT status FROM pipeline_pipelinestage WHERE name = '{STAGE}'")
    return rows[0][0] if rows else ""


def wait_until_labelled(lab: Lab) -> None:
    lab.wait_for(lambda: stage_status(lab) in ("succeeded", "failed"), timeout=900, every=0.5, what="the labeling stage to end")
    assert stage_status(lab) == "succeeded", lab.sql(f"SELECT error, log FROM pipeline_pipelinestage WHERE name = '{STAGE}'")


def labels(lab: Lab) -> dict[int, float]:
    """pair id -> p of the pipeline's labeling run (the first one)."""
    return dict(lab.sql("SELECT pair_id, p FROM pipeline_ailabel WHERE run_id = (SELECT min(id) FROM pipeline_labelingrun)"))


def one_process_labels(lab: Lab) -> dict[int, float]:
    """The same pairs labelled again by one process, with the stage's config and one-pair chunks."""
    code = (
        "from pipeline.configs import LabelingConfig\n"
        "from webapp.pipeline.models import LabelingRun\n"
        "from webapp.pipeline.services import labeling\n"
        "src = LabelingRun.objects.order_by('id').first()\n"
        "ref = labeling.labeling_run_create(experiment=src.experiment, config=LabelingConfig.from_dict(src.config),"
        " split=src.split, model_spec=src.model_spec, limit=src.limit)\n"
        "labeling.labeling_run_execute(run_id=ref.pk, chunk_size=1)\n"
        "result = [[label.pair_id, label.p] for label in ref.labels.all()]\n"
    )
    return {pair: p for pair, p in lab.query(code)}  # type: ignore[union-attr]
