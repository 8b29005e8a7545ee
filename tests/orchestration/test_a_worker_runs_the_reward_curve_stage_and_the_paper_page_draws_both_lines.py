"""``run_experiment --reward-curve`` through a real Celery worker on the harmless demo: the run's
reward-curve stages train a reward model per size on human and on the run's own AI labels, and the
paper page's Figure 5 block (its table and its chart) then has one line per label source, both
from that run, with a point per size; the run page links each curve stage to that block."""

import json

import pytest

from tests.orchestration.conftest import TINY, overrides_args

pytestmark = pytest.mark.slow

SIZES = [4, 8]

PAPER_PAGE = """
from django.contrib.auth.models import User
from django.test import Client
from webapp.pipeline.models import PipelineRun
run = PipelineRun.objects.get(pk={run_id})
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(User.objects.create_superuser("curve-boss", password="curve-pass-123"))
page = client.get(f"/experiments/{{run.experiment.slug}}/report/paper/").content.decode()
start = page.index('id="fig-paper_figure5-1">') + len('id="fig-paper_figure5-1">')
figure = json.loads(page[start:page.index("</script>", start)])
run_page = client.get(f"/experiments/{{run.experiment.slug}}/runs/{{run.pk}}/").content.decode()
stages = run.stages.filter(kind="reward-curve").select_related("training_run")
result = {{
    "curves": {{s.name: [s.training_run_id, s.training_run.label_source, s.progress_done, s.progress_total] for s in stages}},
    "labels_run": run.stages.get(name="ai-labels").labeling_run_id,
    "traces": [[t["name"], t["x"]] for t in figure["data"]],
    "links": run_page.count("/report/paper/#paper_figure5"),
}}
"""


def test_the_curve_stages_fill_figure_5_on_the_paper_page(lab):
    lab.import_tiny(train=8, test=3)
    lab.start_worker()
    done = lab.manage("run_experiment", "tiny", "--arms", "sft", "--reward-curve", "--curve-sizes", *map(str, SIZES),
                      "--wait", "--json", "--timeout", "600", *overrides_args(TINY), timeout=700)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stdout + done.stderr[-3000:]
    assert {summary["stages"][name] for name in ("reward-curve-human", "reward-curve-ai")} == {"succeeded"}, summary

    seen = lab.query(PAPER_PAGE.format(run_id=summary["run_id"]))
    human, ai = seen["curves"]["reward-curve-human"], seen["curves"]["reward-curve-ai"]
    assert human[1] == "human" and ai[1] == f"ai:{seen['labels_run']}"  # the run's own AI labels
    assert human[2:] == ai[2:] == [len(SIZES), len(SIZES)]  # progress counted in reward models
    # one line per label source, both the run's, a point per size
    assert sorted(seen["traces"]) == sorted([[f"#{human[0]} human", SIZES], [f"#{ai[0]} ai:{seen['labels_run']}", SIZES]])
    assert seen["links"] == 2
