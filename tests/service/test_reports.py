"""The planners' coverage report (issue 14 items 5 and 7): every format, on a hand-built result.

The result is a small :class:`pipelines.coverage.CoverageResult` built here: two towns of
H3 cells (resolution 9) around one village clinic each, one town's far cells beyond the
15-minute walk, two candidate sites of which one is chosen. Its figures are chosen so the
report's can be checked by hand (town A: 60 % covered, town B: 25 %; one cell of 4 people).

The PDF is rendered with poppler (``pdftoppm``, ``pdftotext``: Debian's poppler-utils, a
hard dependency of these tests); the HTML is opened in Debian's Chromium with every
request outside the file aborted and recorded (marked browser).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from geo.errors import BadParameterError, NotFoundError
from pipelines.coverage import CoverageResult
from service.reports import FORMATS, build_report, coverage_deck
from service.reports.deck import assert_offline, html_text
from service.reports.tables import prepare

COUNTY, TOWN_A, TOWN_B = "370783000000", "370783001000", "370783002000"
NAMES = {COUNTY: "寿光市", TOWN_A: "圣城街道", TOWN_B: "洛城街道"}
CENTRE_A = (36.880, 118.740)
CENTRE_B = (36.880, 118.800)
GROUPS = ("village_clinic", "township_hc", "county_hospital")
MODES = {"walk": 1.0, "ebike": 0.3, "drive": 0.15}


def _hexagon(cell: str) -> shapely.Polygon:
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def _cells() -> gpd.GeoDataFrame:
    rows = []
    for town, (lat, lng), clinic in ((TOWN_A, CENTRE_A, "VC_A"), (TOWN_B, CENTRE_B, "VC_B")):
        origin = h3.latlng_to_cell(lat, lng, 9)
        for cell in h3.grid_disk(origin, 4):
            ring = h3.grid_distance(origin, cell)
            walk = 3.0 + 4.0 * ring  # 3, 7, 11, 15, 19 minutes
            if town == TOWN_B:
                walk += 6.0  # town B is worse served: 9, 13, 17, ...
            clat, clng = h3.cell_to_latlng(cell)
            row: dict[str, Any] = {
                "h3": cell,
                "lat": clat,
                "lng": clng,
                "population": 100.0,
                "town_code": town,
                "grid_id": f"G{town[6:9]}",
            }
            for group in GROUPS:
                base = walk * (1 if group == "village_clinic" else 2.5)
                for mode, factor in MODES.items():
                    row[f"t_{group}_{mode}"] = base * factor
                row[f"near_{group}"] = clinic if group == "village_clinic" else "THC"
            row["two_sfca"] = 2.5 if town == TOWN_A else 1.5
            row["geometry"] = _hexagon(cell)
            rows.append(row)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame.loc[frame.index[-1], "population"] = 4.0  # a small number: withheld in reports
    return frame


def fake_result() -> CoverageResult:
    """A CoverageResult with the field names of pipelines.coverage (hand-built figures)."""
    cells = _cells()
    town_rows = []
    for code in (TOWN_A, TOWN_B, COUNTY):
        part = cells if code == COUNTY else cells[cells["town_code"] == code]
        pop = float(part["population"].sum())
        row: dict[str, Any] = {
            "area_code": code,
            "name": NAMES[code],
            "level": "county" if code == COUNTY else "town",
            "population": pop,
        }
        for group in ("village_clinic", "township_hc"):
            for mode in MODES:
                cov = float(part.loc[part[f"t_{group}_{mode}"] <= 15, "population"].sum())
                row[f"cov_{group}_{mode}"] = cov
                row[f"share_{group}_{mode}"] = cov / pop
        row |= {
            "village_clinics": 1 if code != COUNTY else 2,
            "pop_per_village_clinic": pop / (1 if code != COUNTY else 2),
            "township_hcs": 1,
            "doctors": 10.0,
            "gps": 1.0,
            "beds": 40.0,
            "doctors_per_1000": 10.0 / pop * 1000,
            "gps_per_10000": 1.0 / pop * 10000,
            "beds_per_1000": 40.0 / pop * 1000,
            "doctors_per_village_clinic": 2.0,
            "two_sfca_per_1000": float(np.average(part["two_sfca"], weights=part["population"])),
        }
        town_rows.append(row)
    towns = pd.DataFrame(town_rows)
    standards = []
    for row in town_rows:
        for code, label, target, unit in (
            ("doctors_per_1000", "每千常住人口执业(助理)医师数", 3.2, "per 1000"),
            ("beds_per_1000", "每千常住人口床位数", 7.5, "per 1000"),
        ):
            value = row[code]
            standards.append(
                {
                    "area_code": row["area_code"],
                    "name": row["name"],
                    "level": row["level"],
                    "standard": code,
                    "label_zh": label,
                    "label_en": code,
                    "op": ">=",
                    "target": target,
                    "value": value,
                    "met": value >= target,
                    "gap": max(0.0, target - value),
                    "unit": unit,
                    "source": "National 2025 target (seed 003)",
                }
            )
    outside = cells[cells["t_village_clinic_walk"] > 15].sort_values("population", ascending=False)
    underserved = outside[
        [
            "h3",
            "lat",
            "lng",
            "town_code",
            "grid_id",
            "population",
            "t_village_clinic_walk",
            "near_village_clinic",
        ]
    ].reset_index(drop=True)
    underserved.insert(0, "rank", np.arange(1, len(underserved) + 1))
    catchments = gpd.GeoDataFrame(
        [
            {
                "facility_id": clinic,
                "name": f"{NAMES[town]}村卫生室",
                "type": "village_clinic",
                "group": "village_clinic",
                "population": float(cells.loc[cells["town_code"] == town, "population"].sum()),
                "cells": int((cells["town_code"] == town).sum()),
                "geometry": shapely.union_all(
                    np.asarray(cells.loc[cells["town_code"] == town, "geometry"])
                ),
            }
            for town, clinic in ((TOWN_A, "VC_A"), (TOWN_B, "VC_B"))
        ],
        geometry="geometry",
        crs="EPSG:4326",
    )
    first_b = underserved[underserved["town_code"] == TOWN_B].iloc[0]
    site_lat, site_lng = h3.cell_to_latlng(first_b["h3"])
    sites = pd.DataFrame(
        [
            {
                "candidate_id": "C1",
                "name": "东庄村",
                "area_code": "370783002001",
                "town_code": TOWN_B,
                "lat": site_lat,
                "lng": site_lng,
                "newly_covered": 700.0,
                "order": 1,
            }
        ]
    )
    sites.attrs["newly_covered"] = 700.0
    candidates = pd.DataFrame(
        [
            {
                "candidate_id": "C1",
                "name": "东庄村",
                "lat": site_lat,
                "lng": site_lng,
                "town_code": TOWN_B,
                "chosen": True,
            },
            {
                "candidate_id": "C2",
                "name": "西庄村",
                "lat": CENTRE_A[0] + 0.01,
                "lng": CENTRE_A[1],
                "town_code": TOWN_A,
                "chosen": False,
            },
        ]
    )
    before_after = towns[["area_code", "population"]].rename(columns={"area_code": "town_code"})
    before_after["covered_before"] = towns["cov_village_clinic_walk"]
    before_after["covered_after"] = towns["cov_village_clinic_walk"] + np.where(
        before_after["town_code"].isin([TOWN_B, COUNTY]), 700.0, 0.0
    )
    before_after["share_before"] = before_after["covered_before"] / before_after["population"]
    before_after["share_after"] = before_after["covered_after"] / before_after["population"]
    pmedian = pd.DataFrame(
        [
            {
                "facility_id": "THC",
                "name": "圣城街道卫生院",
                "town_code": TOWN_A,
                "lat": CENTRE_A[0],
                "lng": CENTRE_A[1],
                "mean_minutes": 12.5,
            }
        ]
    )
    two_sfca = cells[["h3", "population", "two_sfca"]].copy()
    return CoverageResult(
        cells=cells,
        towns=towns,
        grids=pd.DataFrame(),
        standards=pd.DataFrame(standards),
        catchments=catchments,
        two_sfca=two_sfca,
        underserved=underserved,
        siting={
            "mclp_sites": sites,
            "mclp_towns": before_after,
            "pmedian": pmedian,
            "candidates": candidates,
        },
        meta={
            "data_date": "2026-06-30",
            "travel_model": "straight_line",
            "population_source": "residents",
            "thresholds": {
                "detour_factor": 1.3,
                "speeds_kmh": {"walk": 4.5, "ebike": 15.0, "drive": 30.0},
                "service_minutes": 15.0,
                "catchment_minutes": 30.0,
                "two_sfca_mode": "drive",
                "siting_k": 1,
                "min_count": 10,
                "h3_resolution": 9,
            },
            "standards_sources": {"doctors_per_1000": "National 2025 target (seed 003)"},
            "h3_resolution": 9,
        },
    )


@pytest.fixture(scope="module")
def result() -> CoverageResult:
    return fake_result()


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install -y poppler-utils"
    return path


# ----------------------------------------------------------------------------------------
# Content: the figures of the hand-built county, suppression, town filter
# ----------------------------------------------------------------------------------------
def test_towns_table_has_hand_computed_shares(result: CoverageResult) -> None:
    data = prepare(result)
    towns = data.tables["乡镇覆盖与资源"].set_index("乡镇")
    # Town A walks 3/7/11/15 min within ring 3 (1+6+12+18 = 37 of 61 cells), town B
    # 9/13 within ring 1 (7 of 61): shares of 100-person cells (town B's last has 4).
    column = "村卫生室15分钟步行覆盖率"
    assert towns.loc["圣城街道", column] == f"{100 * 37 / 61:.1f}%"
    assert towns.loc["洛城街道", column] == f"{100 * 700 / 6004:.1f}%"
    assert towns.loc["寿光市", column] == f"{100 * 4400 / 12104:.1f}%"
    assert towns.loc["圣城街道", "常住人口"] == "6,100"


def test_small_numbers_are_withheld(result: CoverageResult) -> None:
    data = prepare(result)
    cells = data.layers["travel_time_cells"]
    small = cells[cells["population_withheld"]]
    assert len(small) == 1 and small["population"].isna().all()
    under = data.tables["服务薄弱区域"]
    assert "<10" not in under["人口"].tolist()  # the top 30 are all 100-person cells
    everything = prepare(result, k=200)
    assert set(everything.tables["服务薄弱区域"]["人口"]) == {"<200"}


def test_standards_table_says_met_and_gap(result: CoverageResult) -> None:
    table = prepare(result).tables["规划标准"]
    # 10 doctors / 6100 people = 1.64 per 1000: misses 3.2 by 1.56.
    row = table[(table["地区"] == "圣城街道") & (table["标准"].str.contains("医师"))].iloc[0]
    assert row["结论"] == "未达标"
    assert row["差距"] == f"{3.2 - 10 / 6100 * 1000:.2f}"
    assert row["现状"] == f"{10 / 6100 * 1000:.2f}"


def test_town_report_keeps_town_and_county(result: CoverageResult) -> None:
    data = prepare(result, town=TOWN_B)
    assert data.title.startswith("洛城街道")
    assert list(data.tables["乡镇覆盖与资源"]["乡镇"]) == ["洛城街道", "寿光市"]
    assert set(data.layers["travel_time_cells"]["town_code"]) == {TOWN_B}
    assert list(data.tables["新增村卫生室选址"]["候选点"]) == ["东庄村"]
    with pytest.raises(NotFoundError):
        prepare(result, town="370783099000")


def test_methods_note(result: CoverageResult) -> None:
    methods = dict(prepare(result).methods)
    assert methods["数据截至"] == "2026-06-30"
    assert methods["出行模型"] == "直线距离 × 1.3（无路网数据）"
    assert "步行 4.5 km/h" in methods["出行速度"]
    assert "每千常住人口执业(助理)医师数：National 2025 target" in methods["规划标准来源"]


def test_unknown_format(result: CoverageResult, tmp_path: Path) -> None:
    with pytest.raises(BadParameterError):
        build_report(result, "docx", tmp_path / "r.docx")


# ----------------------------------------------------------------------------------------
# PDF: renders, Chinese text extractable, maps drawn
# ----------------------------------------------------------------------------------------
def test_pdf_renders_with_chinese_text_and_maps(result: CoverageResult, tmp_path: Path) -> None:
    steps: list[tuple[str, float]] = []
    out = build_report(
        result, "pdf", tmp_path / "report.pdf", progress=lambda s, f: steps.append((s, f))
    )
    assert out.read_bytes()[:5] == b"%PDF-"
    assert steps[-1] == ("done", 1.0)
    assert [f for _, f in steps] == sorted(f for _, f in steps)  # progress only goes up
    text = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("圣城街道", "洛城街道", "寿光市"):
        assert name in text
    for heading in ("规划标准", "服务薄弱区域", "新增村卫生室选址", "方法说明", "东庄村", "未达标"):
        assert heading in text
    fonts = subprocess.run(
        [_poppler("pdffonts"), str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert "NotoSansCJK" in fonts  # the glyphs are the CJK font's, not empty boxes
    subprocess.run(
        [_poppler("pdftoppm"), "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 6
    cover = np.asarray(Image.open(pages[0]).convert("RGB")).astype(int)
    # The county map: cells in the class colours of 5–10 min and 15–30 min.
    for colour, name in (((0x91, 0xCF, 0x60), "5-10 min"), ((0xFC, 0x8D, 0x59), "15-30 min")):
        near = (np.abs(cover - np.array(colour)).sum(axis=2) < 40).sum()
        assert near > 50, f"the cover map has no {name} cells"
    town_page = np.asarray(Image.open(pages[1]).convert("RGB")).astype(int)
    drawn = (np.abs(town_page - 255).sum(axis=2) > 30).mean()
    assert drawn > 0.05  # the town maps are drawn, not an empty page


def test_town_pdf(result: CoverageResult, tmp_path: Path) -> None:
    out = build_report(result, "pdf", tmp_path / "town.pdf", town=TOWN_A)
    text = subprocess.run(
        [_poppler("pdftotext"), str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "圣城街道医疗服务覆盖与规划评估报告" in text
    assert "洛城街道" not in text


# ----------------------------------------------------------------------------------------
# XLSX, GeoPackage, GeoJSON
# ----------------------------------------------------------------------------------------
def test_xlsx_has_the_tables(result: CoverageResult, tmp_path: Path) -> None:
    out = build_report(result, "xlsx", tmp_path / "report.xlsx")
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) >= {
        "乡镇覆盖与资源",
        "规划标准",
        "服务薄弱区域",
        "新增村卫生室选址",
        "选址前后覆盖",
        "方法说明",
    }
    towns = sheets["乡镇覆盖与资源"].set_index("乡镇")
    assert towns.loc["圣城街道", "村卫生室15分钟步行覆盖率"] == f"{100 * 37 / 61:.1f}%"
    assert sheets["选址前后覆盖"].set_index("地区").loc["洛城街道", "选址后覆盖"] == "1,400"


def test_gpkg_opens_with_geopandas_and_holds_the_layers(
    result: CoverageResult, tmp_path: Path
) -> None:
    import pyogrio

    out = build_report(result, "gpkg", tmp_path / "report.gpkg")
    names = {name for name, _ in pyogrio.list_layers(out)}
    assert names == {
        "travel_time_cells",
        "catchments",
        "candidate_sites",
        "chosen_sites",
        "sub_centre",
    }
    cells = gpd.read_file(out, layer="travel_time_cells")
    assert len(cells) == 122 and cells.crs.to_epsg() == 4326
    assert (cells.geom_type == "Polygon").all()
    assert cells["t_village_clinic_walk"].min() == pytest.approx(3.0)
    chosen = gpd.read_file(out, layer="chosen_sites")
    assert list(chosen["name"]) == ["东庄村"] and chosen["newly_covered"].iloc[0] == 700
    catchments = gpd.read_file(out, layer="catchments")
    assert set(catchments["facility_id"]) == {"VC_A", "VC_B"}
    # Written again: a fresh file, not layers appended.
    build_report(result, "gpkg", out)
    assert len(gpd.read_file(out, layer="travel_time_cells")) == 122


def test_geojson_layers(result: CoverageResult, tmp_path: Path) -> None:
    out = build_report(result, "geojson", tmp_path / "report.geojson")
    collection = json.loads(out.read_text(encoding="utf-8"))
    layers = pd.Series([f["properties"]["layer"] for f in collection["features"]])
    assert layers.value_counts().to_dict() == {
        "travel_time_cells": 122,
        "catchments": 2,
        "candidate_sites": 2,
        "chosen_sites": 1,
        "sub_centre": 1,
    }
    withheld = [f for f in collection["features"] if f["properties"].get("population_withheld")]
    assert len(withheld) == 1 and "population" not in withheld[0]["properties"]


# ----------------------------------------------------------------------------------------
# HTML (pydeck)
# ----------------------------------------------------------------------------------------
def test_deck_for_notebooks(result: CoverageResult) -> None:
    deck = coverage_deck(result)
    spec = json.loads(deck.to_json())
    types = [layer["@@type"] for layer in spec["layers"]]
    assert types[0] == "H3HexagonLayer" and "ScatterplotLayer" in types
    assert len(spec["layers"][0]["data"]) == 122
    assert "mapStyle" not in spec or not spec["mapStyle"]


def test_html_has_no_external_reference(result: CoverageResult) -> None:
    text = html_text(prepare(result))
    # The markup, without the inlined scripts' bodies (deck.gl's bundle holds URLs as
    # strings, e.g. in attribution HTML; only tags load anything).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", text, flags=re.S)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert markup.count("<script") == 2  # the inlined bundle and the deck's own
    assert "Content-Security-Policy" in markup and "寿光市" in markup
    with pytest.raises(ValueError):
        assert_offline('<script src="https://cdn.example/x.js"></script>')


@pytest.mark.browser
def test_html_opens_offline_in_chromium(result: CoverageResult, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    out = build_report(result, "html", tmp_path / "report.html")
    attempts: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.split(":", 1)[0] in ("file", "data", "blob"):
            r.continue_()
        else:
            attempts.append(url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 900, "height": 700})
            context.route("**/*", route)
            context.on(
                "request",
                lambda req: (
                    attempts.append(req.url)
                    if req.url.split(":", 1)[0] not in ("file", "data", "blob")
                    else None
                ),
            )
            page = context.new_page()
            # A request the Content-Security-Policy refuses never reaches the route:
            # record those attempts too.
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation',"
                " e => console.error('CSP ' + e.blockedURI));"
            )
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.as_uri())
            page.wait_for_function(
                "document.querySelector('#deck-container canvas') !== null", timeout=30_000
            )
            page.wait_for_timeout(2000)
            shot = page.screenshot()
        finally:
            browser.close()
    assert attempts == [], f"the page tried to reach: {attempts}"
    assert not errors, errors
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    # Right of the legend: the hexagons in their class colours over the light background.
    body = image[:, 340:]
    background = np.array([0xF7, 0xF7, 0xF7])
    drawn = (np.abs(body - background).sum(axis=2) > 40).mean()
    assert drawn > 0.02, "the layers were not drawn"
    # Cells are drawn at alpha 200/255 over the background: look for the blended colours.
    for colour, name in (((0x91, 0xCF, 0x60), "5-10 min"), ((0xFC, 0x8D, 0x59), "15-30 min")):
        blended = np.array(colour) * 200 / 255 + background * 55 / 255
        assert (np.abs(body - blended).sum(axis=2) < 30).sum() > 50, f"no {name} cells drawn"


def test_formats_table() -> None:
    assert set(FORMATS) == {"pdf", "xlsx", "gpkg", "geojson", "html"}


# ----------------------------------------------------------------------------------------
# The page's downloads: a job per report, its progress, its file
# ----------------------------------------------------------------------------------------
def test_report_job_over_http(
    api: Any,
    auth: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    result: CoverageResult,
) -> None:
    import time

    import service.reports.routes as report_routes

    monkeypatch.setattr(report_routes, "coverage_result", lambda engine, config: result)
    planner = auth["planner1"]
    r = api.post("/api/v1/coverage/reports", json={"format": "xlsx"}, headers=planner)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/api/v1/coverage/reports/{job['job_id']}"
    assert job["status"] in ("queued", "running", "succeeded") and 0 <= job["progress"] <= 1
    deadline = time.monotonic() + 60
    seen = []
    while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = api.get(f"/api/v1/coverage/reports/{job['job_id']}", headers=planner).json()
        seen.append(job["progress"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and seen == sorted(seen)
    file = api.get(job["file"], headers=planner)
    assert file.status_code == 200
    assert 'filename="coverage.xlsx"' in file.headers["content-disposition"]
    sheets = pd.read_excel(io.BytesIO(file.content), sheet_name=None)
    assert "规划标准" in sheets
    # Someone else's job is not found; a doctor may not ask for reports at all.
    other = api.get(f"/api/v1/coverage/reports/{job['job_id']}", headers=auth["admin1"])
    assert other.status_code == 404
    doctor = api.post("/api/v1/coverage/reports", json={"format": "pdf"}, headers=auth["doctor1"])
    assert doctor.status_code == 403
    bad = api.post("/api/v1/coverage/reports", json={"format": "docx"}, headers=planner)
    assert bad.status_code == 422
