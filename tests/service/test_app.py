"""The app factory: lifespan, probes, production checks, headers, CORS, body limit, log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from svc_helpers import assert_problem, bearer, make_settings

import service.app
import service.routes.meta
from service.app import InsecureConfiguration, check_production, create_app, schema_heads
from service.middleware import basemap_origin, content_security_policy
from store.engine import alembic_config, make_engine

STRONG = "x" * 40


# ----------------------------------------------------------------------------------------
# Probes and lifespan
# ----------------------------------------------------------------------------------------
def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "schema": sorted(schema_heads())}


@pytest.mark.fresh_store
def test_lifespan_opens_migrates_and_disposes_its_own_store(
    migrated_store_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Engine] = []
    disposed: list[Engine] = []

    def open_store(url: str) -> Engine:
        store = real_open(url)
        real_dispose = store.dispose
        store.dispose = lambda *a, **k: (disposed.append(store), real_dispose(*a, **k))  # type: ignore[method-assign]
        opened.append(store)
        return store

    real_open = service.app._open_store
    monkeypatch.setattr(service.app, "_open_store", open_store)
    # The store is back at 0001: the app must bring it to head before serving.
    command.downgrade(alembic_config(engine), "0001")
    app = create_app(make_settings(migrated_store_url))
    with TestClient(app) as c:
        assert c.get("/readyz").json()["schema"] == sorted(schema_heads())
        assert app.state.engine is opened[0] and not disposed
    assert disposed == opened


def test_readyz_503_when_store_unreachable(client: TestClient, backend: str, tmp_path: Any) -> None:
    if backend == "sqlite":
        gone = make_engine(f"sqlite:///file:{tmp_path}/missing/dir/x.db?mode=ro&uri=true")
    else:
        gone = make_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        )
    client.app.state.engine = gone  # type: ignore[attr-defined]
    body = assert_problem(client.get("/readyz"), 503, "unavailable")
    assert "unreachable" in body["detail"] and "127.0.0.1" not in body["detail"]
    assert client.get("/healthz").status_code == 200  # the process is still up


@pytest.mark.fresh_store
def test_readyz_503_when_schema_behind(client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    body = assert_problem(client.get("/readyz"), 503, "unavailable")
    assert "0001" in body["detail"] and max(schema_heads()) in body["detail"]


# ----------------------------------------------------------------------------------------
# Production refuses demo secrets
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("auth", "ingest", "message"),
    [
        ({}, {"id_hash_key": STRONG}, "auth.secret is the demo default"),
        ({"secret": "short-but-not-default"}, {"id_hash_key": STRONG}, "fewer than 32"),
        ({"secret": STRONG}, {}, "ingest.id_hash_key is the demo default"),
    ],
)
def test_production_refuses_default_secrets(
    auth: dict[str, str], ingest: dict[str, str], message: str
) -> None:
    from pipelines.ingest.settings import IngestSettings

    settings = make_settings(mode="production", auth=auth, ingest=IngestSettings(**ingest))
    with pytest.raises(InsecureConfiguration, match=message):
        create_app(settings)


def test_production_starts_with_real_secrets_and_demo_does_with_defaults(
    tmp_path: Path,
) -> None:
    from pipelines.ingest.settings import IngestSettings

    strong_ingest = IngestSettings(id_hash_key=STRONG)
    production = make_settings(
        f"sqlite:///{tmp_path / 'production.db'}",
        mode="production",
        auth={"secret": STRONG},
        ingest=strong_ingest,
    )
    demo = make_settings(f"sqlite:///{tmp_path / 'demo.db'}")  # the defaults are fine
    for settings in (production, demo):
        check_production(settings)  # does not raise
        app = create_app(settings)
        app.state.scheduler_enabled = False
        with TestClient(app) as client:  # the lifespan opens and migrates the store
            assert client.get("/readyz").json() == {
                "status": "ready",
                "schema": sorted(schema_heads()),
            }
        assert app.state.settings.mode == settings.mode


# ----------------------------------------------------------------------------------------
# Headers, CORS, body limit
# ----------------------------------------------------------------------------------------
def test_security_headers_present(client: TestClient) -> None:
    for r in (client.get("/healthz"), client.get("/nowhere"), client.get("/openapi.json")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no other origin
        assert r.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in r.headers  # plain http: no HSTS
    https = client.get("https://testserver/healthz")
    assert https.headers["strict-transport-security"].startswith("max-age=")


def test_docs_are_served_without_any_cdn(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    assert "cdn" not in r.text.lower() and "https://" not in r.text
    csp = r.headers["content-security-policy"]
    assert "'sha256-" in csp and "http" not in csp
    assert "'unsafe-inline'" not in csp.split("style-src")[0]  # never for scripts
    assert r.headers["x-frame-options"] == "DENY"
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    for name in ("index.html", "..%2F..%2Fcore.py", "../static/favicon.png"):
        assert client.get(f"/docs/assets/{name}").status_code == 404


def test_docs_without_swagger_files_point_to_openapi(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.routes.meta, "swagger_assets", lambda: None)
    r = client.get("/docs")
    assert r.status_code == 200 and "/openapi.json" in r.text and "https://" not in r.text
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 404


def test_openapi_documents_problems(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert "application/problem+json" in op["responses"]["4XX"]["content"], path
    assert "/auth/token" in spec["paths"] and "/admin/audit" in spec["paths"]


def test_cors_off_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://evil.example"}
    r = client.get("/healthz", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/auth/me", headers={**origin, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
    assert_problem(pre, 405)


def test_cors_on_when_configured(make_client: Any) -> None:
    c = make_client(service={"cors_origins": ("https://map.county.example",)})
    ok = {"Origin": "https://map.county.example"}
    r = c.get("/healthz", headers=ok)
    assert r.headers["access-control-allow-origin"] == "https://map.county.example"
    pre = c.options("/auth/me", headers={**ok, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200
    r = c.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_routes_blocking_work_runs_in_the_configured_threads(make_client: Any) -> None:
    # anyio's default is 40 threads; past service.threads a request waits its turn.
    c = make_client(service={"threads": 3})
    assert c.get("/healthz").status_code == 200

    def tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert c.portal is not None and c.portal.call(tokens) == 3


def test_body_too_large_is_413(make_client: Any) -> None:
    c = make_client(service={"max_body_bytes": 1000})
    big = "x" * 2000
    # Declared length: refused before reading, on any path.
    assert_problem(
        c.post("/auth/token", data={"username": big, "password": "p"}), 413, "content-too-large"
    )
    assert_problem(c.post("/nowhere", content=big.encode()), 413)
    # Chunked body (no Content-Length): counted while read.
    chunks = (b"username=" + b"x" * 100 for _ in range(20))
    r = c.post(
        "/auth/token", content=chunks, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(r, 413, "content-too-large")
    # Under the limit: an ordinary answer.
    assert c.post("/auth/token", data={"username": "a", "password": "b"}).status_code == 401


def test_basemap_origin_joins_the_csp() -> None:
    assert basemap_origin("https://t{s}.tianditu.gov.cn/img_w/wmts?x={x}") == (
        "https://*.tianditu.gov.cn"
    )
    assert basemap_origin("https://tiles.example/{z}/{x}/{y}.png") == "https://tiles.example"
    assert basemap_origin("https://a.{s}.example/{z}") is None
    assert basemap_origin(None) is None
    csp = content_security_policy(["https://*.tianditu.gov.cn"])
    assert "img-src 'self' data: blob: https://*.tianditu.gov.cn" in csp
    assert "script-src 'self';" in csp


# ----------------------------------------------------------------------------------------
# Access log
# ----------------------------------------------------------------------------------------
def test_access_log_is_json_without_personal_data(
    client: TestClient, users: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    headers = bearer(client, "admin1")
    with caplog.at_level(logging.INFO, logger="healthmap.access"):
        client.get("/admin/audit", params={"user": "张三", "action": "read"}, headers=headers)
        client.get("/residents/37078319900101123X", params={"name": "李四"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "healthmap.access"]
    audit, unknown = lines[-2], lines[-1]
    assert audit["path"] == "/admin/audit" and audit["query"] == ["action", "user"]
    assert audit["status"] == 200 and isinstance(audit["user"], int)
    assert audit["method"] == "GET" and audit["duration_ms"] >= 0 and audit["request_id"]
    assert unknown["path"] == "/residents/*" and unknown["user"] is None
    text_ = json.dumps(lines, ensure_ascii=False)
    for personal in ("张三", "李四", "37078319900101123X", "admin1"):
        assert personal not in text_
