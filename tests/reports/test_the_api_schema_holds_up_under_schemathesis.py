"""The OpenAPI schema at /api/schema/ is valid OpenAPI, and schemathesis, generating requests
from it (valid and invalid ones) against the app in-process through WSGI with a staff token,
finds no server error on any endpoint; report answers also match their documented shapes.

schemathesis' pytest decorators do not run under pytest 9, so the test drives its Python API:
one hypothesis run per operation, from ``operation.as_strategy()``.
"""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from webapp.wsgi import application

pytestmark = pytest.mark.django_db

EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}


@pytest.fixture
def staff_headers(staff_token):
    return {"Authorization": f"Token {staff_token}"}


@pytest.fixture
def api_schema(staff_headers, make_filled, make_runs):
    # "demo" is the slug the schema gives as its example: the documented call hits real data.
    filled = make_filled(slug="demo", n_prompts=8, n_raters=3)
    make_runs(filled.experiment)
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=staff_headers)


def _checks(operation, mode):
    documented = operation.path.startswith("/api/experiments/") or operation.path == "/api/sample-size/"
    return [not_a_server_error, response_schema_conformance] if documented and mode is GenerationMode.POSITIVE else [not_a_server_error]


def test_no_endpoint_answers_with_a_server_error(api_schema, staff_headers):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:
        for mode, n in EXAMPLES.items():
            checks = _checks(operation, mode)

            @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                case.call_and_validate(headers=staff_headers, checks=checks)  # noqa: B023 - called at once, in this iteration

            call()
        if "{slug}" in operation.path:
            response = operation.Case(path_parameters={"slug": "demo"}).call_and_validate(
                headers=staff_headers, checks=[not_a_server_error, response_schema_conformance])
            assert response.status_code == 200, operation.path


def test_the_schema_is_valid_openapi_and_describes_the_report_endpoints(client, staff_headers):
    response = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION=staff_headers["Authorization"])
    assert response.status_code == 200
    document = response.json()
    validate_schema(document)
    for path in ("/api/experiments/{slug}/report/", "/api/experiments/{slug}/alignment/", "/api/experiments/{slug}/raters/",
                 "/api/experiments/{slug}/cost/", "/api/experiments/{slug}/training/", "/api/sample-size/"):
        assert "$ref" in str(document["paths"][path]["get"]["responses"]["200"]), path
    assert client.get("/api/schema/").status_code in (401, 403)  # staff only, like the API it describes
