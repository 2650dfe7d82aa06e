"""Two counties in one deployment (issue 16): each county sees only itself, the province
sees both counties' aggregates and nothing personal, and one county's re-ingest and
rebuild leave the other untouched.

Shouguang (370783) and Changle (370725) from the sample generator, each ingested and
built into its own partition of one store (a schema on PostGIS, a file on SQLite), on
both backends; the service is the root app, which starts each county's app.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from svc_helpers import make_settings
from tests_support import StoreBackend

from geo.rules import DEFAULT_RULES
from pipelines.build import run_build
from pipelines.ingest.delivery import ingest_delivery
from pipelines.province import publish_county
from pipelines.sample.county import generate_county
from service.accounts import add_user
from service.app import create_app
from service.auth import ALGORITHM, signing_key
from service.settings import Settings
from service.terminal_auth import signed_headers
from store.counties import open_partition
from store.engine import make_engine, migrate
from store.models import Area, Resident, Team
from store.province import publications, register_county
from store.results import Build, IndicatorValue

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 6, 30)
SCALE = 0.003
COUNTIES = {"370783": "寿光市", "370725": "昌乐县"}


def _load(url: str, code: str, out: Path) -> None:
    """Generate, ingest, build (D only) and publish county ``code`` in its partition."""
    if not (out / code).exists():
        generate_county(out / code, scale=SCALE, seed=0, as_of=AS_OF, county=code)
    part = open_partition(url, code)
    root = make_engine(url)
    try:
        summary = ingest_delivery(out / code, part)
        assert summary.quarantined == 0
        run_build(part, AS_OF, DEFAULT_RULES, months=0, workers=1)
        publish_county(part, root)
    finally:
        part.dispose()
        root.dispose()


@pytest.fixture(scope="module")
def province(
    store_backend: StoreBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    urls = store_backend.fresh_urls(tmp_path_factory)
    url = next(urls)
    out = tmp_path_factory.mktemp("deliveries")
    root = make_engine(url)
    migrate(root)
    for code, name in COUNTIES.items():
        register_county(root, f"{code}000000", name, "370700000000", "潍坊市")
        _load(url, code, out)
    with Session(root) as session:
        add_user(session, "prov1", "province-pass-1", "province")
        session.commit()
    first_team: dict[str, str] = {}
    for code in COUNTIES:
        part = open_partition(url, code)
        with Session(part) as session:
            team = session.scalar(select(Team.team_id).order_by(Team.team_id).limit(1))
            assert team is not None
            first_team[code] = team
            add_user(session, f"bureau{code}", f"bureau-pass-{code}", "bureau")
            add_user(session, f"doctor{code}", f"doctor-pass-{code}", "doctor", team_id=team)
            add_user(session, f"admin{code}", f"admin-pass-{code}", "admin")
            session.commit()
        part.dispose()
    root.dispose()
    try:
        yield {"url": url, "out": out, "first_team": first_team}
    finally:
        urls.close()


@pytest.fixture(scope="module")
def settings(province: dict[str, Any]) -> Settings:
    return make_settings(province["url"], service={"rate_limit_per_minute": 0})


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.state.scheduler_enabled = False
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _login(client: TestClient, username: str, password: str, county: str | None) -> dict[str, str]:
    query = f"?county={county}" if county else ""
    r = client.post(f"/auth/token{query}", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _partition_counts(url: str, code: str) -> dict[str, Any]:
    part = open_partition(url, code, migrated=False)
    try:
        with part.connect() as conn:
            return {
                "residents": conn.scalar(select(func.count()).select_from(Resident)),
                "builds": conn.execute(select(Build.build_id).order_by(Build.build_id)).all(),
                "values": conn.scalar(select(func.count()).select_from(IndicatorValue)),
            }
    finally:
        part.dispose()


def test_the_counties_are_registered_and_public(client: TestClient) -> None:
    r = client.get("/api/v1/counties")
    assert r.status_code == 200
    assert [(c["county_code"], c["name"]) for c in r.json()] == [
        ("370725000000", "昌乐县"),
        ("370783000000", "寿光市"),
    ]


def test_each_county_bureau_sees_its_own_county_only(client: TestClient) -> None:
    for code, other in (("370783", "370725"), ("370725", "370783")):
        headers = _login(client, f"bureau{code}", f"bureau-pass-{code}", code)
        r = client.get(
            "/api/v1/indicators?level=town&indicator=signing_rate&limit=500", headers=headers
        )
        assert r.status_code == 200, r.text
        towns = {row["unit_id"] for row in r.json()["items"]}
        assert towns and all(t.startswith(code) for t in towns)
        assert len(towns) == (16 if code == "370783" else 8)
        # The other county's town is not there, exactly as if it did not exist.
        r = client.get(f"/api/v1/indicators/town/{other}001000", headers=headers)
        assert r.status_code == 404
        r = client.get(f"/api/v1/indicators/county/{other}000000", headers=headers)
        assert r.status_code == 404
        # Naming the other county beside one's own token changes nothing: the token decides.
        r = client.get(
            f"/api/v1/indicators/county/{other}000000",
            headers={**headers, "X-Healthmap-County": other},
        )
        assert r.status_code == 404
        # The county's own figure is there; the province's routes are not the bureau's.
        assert (
            client.get(f"/api/v1/indicators/county/{code}000000", headers=headers).status_code
            == 200
        )
        r = client.get("/api/v1/province/ranking?indicator=signing_rate", headers=headers)
        assert r.status_code == 403


def test_one_county_accounts_and_tokens_do_not_open_another(
    client: TestClient, settings: Settings, province: dict[str, Any]
) -> None:
    # The same account name and password, asked of the other county: unknown there.
    r = client.post(
        "/auth/token?county=370725",
        data={"username": "bureau370783", "password": "bureau-pass-370783"},
    )
    assert r.status_code == 401
    # A Shouguang doctor's team id asked of Changle with a Shouguang token stays in Shouguang.
    doctor = _login(client, "doctor370783", "doctor-pass-370783", "370783")
    team = province["first_team"]["370783"]
    assert client.get(f"/api/v1/teams/{team}/pushlist", headers=doctor).status_code == 200
    # A token re-addressed to Changle (its audience changed) fails Changle's signature check;
    # one signed with Shouguang's key for Changle's audience fails too.
    claims = jwt.decode(
        doctor["Authorization"][7:], options={"verify_signature": False}, algorithms=[ALGORITHM]
    )
    shouguang = settings.for_county("370783").token_auth
    changle = settings.for_county("370725").token_auth
    assert shouguang.secret != changle.secret
    forged = jwt.encode(
        {**claims, "aud": changle.audience}, signing_key(shouguang.secret), algorithm=ALGORITHM
    )
    r = client.get(f"/api/v1/teams/{team}/pushlist", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    # The root key (the province's) does not open a county either.
    forged = jwt.encode(
        {**claims, "aud": changle.audience}, signing_key(settings.auth.secret), algorithm=ALGORITHM
    )
    r = client.get(f"/api/v1/teams/{team}/pushlist", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    # A county that is not in the deployment.
    assert (
        client.post(
            "/auth/token?county=370781", data={"username": "x", "password": "y"}
        ).status_code
        == 404
    )


def _county_values(url: str, code: str, indicator: str) -> tuple[float, float, float]:
    part = open_partition(url, code, migrated=False)
    try:
        with part.connect() as conn:
            t = IndicatorValue
            row = conn.execute(
                select(t.numerator, t.denominator, t.value).where(
                    t.level == "county", t.indicator == indicator, t.period == AS_OF
                )
            ).one()
    finally:
        part.dispose()
    return float(row[0]), float(row[1]), float(row[2])


def test_province_sees_both_counties_aggregates(
    client: TestClient, province: dict[str, Any]
) -> None:
    headers = _login(client, "prov1", "province-pass-1", None)
    r = client.get("/api/v1/province/ranking?indicator=signing_rate", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == AS_OF.isoformat()
    by_code = {c["county_code"][:6]: c for c in body["counties"]}
    assert set(by_code) == set(COUNTIES)
    nums = dens = 0.0
    for code in COUNTIES:
        num, den, value = _county_values(province["url"], code, "signing_rate")
        assert by_code[code]["value"] == pytest.approx(value)
        assert by_code[code]["numerator"] == num and by_code[code]["denominator"] == den
        nums, dens = nums + num, dens + den
    values = sorted((c["value"] for c in body["counties"]), reverse=True)
    assert [c["value"] for c in body["counties"]] == values
    assert [c["rank"] for c in body["counties"]] == [1, 2]
    city = next(a for a in body["above"] if a["level"] == "city")
    assert (city["unit_id"], city["name"], city["counties"]) == ("370700000000", "潍坊市", 2)
    assert city["value"] == pytest.approx(nums / dens)
    # The map by county, and the drill-down into Changle's towns.
    r = client.get("/api/v1/province/map?indicator=signing_rate", headers=headers)
    assert r.status_code == 200
    assert {f["id"] for f in r.json()["features"]} == {f"{c}000000" for c in COUNTIES}
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in r.json()["features"])
    r = client.get("/api/v1/province/map?indicator=signing_rate&county=370725", headers=headers)
    assert r.status_code == 200
    towns = r.json()["features"]
    assert len(towns) == 8 and all(f["id"].startswith("370725") for f in towns)


def test_province_sees_nothing_personal(client: TestClient, province: dict[str, Any]) -> None:
    headers = _login(client, "prov1", "province-pass-1", None)
    team = province["first_team"]["370725"]
    for path in (
        "/api/v1/indicators?level=town",
        f"/api/v1/teams/{team}/pushlist",
        "/api/v1/hotspots?indicator=htn_prevalence&level=h3:8",
        "/api/v1/export/indicators.csv?level=town",
    ):
        for extra in ({}, {"X-Healthmap-County": "370725"}):
            r = client.get(
                f"{path}{'&' if '?' in path else '?'}county=370725", headers={**headers, **extra}
            )
            assert r.status_code in (403, 404), (path, r.status_code)
    # The root store holds no person: nothing a province route could leak.
    root = make_engine(province["url"])
    try:
        with root.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Resident)) == 0
            assert conn.scalar(select(func.count()).select_from(Area)) == 0
    finally:
        root.dispose()


def test_a_county_reloads_and_rebuilds_without_touching_the_other(
    province: dict[str, Any],
) -> None:
    url, out = province["url"], province["out"]
    root = make_engine(url)
    try:
        before_pub = publications(root).set_index("county_code")
        before = {code: _partition_counts(url, code) for code in COUNTIES}
        _load(url, "370725", out)  # Changle's delivery again, and its build
        after_pub = publications(root).set_index("county_code")
    finally:
        root.dispose()
    after = {code: _partition_counts(url, code) for code in COUNTIES}
    assert after["370783"] == before["370783"]
    assert after_pub.loc["370783000000"].equals(before_pub.loc["370783000000"])
    assert after["370725"]["residents"] == before["370725"]["residents"]
    assert after["370725"]["builds"] != before["370725"]["builds"]
    assert after_pub.loc["370725000000", "build_id"] != before_pub.loc["370725000000", "build_id"]


def test_access_log_names_the_county_that_answered(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    headers = _login(client, "bureau370725", "bureau-pass-370725", "370725")
    province = _login(client, "prov1", "province-pass-1", None)
    # Only the two requests below: an earlier test may have left the logger at INFO, in
    # which case the log-ins above were captured too.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="healthmap.access"):
        client.get("/api/v1/meta", headers=headers)
        client.get("/api/v1/province/meta", headers=province)
    lines = [r.access for r in caplog.records if hasattr(r, "access")]
    assert [(line["path"], line["county"]) for line in lines] == [
        ("/api/v1/meta", "370725"),
        ("/api/v1/province/meta", None),
    ]


def _resident_of(url: str, code: str) -> str:
    part = open_partition(url, code, migrated=False)
    try:
        with part.connect() as conn:
            return str(conn.scalar(select(Resident.resident_id).order_by(Resident.resident_id)))
    finally:
        part.dispose()


def test_a_terminal_posts_to_its_county_by_header(
    client: TestClient, province: dict[str, Any]
) -> None:
    """A terminal has no bearer token: X-Healthmap-County routes its signed reading."""
    admin = _login(client, "admin370725", "admin-pass-370725", "370725")
    r = client.post("/api/v1/admin/terminals", json={"terminal_id": "TM-CL-1"}, headers=admin)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    resident = _resident_of(province["url"], "370725")
    body = json.dumps(
        {
            "measurement_id": "TM-CL-1-1",
            "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "resident_id": resident,
            "values": {"sbp": 128, "dbp": 82},
        }
    ).encode()
    path = "/api/v1/terminal/readings"
    signed = signed_headers("TM-CL-1", key, "POST", path, body, time.time())
    headers = {**signed, "Content-Type": "application/json"}
    # Without its county the request is the root's, which knows no terminal.
    assert client.post(path, content=body, headers=headers).status_code == 401
    r = client.post(path, content=body, headers={**headers, "X-Healthmap-County": "370725"})
    assert r.status_code in (200, 201), r.text
    # Shouguang does not know Changle's terminal.
    signed = signed_headers("TM-CL-1", key, "POST", path, body, time.time())
    r = client.post(
        path,
        content=body,
        headers={**signed, "Content-Type": "application/json", "X-Healthmap-County": "370783"},
    )
    assert r.status_code == 401
