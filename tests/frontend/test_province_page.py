"""The province page (/province/) and the county picker, in real headless Chromium, on a
two-county deployment (docs/province.md).

Shouguang (370783) and Changle (370725, 8 towns) at scale 0.003, each sampled, ingested
and built in its own partition of one SQLite store with the ``healthmap`` command (the
build publishes each county for the province), a province account in the root store and
a bureau account in Changle's, served by ``healthmap serve`` in a subprocess. The
province user logs in, sees both counties ranked with the city's and the province's rows,
the map with two county shapes, clicks Changle on the map and sees its 8 towns (withheld
ones hatched, the reason on hover), goes back, drills down from the table too. The
county's bureau logs in to the map through the log-in form's county picker and sees its
own county's console. No request leaves the server (Watch).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, HEALTHMAP, serving, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCALE = "0.003"
STATIC = Path(__file__).resolve().parents[2] / "service" / "static"
#: code → (name, city name, towns)
COUNTIES = {"370783": ("寿光市", "潍坊市", 16), "370725": ("昌乐县", "潍坊市", 8)}
PROVINCE_USER = ("prov1", "province-pass-1")
BUREAU_USER = ("bureau370725", "bureau-pass-370725")
#: Waits of the page: the first map load on a busy 2-core machine takes seconds.
WAIT_MS = 60_000


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMAP_")}
    env.update(HEALTHMAP_DATA_DIR=str(data_dir), HEALTHMAP_MODE="demo", **extra)
    return env


def _run(data_dir: Path, *args: str, **extra: str) -> None:
    done = subprocess.run(
        [HEALTHMAP, *args],
        cwd=data_dir,
        env=_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"healthmap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def province_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of ``healthmap serve`` on a built two-county deployment (about a minute)."""
    if not (STATIC / "province" / "index.html").is_file():
        message = "the front end is not built (make frontend)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the browser tests must run)", pytrace=False)
        pytest.skip(message)
    data = tmp_path_factory.mktemp("province")
    for code, (name, city, _towns) in COUNTIES.items():
        out = str(data / f"delivery_{code}")
        _run(data, "sample", "--out", out, "--scale", SCALE, "--as-of", AS_OF, "--county", code)
        _run(data, "counties", "add", code, "--name", name, "--city-name", city)
        _run(data, "--county", code, "ingest", out)
        _run(data, "--county", code, "build", "--as-of", AS_OF)
    username, password = PROVINCE_USER
    _run(data, "users", "add", username, "--role", "province", HEALTHMAP_NEW_PASSWORD=password)
    username, password = BUREAU_USER
    _run(
        data,
        "--county",
        "370725",
        "users",
        "add",
        username,
        "--role",
        "bureau",
        HEALTHMAP_NEW_PASSWORD=password,
    )
    env = _env(data)
    with serving([], ["--workers", "1"], data / "server.log", env, cwd=data) as base:
        yield base


def _province_api(base: str, path: str, **params: str) -> Any:
    username, password = PROVINCE_USER
    r = httpx.post(f"{base}/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.get(f"{base}{path}", params=params, headers=headers, timeout=60)
    r.raise_for_status()
    return r.json()


def _settled(page: Any) -> None:
    """Wait for the page's last load (ranking, map data, map drawn) to finish."""
    page.wait_for_function(
        "() => window.province && window.province.ready && !window.province.busy",
        timeout=WAIT_MS,
    )


def _choose_indicator(page: Any, code: str) -> None:
    page.select_option("#indicator", code)
    page.wait_for_function(
        "code => window.province.state.ranking && window.province.state.ranking.indicator === code"
        " && window.province.state.indicator === code && !window.province.busy",
        arg=code,
        timeout=WAIT_MS,
    )


#: The units drawn on the map (filled or hatched), one entry per unit.
RENDERED_UNITS = """() => {
  const feats = window.province.map.queryRenderedFeatures({layers: ['units-fill', 'units-hatch']});
  const seen = new Map();
  for (const f of feats) seen.set(f.properties.unit_id, f.properties.level);
  return [...seen.entries()];
}"""

#: A point of the map canvas on `layers` where the property `key` is `value` (any when
#: null): the middle one of a 6-pixel grid's hits, away from the unit's edges.
POINT_IN = """([layers, key, value]) => {
  const m = window.province.map;
  const c = m.getCanvas();
  const hits = [];
  for (let y = 4; y < c.clientHeight; y += 6) {
    for (let x = 4; x < c.clientWidth; x += 6) {
      const f = m.queryRenderedFeatures([x, y], {layers})[0];
      if (f && (value === null || f.properties[key] === value)) hits.push({x, y});
    }
  }
  return hits.length ? hits[Math.floor(hits.length / 2)] : null;
}"""


def _point_in(page: Any, layers: list[str], key: str, value: str | None) -> dict[str, Any]:
    point = page.evaluate(POINT_IN, [layers, key, value])
    assert point, f"nothing drawn on {layers} with {key}={value}"
    box = page.locator("#map").bounding_box()
    assert box is not None
    return {"x": box["x"] + point["x"], "y": box["y"] + point["y"]}


def test_province_ranks_counties_maps_them_and_drills_down(
    province_server: str, browser: Any, tmp_path: Path
) -> None:
    base = province_server
    ranking = _province_api(base, "/api/v1/province/ranking", indicator="signing_rate")
    by_rank = [c["name"] for c in sorted(ranking["counties"], key=lambda c: c["rank"])]
    with watched_page(browser, base, viewport={"width": 1400, "height": 950}) as page:
        page.goto(f"{base}/province/")
        page.wait_for_selector("#login:not(.hidden)")
        # The province logs in to the deployment itself: no county picker on this page.
        assert page.locator("#login-county").count() == 0
        username, password = PROVINCE_USER
        page.fill("#login-form input[name=username]", username)
        page.fill("#login-form input[name=password]", password)
        page.click("#login-form button[type=submit]")
        _settled(page)
        _choose_indicator(page, "signing_rate")

        # -- the ranking: both counties in the API's order, the city and province under ----
        rows = page.locator("#ranking tbody tr")
        assert rows.count() == 2
        assert rows.locator("td:nth-child(2)").all_inner_texts() == by_rank
        assert rows.locator("td.rank").all_inner_texts() == ["1", "2"]
        assert all(v.endswith("%") for v in rows.locator("td.value").all_inner_texts())
        totals = page.locator("#ranking tfoot tr")
        assert totals.count() == 2
        assert "潍坊市" in totals.nth(0).inner_text() and "地市合计" in totals.nth(0).inner_text()
        assert "全省合计" in totals.nth(1).inner_text()
        city = next(a for a in ranking["above"] if a["level"] == "city")
        assert f"{city['value'] * 100:.1f}%" in totals.nth(0).inner_text()

        # -- the map: two county shapes ----------------------------------------------------
        units = page.evaluate(RENDERED_UNITS)
        assert sorted(u for u, _ in units) == sorted(f"{c}000000" for c in COUNTIES)
        assert {level for _, level in units} == {"county"}
        page.screenshot(path=str(tmp_path / "province_counties.png"))

        # -- a click on Changle on the map: its 8 towns -------------------------------------
        point = _point_in(page, ["units-fill", "units-hatch"], "county_code", "370725000000")
        page.mouse.click(point["x"], point["y"])
        page.wait_for_function(
            "() => window.province.state.county === '370725000000'"
            " && window.province.state.units && window.province.state.units.level === 'town'"
            " && !window.province.busy",
            timeout=WAIT_MS,
        )
        _settled(page)
        units = page.evaluate(RENDERED_UNITS)
        assert len(units) == COUNTIES["370725"][2] == 8
        assert {level for _, level in units} == {"town"}
        assert all(u.startswith("370725") for u, _ in units)
        assert page.locator("#towns tbody tr").count() == 8
        assert page.locator("#back").is_visible()
        assert "昌乐县" in page.inner_text("#map-title")

        # -- a withheld town: hatched, its reason on hover -----------------------------------
        withheld = None
        for indicator in ("elderly_flu_vax_rate", "t2dm_control_rate", "htn_control_rate"):
            towns = _province_api(
                base, "/api/v1/province/map", indicator=indicator, county="370725"
            )["features"]
            if any(f["properties"]["suppressed"] for f in towns):
                withheld = indicator
                break
        if withheld is not None:
            _choose_indicator(page, withheld)
            _settled(page)
            point = _point_in(page, ["units-hatch"], "level", "town")
            page.mouse.move(point["x"], point["y"])
            page.wait_for_selector(".unit-popup")
            popup = page.inner_text(".unit-popup")
            assert "已隐藏" in popup or "过少" in popup, popup
            assert page.locator("#towns tbody tr.suppressed").count() >= 1
            page.screenshot(path=str(tmp_path / "province_towns.png"))
            page.mouse.move(2, 2)

        # -- back to every county ------------------------------------------------------------
        page.click("#back")
        page.wait_for_function(
            "() => window.province.state.county === null && !window.province.busy",
            timeout=WAIT_MS,
        )
        _settled(page)
        units = page.evaluate(RENDERED_UNITS)
        assert len(units) == 2 and {level for _, level in units} == {"county"}
        assert not page.locator("#back").is_visible()
        assert not page.locator("#towns-wrap").is_visible()

        # -- a click on a row of the table drills down too ----------------------------------
        page.click("#ranking tbody tr[data-county='370783000000']")
        page.wait_for_function(
            "() => window.province.state.county === '370783000000'"
            " && window.province.state.units.level === 'town' && !window.province.busy",
            timeout=WAIT_MS,
        )
        _settled(page)
        towns = _province_api(
            base, "/api/v1/province/map", indicator=page.input_value("#indicator"), county="370783"
        )["features"]
        assert len(page.evaluate(RENDERED_UNITS)) == len(towns) == COUNTIES["370783"][2]
        assert "selected" in (
            page.locator("#ranking tbody tr[data-county='370783000000']").get_attribute("class")
            or ""
        )


def test_county_bureau_logs_in_through_the_county_picker(
    province_server: str, browser: Any
) -> None:
    base = province_server
    with watched_page(browser, base, viewport={"width": 1280, "height": 900}) as page:
        # The console of one of Changle's towns (a bureau names the town in the address).
        page.goto(f"{base}/c/?town=370725001000")
        page.wait_for_selector("#login:not(.hidden) #login-county")
        options = page.eval_on_selector_all(
            "#login-county option:not([disabled])", "os => os.map(o => o.value)"
        )
        assert sorted(options) == sorted(COUNTIES)
        page.select_option("#login-county", "370725")
        username, password = BUREAU_USER
        page.fill("#login-form input[name=username]", username)
        page.fill("#login-form input[name=password]", password)
        page.click("#login-form button[type=submit]")
        # Its own county's console: Changle's town 宝城街道, from Changle's store.
        page.wait_for_function(
            "() => document.querySelector('#subtitle').textContent.includes('宝城街道')",
            timeout=WAIT_MS,
        )
        # The county is kept with the tokens: their refresh goes to the same county.
        kept = page.evaluate("() => JSON.parse(sessionStorage.getItem('healthmap.tokens')).county")
        assert kept == "370725"
