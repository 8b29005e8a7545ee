"""Helpers of the fan-out tests: two real workers sharing one stage (labeling or sampling), read
from the lab's database."""

from __future__ import annotations

import json

from tests.orchestration.conftest import TINY, overrides_args
from tests.orchestration.lab import Lab

LABELING = "ai-labels"
SAMPLING = "samples-sft"


def start_shared_labeling(lab: Lab, pairs: int) -> list:
    """A pipeline whose labeling stage has one-pair chunks, shared by two workers."""
    lab.import_tiny(train=pairs, test=2)
    return _start_shared(lab, "labeling", ["--arms", "dpo-ai", "--set", "labeling.chunk_size=1"])


def start_shared_sampling(lab: Lab, prompts: int, max_new_tokens: int) -> list:
    """A pipeline whose SFT sampling stage (the bundled model) has one-prompt chunks, shared by two workers."""
    lab.import_tiny(train=2, test=prompts)
    return _start_shared(lab, "sampling", ["--arms", "sft", "--set", "sampling.chunk_size=1",
                                           "--set", f"sampling.max_new_tokens={max_new_tokens}"])


def _start_shared(lab: Lab, kind: str, args: list[str]) -> list:
    """The pipeline with every stage but preparing the models and the ``kind`` one cancelled, so
    that neither worker is busy elsewhere; then two workers (one torch thread each)."""
    lab.env["OMP_NUM_THREADS"] = "1"  # two workers on a small machine: each keeps to one core
    lab.manage("run_experiment", "tiny", *overrides_args(TINY), *args)
    assert lab.cancel_stages(keep=("prepare", kind))
    return [lab.start_worker("worker-a"), lab.start_worker("worker-b")]


def chunks(lab: Lab, stage: str = LABELING) -> list[tuple]:
    """(index, status, worker pid, attempts) of the stage's chunks."""
    rows = lab.sql("SELECT c.\"index\", c.status, c.worker, c.attempts FROM pipeline_stagechunk c"
                   f" JOIN pipeline_pipelinestage s ON s.id = c.stage_id WHERE s.name = '{stage}' ORDER BY c.\"index\"")
    return [(index, status, int(worker.split(":")[1]) if worker else None, attempts) for index, status, worker, attempts in rows]


def stage_status(lab: Lab, stage: str = LABELING) -> str:
    rows = lab.sql(f"SELECT status FROM pipeline_pipelinestage WHERE name = '{stage}'")
    return rows[0][0] if rows else ""


def stage_metrics(lab: Lab, stage: str) -> dict:
    [(shown,)] = lab.sql(f"SELECT metrics FROM pipeline_pipelinestage WHERE name = '{stage}'")
    return json.loads(shown) if isinstance(shown, str) else shown  # SQLite gives JSON text, PostgreSQL a dict


def wait_until_done(lab: Lab, stage: str = LABELING) -> None:
    lab.wait_for(lambda: stage_status(lab, stage) in ("succeeded", "failed"), timeout=900, every=0.5, what=f"{stage} to end")
    assert stage_status(lab, stage) == "succeeded", lab.sql(f"SELECT error, log FROM pipeline_pipelinestage WHERE name = '{stage}'")


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


def samples(lab: Lab, policy: str = "sft") -> dict[int, str]:
    """prompt id -> text of the responses stored under ``policy``."""
    return dict(lab.sql(f"SELECT prompt_id, text FROM experiments_policyresponse WHERE policy = '{policy}'"))


def one_process_samples(lab: Lab) -> dict[int, str]:
    """The same prompts answered again by one process (all in one batch), with the stage's policy
    and generation settings, under another name."""
    code = (
        "from webapp.pipeline.models import SamplingRun\n"
        "from webapp.pipeline.services import sampling\n"
        "src = SamplingRun.objects.order_by('id').first()\n"
        "ref = sampling.sampling_run_create(experiment=src.experiment, policy='one-process', model_spec=src.model_spec,"
        " config=src.config)\n"
        "sampling.sampling_run_execute(run_id=ref.pk)\n"
        "result = 'done'\n"
    )
    lab.query(code)
    return samples(lab, "one-process")


def assert_the_run_page_shows_one_bar_and_this_worker(client, slug: str, run_id: int, stage: str, chunks: int) -> None:
    """As staff: the stage's block on the run page has one progress bar and names this process as
    the worker that did all ``chunks`` chunks (a fan-out run in one process)."""
    from django.contrib.auth.models import User
    from django.urls import reverse

    from webapp.pipeline import runs
    from webapp.pipeline.services import fanout

    client.force_login(User.objects.create_user("boss", is_staff=True, is_superuser=True))
    page = client.get(reverse("pipeline:run_detail", args=[slug, run_id])).content.decode()
    block = page.split(f'id="stage-{stage}"')[1].split("</li>")[0]
    assert block.count("<progress") == 1
    assert f"Workers: {fanout.short_worker(runs.worker_name())} ({chunks} chunks)" in block
