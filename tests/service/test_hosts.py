"""Which host and which client (issue 17, items 5 and 9): the ``Host`` header is checked,
URLs are built from a configured public URL or the checked host, ``X-Forwarded-For`` is
believed from configured proxies only, the server does not name itself, exports are not
kept by caches."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.requests import Request
from svc_helpers import assert_problem, make_settings, token_headers

from service.app import create_app
from service.client import allowed_hosts, client_address, forwarded_client
from service.settings import ServiceSettings, Settings


def _client(settings: Settings, engine: Engine, **kw: Any) -> TestClient:
    """A client of an app with ``settings`` (no 06:00 scheduler), not yet started."""
    app = create_app(settings, engine)
    app.state.scheduler_enabled = False
    return TestClient(app, raise_server_exceptions=False, **kw)


# ----------------------------------------------------------------------------------------
# Host
# ----------------------------------------------------------------------------------------
def test_default_hosts_are_the_bind_host_and_the_local_names() -> None:
    assert allowed_hosts(ServiceSettings()) == ["127.0.0.1", "localhost"]
    assert allowed_hosts(ServiceSettings(host="map.county.example")) == [
        "map.county.example",
        "localhost",
        "127.0.0.1",
    ]
    # 0.0.0.0 is no name a client uses.
    assert allowed_hosts(ServiceSettings(host="0.0.0.0")) == ["localhost", "127.0.0.1"]
    assert allowed_hosts(ServiceSettings(allowed_hosts=("*.county.example",))) == [
        "*.county.example"
    ]


def test_bad_wildcards_are_refused() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        ServiceSettings(allowed_hosts=("map.*.example",))


def test_unknown_host_is_a_400_problem(migrated_store_url: str, engine: Engine) -> None:
    settings = make_settings(migrated_store_url, service={"allowed_hosts": ("map.example",)})
    with _client(settings, engine, base_url="http://map.example") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "map.example:8443"}).status_code == 200
        for host in ("evil.example", "map.example.evil.example", "", "[::1]"):
            r = c.get("/healthz", headers={"Host": host})
            body = assert_problem(r, 400, "bad-request")
            assert "allowed_hosts" in body["detail"]
            assert "evil" not in r.text
        # Starlette's trailing-slash redirect builds its Location from the Host: refused.
        r = c.get("/m", headers={"Host": "evil.example"}, follow_redirects=False)
        assert r.status_code == 400 and "location" not in r.headers


def test_subdomain_wildcard(migrated_store_url: str, engine: Engine) -> None:
    settings = make_settings(migrated_store_url, service={"allowed_hosts": ("*.county.example",)})
    with _client(settings, engine, base_url="http://map.county.example") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "county.example.evil"}).status_code == 400


def test_tile_urls_come_from_the_public_url_or_the_checked_host(
    migrated_store_url: str, engine: Engine, county: Any
) -> None:
    base = {"rate_limit_per_minute": 0, "allowed_hosts": ("testserver", "map.example")}
    plain = make_settings(migrated_store_url, service=base)
    with _client(plain, engine) as c:
        headers = token_headers(engine, plain)["bureau1"]
        doc = c.get("/tiles/town_indicators.json", headers=headers).json()
        assert doc["tiles"][0].startswith("http://testserver/tiles/town_indicators/{z}/")
        other = c.get(
            "/tiles/town_indicators.json", headers={**headers, "Host": "map.example"}
        ).json()
        assert other["tiles"][0].startswith("http://map.example/tiles/")
        forged = c.get("/tiles/town_indicators.json", headers={**headers, "Host": "evil.example"})
        assert_problem(forged, 400, "bad-request")
    public = make_settings(
        migrated_store_url,
        service={**base, "public_url": "https://map.county.example/healthmap/"},
    )
    with _client(public, engine) as c:
        headers = token_headers(engine, public)["bureau1"]
        doc = c.get("/tiles/town_indicators.json", headers={**headers, "Host": "map.example"})
        assert doc.json()["tiles"][0].startswith(
            "https://map.county.example/healthmap/tiles/town_indicators/{z}/{x}/{y}.mvt"
        )


# ----------------------------------------------------------------------------------------
# The client's address
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("peer", "xff", "proxies", "expected"),
    [
        # No proxies configured (the default): the header is the client's own writing.
        ("127.0.0.1", "1.2.3.4", (), "127.0.0.1"),
        ("203.0.113.9", "1.2.3.4", (), "203.0.113.9"),
        # From a trusted proxy: the address it saw (the right-most entry).
        ("10.0.0.5", "1.2.3.4", ("10.0.0.5",), "1.2.3.4"),
        # A client that writes its own entry first does not choose its address.
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", ("10.0.0.0/24",), "1.2.3.4"),
        # Two proxies in a chain, both trusted: the address before them.
        ("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.7", ("10.0.0.0/24",), "1.2.3.4"),
        # Not from the proxy: the header is ignored.
        ("198.51.100.1", "1.2.3.4", ("10.0.0.5",), "198.51.100.1"),
        # From the proxy without the header, or with garbage: the proxy itself.
        ("10.0.0.5", None, ("10.0.0.5",), "10.0.0.5"),
        ("10.0.0.5", "not-an-ip", ("10.0.0.5",), "10.0.0.5"),
        ("::1", "2001:db8::1", ("::1",), "2001:db8::1"),
    ],
)
def test_forwarded_client(
    peer: str, xff: str | None, proxies: tuple[str, ...], expected: str
) -> None:
    assert forwarded_client(peer, xff, proxies) == expected


def _request(peer: str, xff: str | None, proxies: tuple[str, ...]) -> Request:
    app = SimpleNamespace(
        state=SimpleNamespace(
            settings=SimpleNamespace(service=ServiceSettings(trusted_proxies=proxies))
        )
    )
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers, "app": app})


def test_client_address_reads_the_settings() -> None:
    assert client_address(_request("127.0.0.1", "1.2.3.4", ())) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", "1.2.3.4", ("127.0.0.1",))) == "1.2.3.4"


def test_the_audit_log_records_the_address_behind_a_trusted_proxy(
    migrated_store_url: str, engine: Engine, users: Any
) -> None:
    settings = make_settings(
        migrated_store_url,
        service={"trusted_proxies": ("10.0.0.0/8",), "rate_limit_per_minute": 0},
    )
    login = {"username": "admin1", "password": users["admin1"][0]}
    with _client(settings, engine, client=("10.0.0.5", 4000)) as c:
        assert (
            c.post("/auth/token", data=login, headers={"X-Forwarded-For": "192.0.2.7"}).status_code
            == 200
        )
    with _client(make_settings(migrated_store_url), engine, client=("10.0.0.5", 4000)) as c:
        assert (
            c.post("/auth/token", data=login, headers={"X-Forwarded-For": "192.0.2.8"}).status_code
            == 200
        )
        h = token_headers(engine, settings)["admin1"]
        items = c.get("/admin/audit", params={"action": "login"}, headers=h).json()["items"]
    clients = sorted(i["client"] for i in items)
    assert clients == ["10.0.0.5", "192.0.2.7"]


# ----------------------------------------------------------------------------------------
# Disclosure and caching
# ----------------------------------------------------------------------------------------
def test_serve_hides_the_server_header_and_ignores_proxy_headers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import healthmap.cli as cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "state", cli.State())
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    for workers in ("1", "2"):
        result = CliRunner().invoke(cli.app, ["serve", "--db", db, "--workers", workers])
        assert result.exit_code == 0, result.output
    assert len(calls) == 2
    for kw in calls:
        assert kw["server_header"] is False
        assert kw["proxy_headers"] is False


def test_indicator_csv_is_not_kept_by_caches(api: TestClient, auth: dict[str, Any]) -> None:
    r = api.get("/api/v1/export/indicators.csv", params={"level": "town"}, headers=auth["center1"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "private, no-store"
    assert "server" not in r.headers
