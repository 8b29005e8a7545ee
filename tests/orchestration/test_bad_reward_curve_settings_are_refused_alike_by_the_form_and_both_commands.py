"""A reward-model curve (Figure 5) with sizes larger than the training pairs, sizes that do not
increase or are not positive, or an unknown label source is refused by the run form,
``run_experiment --reward-curve`` and ``rm_curve`` with the same message (one validator), naming
the field or option and the value; nothing is started or created."""

import html

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from webapp.pipeline.models import PipelineRun, TrainingRun

pytestmark = pytest.mark.django_db

# (sizes, labels, the setting at fault, the message every door gives); tiny has 4 training pairs
BAD = [
    (["2", "8"], ["human"], "sizes", "8 is more than the experiment's 4 training pairs"),
    (["4", "2"], ["human"], "sizes", "2 after 4: give the sizes in increasing order, each once"),
    (["0", "2"], ["human"], "sizes", "'0' is not a size: give numbers of training pairs, each at least 2"),
    (["-3"], ["human"], "sizes", "'-3' is not a size"),
    (["2", "4"], ["human", "robot"], "labels", "unknown label source 'robot': use human, ai[:RUN_ID] or mixed:SHARE"),
]


@pytest.mark.parametrize(("sizes", "labels", "setting", "message"), BAD)
def test_every_door_refuses_with_the_same_message(client, tiny_experiment, sizes, labels, setting, message):
    client.force_login(User.objects.create_superuser("boss", password="curve-pass-123"))
    url = reverse("pipeline:run_new", args=[tiny_experiment.slug])
    form = {"arms": ["sft"], "size": "demo", "mixed_share": "0.5", "reward_curve": "on",
            "curve_sizes": " ".join(sizes), "curve_labels": " ".join(labels)}
    response = client.post(url, form)
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert f"Curve {'sizes' if setting == 'sizes' else 'label sources'}: {message}" in page

    with pytest.raises(CommandError, match=f"^--curve-{setting}: {message}".replace("[", r"\[").replace("]", r"\]")):
        call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", "--reward-curve",
                     "--curve-sizes", *sizes, "--curve-labels", *labels, verbosity=0)
    with pytest.raises(CommandError, match=f"^--{setting}: {message}".replace("[", r"\[").replace("]", r"\]")):
        call_command("rm_curve", "--experiment", tiny_experiment.slug, "--sizes", *sizes, "--labels", *labels, verbosity=0)
    assert not PipelineRun.objects.exists() and not TrainingRun.objects.exists()


def test_curve_settings_without_the_switch_are_refused(tiny_experiment):
    with pytest.raises(CommandError, match="--curve-sizes sets the reward-model curve: add --reward-curve"):
        call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", "--curve-sizes", "2", "4", verbosity=0)
    assert not PipelineRun.objects.exists()


def test_good_settings_plan_the_curve_from_the_form(client, tiny_experiment):
    client.force_login(User.objects.create_superuser("boss", password="curve-pass-123"))
    url = reverse("pipeline:run_new", args=[tiny_experiment.slug])
    assert "Reward-model curve (Figure 5)" in client.get(url).content.decode()
    response = client.post(url, {"arms": ["sft"], "size": "demo", "mixed_share": "0.5", "reward_curve": "on",
                                 "curve_sizes": "2, 4", "curve_labels": "human ai"})
    assert response.status_code == 302
    stages = {s.name: s for s in PipelineRun.objects.get().stages.all()}
    assert stages["reward-curve-human"].config["sizes"] == stages["reward-curve-ai"].config["sizes"] == [2, 4]
    assert stages["reward-curve-ai"].depends_on == ["prepare-models", "ai-labels"]
