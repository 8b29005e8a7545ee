"""Every address in the URLconf, asked by each kind of user: anonymous, a rater, a signed-in user
with no role, staff without permissions and staff holding the lab's permissions.

The addresses are enumerated from the URLconf (the Django admin's own pages aside: they check
model permissions themselves; its three custom pages are in), so a new address without a row
here fails ``test_the_matrix_covers_every_address``.

Cells: an HTTP status, "login" (302 to the login page), "admin-login" (302 to the admin's), or
"moved:PREFIX" (302 somewhere under PREFIX).
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.hardening_world import ROLES

pytestmark = pytest.mark.django_db

STAFF_PAGE = ["login", 403, 403, 403, 200]  # anonymous, rater, no role, staff without, staff with
STAFF_API = [401, 403, 403, 403, 200]
RATER_PAGE = ["login", 200, 403, 403, 403]
ADMIN_PAGE = ["admin-login", "admin-login", "admin-login", 403, 200]

# name: (method, path arguments from the world, expected per role in ROLES order)
MATRIX = {
    "home": ("get", {}, ["login", "moved:/rate/", "moved:/rate/", 403, 200]),
    "login": ("get", {}, [200, "moved:/", "moved:/", "moved:/", "moved:/"]),
    "logout": ("post", {}, ["login"] * 5),
    "experiment_detail": ("get", {"slug"}, STAFF_PAGE),
    "rating:rounds": ("get", {}, ["login", "moved:/rate/", 403, 403, 403]),  # one open round: straight to it
    "rating:rate": ("get", {"round_id"}, ["login", "moved:/rate/", 403, 403, 403]),  # to the rater's item
    "rating:item": ("get", {"round_id", "item_id"}, RATER_PAGE),
    "rating:submit": ("post", {"round_id"}, ["login", 400, 403, 403, 403]),  # empty form: refused by the form
    "rating:skip": ("post", {"round_id"}, ["login", 400, 403, 403, 403]),
    "rating:invite": ("get", {"token"}, [200] * 5),  # the one-time link is the credential
    "rating:api-rounds": ("get", {}, STAFF_API),
    "rating:api-round": ("get", {"pk"}, STAFF_API),
    "rating:api-round-progress": ("get", {"pk"}, STAFF_API),
    "rating:api-export-jsonl": ("get", {"pk"}, STAFF_API),
    "rating:api-export-csv": ("get", {"pk"}, STAFF_API),
    "rating:api-judgements": ("get", {}, STAFF_API),
    "rating:api-export-preferences": ("get", {"pk", "fmt"}, STAFF_API),
    "reports:results": ("get", {"slug"}, STAFF_PAGE),
    "reports:alignment": ("get", {"slug"}, STAFF_PAGE),
    "reports:raters": ("get", {"slug"}, STAFF_PAGE),
    "reports:cost": ("get", {"slug"}, STAFF_PAGE),
    "reports:plan": ("get", {"slug"}, STAFF_PAGE),
    "reports:paper": ("get", {"slug"}, STAFF_PAGE),
    "reports:csv": ("get", {"slug", "name"}, STAFF_PAGE),
    "reports:plotly_js": ("get", {}, [200] * 5),  # a public script file
    "reports:api-report": ("get", {"slug"}, STAFF_API),
    "reports:api-raters": ("get", {"slug"}, STAFF_API),
    "reports:api-alignment": ("get", {"slug"}, STAFF_API),
    "reports:api-training": ("get", {"slug"}, STAFF_API),
    "reports:api-cost": ("get", {"slug"}, STAFF_API),
    "reports:api-precision": ("get", {"slug"}, STAFF_API),
    # A calculator over the numbers in its query, no lab data: any staff.
    "reports:api-sample-size": ("get", {}, [401, 403, 403, 200, 200]),
    # The schema names the endpoints, not their data: any staff.
    "reports:api-schema": ("get", {}, [401, 403, 403, 200, 200]),
    "pipeline:run_new": ("get", {"slug"}, STAFF_PAGE),
    "pipeline:run_detail": ("get", {"slug", "run_id"}, STAFF_PAGE),
    "pipeline:api-export-labels": ("get", {"labeling_run_id", "fmt"}, STAFF_API),
    # The world trains no model: a permitted download of an unknown run is a 404 naming it.
    "pipeline:api-export-model": ("get", {"training_run_id", "archive"}, [401, 403, 403, 403, 404]),
    # The world's stage has finished: a permitted cancel or retry finds nothing to do and goes back.
    "pipeline:stage_cancel": ("post", {"slug", "run_id", "stage_id"}, ["login", 403, 403, 403, "moved:/experiments/"]),
    "pipeline:stage_retry": ("post", {"slug", "run_id", "stage_id"}, ["login", 403, 403, 403, "moved:/experiments/"]),
    "admin:rating_round_quality": ("get", {"round_id"}, ADMIN_PAGE),
    "admin:rating_round_prepare": ("get", {}, ADMIN_PAGE),
    "admin:experiments_experiment_import": ("get", {"experiment_id"}, ["admin-login", "admin-login", "admin-login", "moved:/admin/", 200]),
}
ADMIN_CUSTOM = {name for name in MATRIX if name.startswith("admin:")}
QUERIES = {"reports:api-sample-size": {"p1": "0.6"}}


def url_names(patterns=None, namespace=None):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            if inner == "admin":
                continue
            yield from url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_the_matrix_covers_every_address():
    assert set(url_names()) == set(MATRIX) - ADMIN_CUSTOM


def arguments(world, wanted: set[str]) -> dict:
    values = {
        "slug": world.experiment.slug, "round_id": world.round.pk, "item_id": world.lease.item_id, "pk": world.round.pk,
        "token": world.invite.token, "name": "win_rates", "run_id": world.run.pk, "stage_id": world.stage.pk,
        "experiment_id": world.experiment.pk, "labeling_run_id": world.labeling_run.pk, "fmt": "jsonl",
        "training_run_id": 999_999, "archive": "zip",
    }
    return {key: values[key] for key in wanted}


def outcome(response) -> str | int:
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    if location.startswith("/accounts/login/"):
        return "login"
    if location.startswith("/admin/login/"):
        return "admin-login"
    return f"moved:{location}"


def matches(got, expected) -> bool:
    if isinstance(expected, str) and expected.startswith("moved:") and isinstance(got, str):
        return got.startswith(expected)
    return got == expected


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_role_gets_what_the_matrix_says(world, name):
    method, wanted, expected = MATRIX[name]
    path = reverse(name, kwargs=arguments(world, wanted))
    wrong = []
    for role, expect in zip(ROLES, expected):
        response = getattr(world.client(role), method)(path, QUERIES.get(name, {}))
        got = outcome(response)
        if not matches(got, expect):
            wrong.append(f"{role}: expected {expect}, got {got}")
    assert not wrong, f"{method.upper()} {path}: " + "; ".join(wrong)
