"""Tiny hand-built deliveries for the ingestion tests (a county of 1 town, 3 villages)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

KEY = "test-key"

# ----------------------------------------------------------------------------------------
# A tiny county: 1 town, 3 villages, a county box polygon around Shouguang
# ----------------------------------------------------------------------------------------
COUNTY = "370783000000"
TOWN = "370783001000"
V1, V2, V3 = "370783001001", "370783001002", "370783001003"
COUNTY_WKT = "POLYGON ((118.60 36.70, 119.00 36.70, 119.00 37.00, 118.60 37.00, 118.60 36.70))"


def id_number(birth: str, seq: int, area6: str = "370783") -> str:
    """A valid GB 11643 ID number (seq's parity gives the sex: odd male)."""
    from geo.coordinates import id_checksum_char

    body = f"{area6}{birth.replace('-', '')}{seq:03d}"
    return body + id_checksum_char(body)


def write_csv(
    path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8", header: list[str] | None = None
) -> Path:
    cols = header or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


AREAS = [
    dict(
        area_code=COUNTY,
        name="寿光市",
        level="county",
        parent_code="",
        lat=36.86,
        lng=118.79,
        geometry_wkt=COUNTY_WKT,
    ),
    dict(area_code=TOWN, name="圣城街道", level="town", parent_code=COUNTY, lat=36.87, lng=118.78),
    dict(area_code=V1, name="东村", level="village", parent_code=TOWN, lat=36.86, lng=118.78),
    dict(area_code=V2, name="西村", level="village", parent_code=TOWN, lat=36.90, lng=118.85),
    dict(area_code=V3, name="南村", level="village", parent_code=TOWN, lat=36.75, lng=118.70),
]
FACILITIES = [
    dict(
        facility_id="THC001",
        name="圣城卫生院",
        type="township_hc",
        area_code=TOWN,
        lat=36.87,
        lng=118.78,
        beds=40,
        open=1,
    ),
    dict(
        facility_id="VC0001",
        name="东村卫生室",
        type="村卫生室",
        area_code=V1,
        lat=36.861,
        lng=118.781,
        parent_facility_id="THC001",
        beds=0,
        open="是",
    ),
]
TEAMS = [dict(team_id="T0001", name="一队", facility_id="THC001", leader_staff_id="S001")]
STAFF = [
    dict(
        staff_id="S001",
        name="李医生",
        facility_id="THC001",
        role="gp",
        licensed="是",
        team_id="T0001",
    ),
    dict(
        staff_id="S002",
        name="王村医",
        facility_id="VC0001",
        role="village_doctor",
        licensed="0",
        team_id="T0001",
    ),
]
GRIDS = [
    dict(
        grid_id="G0001",
        name="东西网格",
        village_codes=f"{V1};{V2}",
        clinic_id="VC0001",
        team_id="T0001",
        grid_worker_ids="S002",
    )
]
RESIDENTS = [
    dict(
        resident_id="R001",
        id_number=id_number("1950-03-04", 11),
        name="张三",
        sex=1,
        birth_date="1950-03-04",
        area_code=V1,
        lat=36.8612,
        lng=118.7822,
        phone="13800000001",
        signed_team_id="T0001",
        signed_date="2024-01-02",
        status="active",
    ),
    dict(
        resident_id="R002",
        id_number=id_number("1962-07-08", 22),
        name="李四",
        sex="女",
        birth_date="1962/07/08",
        area_code=V2,
        signed_team_id="",
        status="",
    ),
    dict(
        resident_id="R003",
        id_number=id_number("1990-12-31", 33),
        name="王五",
        sex="男",
        birth_date="19901231",
        area_code=V3,
        lat=36.751,
        lng=118.701,
    ),
]


def base_delivery(folder: Path, **override: list[dict[str, Any]]) -> Path:
    """Write the tiny delivery (tables replaced by keyword, ``[]`` = no file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = dict(
        areas=AREAS,
        facilities=FACILITIES,
        teams=TEAMS,
        staff=STAFF,
        grids=GRIDS,
        residents=RESIDENTS,
    )
    tables.update(override)
    for name, rows in tables.items():
        if rows:
            write_csv(folder / f"{name}.csv", rows)
    return folder


def alias_file(path: Path, mapping: dict[str, dict[str, str]]) -> Path:
    path.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    return path


# --- reference datum formulas (the published closed forms, written out independently) ---
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _tlat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _tlng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def reference_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    dlat = _tlat(lng - 105.0, lat - 35.0)
    dlng = _tlng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sq = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * math.pi)
    dlng = (dlng * 180.0) / (_A / sq * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def reference_wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    x, y = reference_wgs84_to_gcj02(lng, lat)
    z = math.sqrt(x * x + y * y) + 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) + 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006
