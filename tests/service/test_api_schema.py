"""The OpenAPI document against the app: schemathesis generates requests for every operation.

Authenticated as an administrator and as a doctor (the two roles that can write), a bounded
number of generated examples per operation (plus the examples in the document). Checks: no
5xx, documented status codes and content types, and every response conforms to its schema.
Background jobs are recorded but not run (the work is tested in ``test_api_admin``).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from conftest import quiet_app
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from svc_helpers import token_headers
from test_api_matrix import FakeJobs

import service.app

#: Generated examples per operation and user (the document's own examples come on top).
EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_openapi_contract(
    api_settings: Any, engine: Any, county: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.app, "JobRegistry", FakeJobs)
    app = quiet_app(api_settings, engine)
    headers = token_headers(engine, api_settings)
    users = [headers["admin1"], headers["doctor1"]]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 34
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any) -> None:
                for user in users:
                    response = case.call(headers=user)
                    case.validate_response(response, checks=CHECKS)

            exercise()
    finally:
        shutdown_lifespans()
