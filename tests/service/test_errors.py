"""Every error leaves the service as the same RFC 9457 problem body."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from svc_helpers import assert_problem, bearer, make_settings

from geo import errors as geo_errors
from service.app import create_app
from service.errors import (
    PROBLEM_TYPES,
    STATUS_CODES,
    AccountLocked,
    Conflict,
    Forbidden,
    HealthmapError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    problem_type_of,
)
from service.ratelimit import TokenBucketLimiter

SECRET_DETAIL = "db password is hunter2"

failing = APIRouter(prefix="/_test")


class NoSuchWidgetError(geo_errors.NotFoundError):
    """A domain error the service has never heard of: its ancestor's entry serves it."""


class UnmappedError(HealthmapError):
    """A product error under no mapped class: a 500, like anything unexpected."""


@failing.get("/raise/{kind}")
def raise_kind(kind: str) -> dict[str, str]:
    errors: dict[str, HealthmapError] = {
        "not-found": NotFound("No resident R1."),
        "forbidden": Forbidden(),
        "invalid": Invalid("until is before since"),
        "conflict": Conflict("exists"),
        "unauthorized": Unauthorized(),
        "too-many-requests": TooManyRequests(retry_after=7),
        "unavailable": ServiceUnavailable(),
    }
    if kind in errors:
        raise errors[kind]
    if kind == "widget":
        raise NoSuchWidgetError("No widget W1.", extra={"widget": "W1"})
    if kind == "unmapped":
        raise UnmappedError(SECRET_DETAIL)
    if kind == "teapot":
        raise HTTPException(418, "short and stout")
    if kind == "http-dict":
        raise HTTPException(400, detail={"nested": "detail"})
    if kind == "crash":
        raise RuntimeError(SECRET_DETAIL)
    if kind == "db":
        raise ValueError("SELECT secret FROM residents")
    return {"kind": kind}


@failing.get("/typed")
def typed(n: Annotated[int, Query(ge=0)]) -> dict[str, int]:
    return {"n": n}


@failing.post("/echo")
def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body


@pytest.fixture
def error_app(migrated_store_url: str, engine: Engine) -> FastAPI:
    app = create_app(make_settings(migrated_store_url, service={"max_body_bytes": 1024}), engine)
    app.include_router(failing)
    return app


@pytest.fixture
def error_client(error_app: FastAPI) -> Any:
    with TestClient(error_app, raise_server_exceptions=True) as c:
        yield c


JSON = {"content-type": "application/json"}

#: (method, path, request kwargs, status, problem type or None for about:blank)
CASES: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    ("GET", "/_test/raise/not-found", {}, 404, "not-found"),
    ("GET", "/_test/raise/forbidden", {}, 403, "forbidden"),
    ("GET", "/_test/raise/invalid", {}, 422, "invalid"),
    ("GET", "/_test/raise/conflict", {}, 409, "conflict"),
    ("GET", "/_test/raise/unauthorized", {}, 401, "unauthorized"),
    ("GET", "/_test/raise/too-many-requests", {}, 429, "too-many-requests"),
    ("GET", "/_test/raise/unavailable", {}, 503, "unavailable"),
    ("GET", "/_test/raise/teapot", {}, 418, None),
    ("GET", "/_test/raise/http-dict", {}, 400, "bad-request"),
    ("GET", "/_test/raise/crash", {}, 500, "internal"),
    ("GET", "/_test/raise/db", {}, 500, "internal"),
    ("GET", "/_test/typed", {"params": {"n": "abc"}}, 422, "invalid"),
    ("GET", "/_test/typed", {"params": {"n": "-1"}}, 422, "invalid"),
    ("GET", "/_test/typed", {}, 422, "invalid"),
    ("POST", "/_test/echo", {"content": b"{not json", "headers": JSON}, 422, "invalid"),
    ("POST", "/_test/echo", {"content": b"x" * 2048}, 413, "content-too-large"),
    ("GET", "/no/such/route", {}, 404, "not-found"),
    ("DELETE", "/healthz", {}, 405, "method-not-allowed"),
    ("POST", "/auth/token", {"data": {"username": "nobody", "password": "x"}}, 401, "unauthorized"),
    ("POST", "/auth/token", {"data": {"username": "nobody"}}, 422, "invalid"),
    ("POST", "/auth/refresh", {"json": {"refresh_token": "forged"}}, 401, "unauthorized"),
    ("GET", "/auth/me", {}, 401, "unauthorized"),
    ("GET", "/auth/me", {"headers": {"Authorization": "Bearer not.a.jwt"}}, 401, "unauthorized"),
    ("GET", "/admin/audit", {}, 401, "unauthorized"),
    ("GET", "/problems/no-such-type", {}, 404, "not-found"),
]


def test_every_error_is_a_problem(error_client: TestClient) -> None:
    """One request per kind of error; the body shape is checked every time."""
    seen = set()
    for method, path, kwargs, status, type_ in CASES:
        r = error_client.request(method, path, **kwargs)
        body = assert_problem(r, status, type_)
        seen.add(body["type"])
        if type_ is None:
            assert body["type"] == "about:blank" and body["title"] == "I'm a Teapot"
    # Every documented type except the login lock-outs (tested in test_auth and
    # test_api_residents_self) was produced.
    assert {t.uri for t in PROBLEM_TYPES.values()} - seen <= {
        "/problems/account-locked",
        "/problems/resident-locked",
        "/problems/unsupported-media-type",
    }


def test_500_says_nothing_about_the_cause_but_logs_it(
    error_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="healthmap.service"):
        r = error_client.get("/_test/raise/crash")
    body = assert_problem(r, 500, "internal")
    assert SECRET_DETAIL not in r.text and "RuntimeError" not in r.text
    assert body["detail"] == PROBLEM_TYPES["internal"].description
    # ...while the server log has the traceback, under the same request id.
    record = next(rec for rec in caplog.records if rec.name == "healthmap.service")
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert r.headers["x-request-id"] in record.getMessage()


def test_validation_errors_do_not_echo_values(error_client: TestClient) -> None:
    id_number = "37078319900101123X"
    body = assert_problem(error_client.get("/_test/typed", params={"n": id_number}), 422)
    assert id_number not in str(body)
    assert body["errors"] == [
        {"loc": "query.n", "msg": body["errors"][0]["msg"], "type": "int_parsing"}
    ]


def test_headers_of_errors(error_client: TestClient) -> None:
    r = error_client.get("/_test/raise/too-many-requests")
    assert r.headers["retry-after"] == "8"
    r = error_client.get("/auth/me")
    assert r.headers["www-authenticate"] == "Bearer"
    r = error_client.get("/auth/me", headers={"Authorization": "Bearer x"})
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    r = error_client.delete("/healthz")
    assert r.headers["allow"] == "GET"


def test_request_id_from_proxy_is_kept_only_when_a_uuid(error_client: TestClient) -> None:
    rid = "0b7c9d4e-1f2a-4b3c-8d5e-6f708192a3b4"
    r = error_client.get("/nowhere", headers={"X-Request-ID": rid})
    assert assert_problem(r, 404)["instance"] == f"urn:uuid:{rid}"
    r = error_client.get("/nowhere", headers={"X-Request-ID": "<script>"})
    assert "<script>" not in r.headers["x-request-id"]
    assert_problem(r, 404)


def test_problem_types_are_documented(error_client: TestClient) -> None:
    for problem in PROBLEM_TYPES.values():
        r = error_client.get(problem.uri)
        assert r.status_code == 200
        assert r.json()["status"] == problem.status and r.json()["type"] == problem.uri


def test_rate_limit_is_a_problem(
    error_app: FastAPI, error_client: TestClient, users: dict[str, Any], engine: Engine
) -> None:
    headers = bearer(error_client, "bureau1")
    error_app.state.rate_limiter = TokenBucketLimiter(per_minute=60, burst=2)
    assert error_client.get("/auth/me", headers=headers).status_code == 200
    assert error_client.get("/auth/me", headers=headers).status_code == 200
    r = error_client.get("/auth/me", headers=headers)
    assert_problem(r, 429, "too-many-requests")
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.fresh_store
def test_forbidden_and_unavailable_from_real_endpoints(
    error_app: FastAPI, error_client: TestClient, users: dict[str, Any], engine: Engine
) -> None:
    assert_problem(error_client.get("/admin/audit", headers=bearer(error_client, "doctor1")), 403)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert_problem(error_client.get("/readyz"), 503, "unavailable")


DOCS_API = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_problem_types() -> dict[str, int]:
    """The problem types of the table in docs/api.md ("## Errors"): slug → status."""
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", DOCS_API.read_text(), re.MULTILINE)
    return {slug: int(status) for slug, status in rows}


def test_every_mapped_error_has_a_documented_problem_type(error_app: FastAPI) -> None:
    documented = documented_problem_types()
    assert set(documented) <= set(PROBLEM_TYPES)  # the docs invent none
    # error_app is built: lower-layer errors not yet under geo.errors are in the table too.
    assert geo_errors.NotFoundError in STATUS_CODES and len(STATUS_CODES) >= 10
    for cls, problem in STATUS_CODES.items():
        assert documented.get(problem.slug) == problem.status, cls


def test_the_table_resolves_by_the_nearest_ancestor(error_app: FastAPI) -> None:
    from pipelines.pushlist import UnknownTeamError
    from service.tiles.layers import TileParamError
    from store.queries import NoBuildError

    expected = {
        geo_errors.NoBuildError: "not-found",
        geo_errors.PeriodNotBuiltError: "not-found",
        geo_errors.UnknownTeamError: "not-found",
        geo_errors.UnknownLayerError: "not-found",
        geo_errors.InvalidInputError: "invalid",
        geo_errors.BadParameterError: "bad-request",
        geo_errors.ConflictError: "conflict",
        geo_errors.UnavailableError: "unavailable",
        NoBuildError: "not-found",
        UnknownTeamError: "not-found",
        TileParamError: "bad-request",
        TooManyRequests: "too-many-requests",
        AccountLocked: "account-locked",
        NoSuchWidgetError: "not-found",
    }
    for cls, slug in expected.items():
        problem = problem_type_of(cls)
        assert problem is not None and problem.slug == slug, cls
    assert problem_type_of(UnmappedError) is None
    assert problem_type_of(KeyError) is None  # a bug stays a 500, never a 404
    # The service's names are the domain's classes.
    assert NotFound is geo_errors.NotFoundError and Invalid is geo_errors.InvalidInputError


def test_a_new_domain_error_needs_no_handler(error_client: TestClient) -> None:
    r = error_client.get("/_test/raise/widget")
    body = assert_problem(r, 404, "not-found")
    assert body["detail"] == "No widget W1." and body["widget"] == "W1"
    assert r.headers["content-type"] == "application/problem+json"


def test_an_unmapped_product_error_is_a_500_that_says_nothing(error_client: TestClient) -> None:
    r = error_client.get("/_test/raise/unmapped")
    assert_problem(r, 500, "internal")
    assert SECRET_DETAIL not in r.text
