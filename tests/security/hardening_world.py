"""The shared world of the hardening probes: one lab with every kind of user and something behind
every address. Test modules import the fixtures they use from here (a conftest.py in this
folder is left to whoever else adds probes to it).

Policies carry names no page would print by chance (zebra, quokka, narwhal), so a rater-visible
response that contains one has leaked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone

from webapp.access import CONTROL_STAGES, MAKE_RESPONSES, RATERS_GROUP, SEE_EXPERIMENTS, SEE_JUDGEMENTS, SEE_ROUNDS, SEE_RUNS, START_RUNS
from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt
from webapp.pipeline.models import AILabel, LabelingRun, PipelineRun, PipelineStage
from webapp.rating.models import Lease, RaterInvite, Round
from webapp.rating.services import judgements, leasing, rounds

SECRET_POLICIES = ["zebra", "quokka", "narwhal"]
PASSWORD = "probe-pass-123"
ROLES = ["anonymous", "rater", "no_role", "staff_without_permissions", "staff_with_permissions"]
# Every permission a staff page asks for, plus what the admin's custom pages need on top.
LAB_PERMISSIONS = [SEE_EXPERIMENTS, MAKE_RESPONSES, SEE_RUNS, START_RUNS, CONTROL_STAGES, SEE_ROUNDS, SEE_JUDGEMENTS, "experiments.change_experiment"]


@dataclass
class World:
    experiment: Experiment
    round: Round
    lease: Lease  # the rater's current item
    run: PipelineRun
    stage: PipelineStage
    invite: RaterInvite
    users: dict[str, User | None]
    labeling_run: LabelingRun  # with one AI label, so its export answers

    def client(self, role: str) -> Client:
        client = Client()
        if self.users[role] is not None:
            client.force_login(self.users[role])
        return client


def _user(username: str, *, staff: bool = False, rater: bool = False, permissions=()) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=staff)
    if rater:
        user.groups.add(Group.objects.get_or_create(name=RATERS_GROUP)[0])
    for dotted in permissions:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def build_world() -> World:
    """The probes' world (needs the database): see the module docstring."""
    experiment = Experiment.objects.create(slug="probe", name="Probe", task="harmless")
    for i in range(4):
        prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Human: probe question {i}?", content_hash=Prompt.hash_for(f"probe-{i}"))
        for n, policy in enumerate(SECRET_POLICIES):
            PolicyResponse.objects.create(prompt=prompt, policy=policy, text=f"Answer {i}.{n}: drink water and rest well.")
    round, _ = rounds.round_create(experiment=experiment, policies=SECRET_POLICIES, name="Probe round", overlap=2, gold_share=0.25)
    users = {
        "anonymous": None,
        "rater": _user("rita", rater=True),
        "no_role": _user("nora"),
        "staff_without_permissions": _user("stan", staff=True),
        "staff_with_permissions": _user("pam", staff=True, permissions=LAB_PERMISSIONS),
    }
    other = _user("ann", rater=True)
    done = leasing.item_lease(rater=other, round=round)
    judgements.judgement_submit(
        rater=other, token=done.token, ranks={"A": 1, "B": 2, "C": 3}, harmless={"A": True, "B": True, "C": False}
    )
    lease = leasing.item_lease(rater=users["rater"], round=round)
    run = PipelineRun.objects.create(experiment=experiment, arms=["sft"], status="succeeded")
    stage = PipelineStage.objects.create(
        pipeline=run, experiment=experiment, name="samples-sft", kind="sampling", fingerprint="f" * 64, status="succeeded", model_spec="probe"
    )
    invite = RaterInvite.objects.create(note="probe", expires_at=timezone.now() + timedelta(days=1))
    labeling_run = LabelingRun.objects.create(experiment=experiment, model_spec="probe", status="succeeded")
    pair = PreferencePair.objects.create(prompt=prompt, candidate_1="Rest.", candidate_2="Drink water.", content_hash=PreferencePair.hash_for("Rest.", "Drink water."))
    AILabel.objects.create(run=labeling_run, pair=pair, p_order1=0.7, p=0.7, label_mass=0.9)
    return World(experiment, round, lease, run, stage, invite, users, labeling_run)
