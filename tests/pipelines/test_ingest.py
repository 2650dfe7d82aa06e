"""End-to-end ingestion of tiny deliveries, on SQLite and PostGIS."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import (
    AREAS,
    KEY,
    TOWN,
    V1,
    V2,
    V3,
    base_delivery,
    id_number,
    write_csv,
)
from sqlalchemy import Engine, text

from geo.rules import RulesConfig
from pipelines import load
from pipelines.ingest.delivery import ingest_delivery, list_quarantine, quarantine_counts
from pipelines.ingest.schema import REASONS
from pipelines.ingest.settings import IngestSettings


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    for t, key in [
        ("areas", "area_code"),
        ("facilities", "facility_id"),
        ("teams", "team_id"),
        ("staff", "staff_id"),
        ("grids", "grid_id"),
        ("grid_villages", "area_code"),
        ("residents", "resident_id"),
        ("followups", "followup_id"),
        ("measurements", "measurement_id"),
        ("claims", "claim_id"),
        ("mobility", "h3, hour, origin_h3"),
        ("case_reports", "report_id"),
    ]:
        out[t] = [
            tuple(str(v) for v in r) for r in rows(engine, f"SELECT * FROM {t} ORDER BY {key}")
        ]
    return out


def test_tiny_delivery_loads_with_placement(
    engine: Engine, delivery: Path, settings: IngestSettings
) -> None:
    s = ingest_delivery(delivery, engine, settings, RulesConfig())
    assert {f.status for f in s.files} == {"loaded"}
    assert s.tables["residents"].loaded == 3 and s.quarantined == 0
    res = {
        r[0]: r
        for r in rows(
            engine,
            "SELECT resident_id, lat, lng, loc_precision, town_code, "
            "grid_id, id_hash, id_masked, h3_8, h3_10, sex, status "
            "FROM residents",
        )
    }
    # R002 has no coordinates: placed at its village's seat
    r2 = res["R002"]
    assert (r2[1], r2[2], r2[3]) == (36.90, 118.85, "village")
    assert r2[4] == TOWN and r2[5] == "G0001" and r2[10] == 2 and r2[11] == "active"
    assert res["R001"][3] == "exact" and res["R001"][5] == "G0001"
    assert res["R003"][5] is None  # V3 is in no grid
    idn = id_number("1950-03-04", 11)
    assert res["R001"][6] == hmac.new(KEY.encode(), idn.encode(), hashlib.sha256).hexdigest()
    assert res["R001"][7] == idn[:4] + "*" * 10 + idn[-4:]
    import h3

    assert res["R001"][9] == h3.latlng_to_cell(36.8612, 118.7822, 10)
    assert res["R001"][8] == h3.cell_to_parent(res["R001"][9], 8)
    # no clear ID number anywhere in the store
    for t in ("residents", "quarantine", "ingest_files"):
        assert idn not in json.dumps(rows(engine, f"SELECT * FROM {t}"), default=str)
    fac = {
        r[0]: r[1:]
        for r in rows(engine, "SELECT facility_id, type, open, town_code FROM facilities")
    }
    assert (
        fac["VC0001"][0] == "village_clinic" and bool(fac["VC0001"][1]) and fac["VC0001"][2] == TOWN
    )
    assert rows(engine, "SELECT grid_id, area_code FROM grid_villages ORDER BY area_code") == [
        ("G0001", V1),
        ("G0001", V2),
    ]
    assert rows(engine, "SELECT town_code FROM grids") == [(TOWN,)]
    lic = dict(rows(engine, "SELECT staff_id, licensed FROM staff"))
    assert bool(lic["S001"]) is True and bool(lic["S002"]) is False
    assert [r[0] for r in rows(engine, "SELECT status FROM ingest_files")] == ["loaded"] * 6
    # the summary is JSON-able
    json.dumps(s.model_dump(mode="json"))


def _wrong_check(idn: str) -> str:
    return idn[:17] + ("0" if idn[17] != "0" else "1")


def _bad_residents(folder: Path) -> None:
    """One bad row per reason code (in check order), around good rows."""
    good = dict(
        resident_id="R010",
        id_number=id_number("1980-01-02", 11),
        name="好人",
        sex=1,
        birth_date="1980-01-02",
        area_code=V1,
        lat=36.86,
        lng=118.78,
    )
    bad = [
        dict(good, resident_id="B01", name="@@ENC@@"),  # bad_encoding
        dict(good, resident_id="B02", name=""),  # missing_required
        dict(good, resident_id="B03", birth_date="2026-13-45"),  # unparseable
        dict(good, resident_id="B04", id_number=_wrong_check(good["id_number"])),
        dict(good, resident_id="B05", birth_date="1980-01-03"),  # id_mismatch (birth)
        dict(good, resident_id="B06", sex=2),  # id_mismatch (sex)
        dict(good, resident_id="B07", lat=39.9042, lng=116.4074),  # outside_county (Beijing)
        dict(good, resident_id="B08", area_code="370783098990"),  # unknown_fk
        dict(good),  # duplicate_key of R010
        dict(good, resident_id="B09", sex="3", birth_date="bad"),  # two defects → first wins
        dict(good, resident_id="B10", lat=95.0),  # out_of_range
    ]
    path = write_csv(folder / "residents.csv", [good, *bad])
    data = path.read_bytes().replace(b"@@ENC@@", "张".encode() + b"\xff\xfe" + "三".encode())
    path.write_bytes(data)


def test_ingest_leaves_planner_statistics(
    engine: Engine, delivery: Path, settings: IngestSettings
) -> None:
    # Without statistics PostgreSQL read a team's claims with a scan of the whole table.
    ingest_delivery(delivery, engine, settings, RulesConfig())
    if engine.dialect.name == "sqlite":
        analysed = {r[0] for r in rows(engine, "SELECT tbl FROM sqlite_stat1")}
    else:
        analysed = {
            r[0]
            for r in rows(
                engine, "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            )
        }
    assert {"residents", "areas", "facilities"} <= analysed


def test_every_reason_code_is_quarantined_once(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    folder = base_delivery(tmp_path / "d", residents=[])
    _bad_residents(folder)
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    rep = next(f for f in s.files if f.table == "residents")
    assert rep.status == "loaded" and rep.read == 12 and rep.loaded == 1
    q = list_quarantine(engine, "residents").sort_values("row_number")
    got = list(zip(q["row_number"], q["reason"], q["column_name"], strict=True))
    assert got == [
        (2, "bad_encoding", "name"),
        (3, "missing_required", "name"),
        (4, "unparseable", "birth_date"),
        (5, "id_checksum", "id_number"),
        (6, "id_mismatch", "birth_date"),
        (7, "id_mismatch", "sex"),
        (8, "outside_county", "lat"),
        (9, "unknown_fk", "area_code"),
        (10, "duplicate_key", "resident_id"),
        (11, "unparseable", "sex"),
        (12, "out_of_range", "lat"),
    ]
    assert set(q["reason"]) == set(REASONS)
    row = q[q["reason"] == "id_checksum"].iloc[0]
    assert row["value"].startswith("3707**********") and "*" in row["raw"]["id_number"]
    assert row["raw"]["name"] == "好人" and row["file_name"] == "residents.csv"
    assert row["batch_id"] == s.batch_id and len(row["file_sha256"]) == 64
    enc = q[q["reason"] == "bad_encoding"].iloc[0]
    assert "\ufffd" in enc["value"] and enc["raw"]["resident_id"] == "B01"
    assert s.tables["residents"].quarantine_by_reason["id_mismatch"] == 2


def test_rejected_file_names_file_columns_and_aliases(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    from pipeline_helpers import RESIDENTS

    folder = base_delivery(tmp_path / "d")
    write_csv(
        folder / "residents_2026-11.csv",
        [{k: v for k, v in r.items() if k != "birth_date"} for r in RESIDENTS],
    )
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    rej = s.tables["residents"].rejected_files
    assert len(rej) == 1 and rej[0].file == "residents_2026-11.csv"
    msg = rej[0].reason
    assert "residents_2026-11.csv" in msg and "birth_date" in msg and "出生日期" in msg
    # the other files of the delivery still load, including residents.csv
    assert rows(engine, "SELECT count(*) FROM residents") == [(3,)]
    assert (
        dict(rows(engine, "SELECT file_name, status FROM ingest_files"))["residents_2026-11.csv"]
        == "rejected"
    )


def test_ingesting_twice_changes_nothing(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    folder = base_delivery(tmp_path / "d", residents=[])
    _bad_residents(folder)
    _events(folder)
    first = ingest_delivery(folder, engine, settings, RulesConfig())
    before, q1 = snapshot(engine), quarantine_counts(engine)
    second = ingest_delivery(folder, engine, settings, RulesConfig())
    assert {f.status for f in second.files} == {"already_loaded"}
    assert snapshot(engine) == before and quarantine_counts(engine) == q1
    assert second.loaded == 0 and second.quarantined == 0 and first.quarantined > 0
    # a re-delivered copy under another name, same content → also skipped
    (folder / "residents_copy.csv").write_bytes((folder / "residents.csv").read_bytes())
    third = ingest_delivery(folder, engine, settings, RulesConfig())
    assert snapshot(engine) == before and quarantine_counts(engine) == q1
    assert all(f.status == "already_loaded" for f in third.files)


def test_changed_row_updates_identical_rows_do_not(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    from pipeline_helpers import RESIDENTS

    ingest_delivery(base_delivery(tmp_path / "a"), engine, settings, RulesConfig())
    changed = [
        dict(RESIDENTS[0], phone="13999999999"),
        RESIDENTS[1],
        dict(RESIDENTS[2], resident_id="R004"),
    ]
    folder = tmp_path / "b"
    folder.mkdir()
    write_csv(folder / "residents.csv", changed)
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    t = s.tables["residents"]
    assert (t.loaded, t.updated, t.unchanged) == (1, 1, 1)
    assert rows(engine, "SELECT phone FROM residents WHERE resident_id = 'R001'") == [
        ("13999999999",)
    ]


def test_file_is_atomic(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = IngestSettings(id_hash_key=KEY, chunk_rows=1)
    calls = {"n": 0}
    real = load.upsert

    def flaky(conn, table, df, columns=None):  # type: ignore[no-untyped-def]
        if table == "residents":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full")
        return real(conn, table, df, columns)

    monkeypatch.setattr(load, "upsert", flaky)
    s = ingest_delivery(base_delivery(tmp_path / "d"), engine, settings, RulesConfig())
    rep = next(f for f in s.files if f.table == "residents")
    assert rep.status == "failed" and "disk full" in (rep.error or "")
    assert rows(engine, "SELECT count(*) FROM residents") == [(0,)]
    assert rows(engine, "SELECT count(*) FROM facilities") == [(2,)]
    # a failed file is retried by the next ingest
    monkeypatch.setattr(load, "upsert", real)
    s2 = ingest_delivery(tmp_path / "d", engine, settings, RulesConfig())
    assert next(f for f in s2.files if f.table == "residents").status == "loaded"
    assert rows(engine, "SELECT count(*) FROM residents") == [(3,)]


def _events(folder: Path) -> None:
    import h3

    idn = id_number("1950-03-04", 11)
    cell9 = h3.latlng_to_cell(36.87, 118.79, 9)
    origin8 = h3.latlng_to_cell(36.80, 118.70, 8)
    write_csv(
        folder / "claims_2026-01.csv",
        [
            dict(
                claim_id="C1",
                resident_id="R001",
                visit_date="2026-01-05",
                facility_id="VC0001",
                visit_type="outpatient",
                icd10="I10",
                total_cost=100,
                fund_paid=60,
                self_paid=40,
            ),
            dict(
                claim_id="C2",
                resident_id="",
                id_number=idn,
                visit_date="45300",
                facility_id="WF-H0001",
                visit_type="住院",
                icd10="E11.9",
                total_cost=1000,
                fund_paid=700,
                self_paid=300.005,
            ),
            dict(
                claim_id="C3",
                resident_id="",
                id_number=id_number("1999-01-01", 1),
                visit_date="2026-01-07",
                facility_id="VC0001",
                visit_type="门诊慢特病",
            ),
        ],
    )
    write_csv(
        folder / "measurements.csv",
        [
            dict(
                measurement_id="M1",
                resident_id="R001",
                measured_at="2026-03-01 00:30:00",
                sbp=150,
                dbp=95,
            ),
            dict(measurement_id="M2", resident_id="R001", measured_at="2026-03-01T00:30:00+08:00"),
            dict(
                measurement_id="M3",
                resident_id="R002",
                measured_at="2026-02-28T16:30:00Z",
                glucose=5.5,
                glucose_type="空腹",
            ),
        ],
    )
    write_csv(
        folder / "followups.csv",
        [
            dict(
                followup_id="F1",
                resident_id="R001",
                disease="高血压",
                visit_date="2026-01-10",
                sbp=145,
                dbp=85,
            ),  # aged 75: elderly target 150/90 → satisfactory
            dict(
                followup_id="F2",
                resident_id="R002",
                disease="E11.9",
                visit_date="2026/01/10",
                fasting_glucose=8.1,
            ),
            dict(
                followup_id="F3",
                resident_id="R002",
                disease="I10",
                visit_date="20260110",
                sbp=120,
                dbp=80,
                adverse_reaction="是",
            ),
            dict(
                followup_id="F4",
                resident_id="R003",
                disease="htn",
                visit_date="2026-01-11",
                sbp=120,
                dbp=80,
                classification="并发症",
            ),
        ],
    )
    write_csv(
        folder / "mobility.csv",
        [
            dict(h3=cell9, hour="2026-09-07T08:00:00", count=7, origin_h3=""),
            dict(
                lat=36.86, lng=118.78, hour="2026-09-07T08:00:00+08:00", count=3, origin_h3=origin8
            ),
        ],
    )
    write_csv(
        folder / "case_reports.csv",
        [
            dict(report_id="CR1", disease="J10.1", onset_date="2026-01-02", resident_id="R002"),
            dict(report_id="CR2", disease="流感样病例", onset_date="2026-01-03", area_code=V3),
            dict(report_id="CR3", disease="ili", onset_date="2026-01-03", lat=36.80, lng=118.80),
        ],
    )


def test_events_links_times_and_placement(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    folder = base_delivery(tmp_path / "d")
    _events(folder)
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    assert all(f.status == "loaded" for f in s.files), [f.error for f in s.files]
    claims = {
        r[0]: r[1:]
        for r in rows(
            engine, "SELECT claim_id, resident_id, in_county, visit_type, visit_date FROM claims"
        )
    }
    assert claims["C1"][0] == "R001" and bool(claims["C1"][1]) is True
    assert claims["C2"][0] == "R001" and bool(claims["C2"][1]) is False  # linked by ID number
    assert (
        claims["C2"][2] == "inpatient" and str(claims["C2"][3])[:10] == "2024-01-09"
    )  # Excel serial
    q = list_quarantine(engine, "claims")
    assert list(q["reason"]) == ["unknown_fk"] and q["column_name"][0] == "id_number"
    meas = pd.read_sql(
        "SELECT measurement_id, measured_at, measured_date FROM measurements "
        "ORDER BY measurement_id",
        engine,
    )
    stamps = pd.to_datetime(meas["measured_at"], utc=True, format="ISO8601")
    assert (stamps == pd.Timestamp("2026-02-28 16:30", tz="UTC")).all()
    assert [str(d)[:10] for d in meas["measured_date"]] == ["2026-03-01"] * 3
    fu = {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT followup_id, disease, classification, "
            "classification_source, visit_date FROM followups",
        )
    }
    assert fu["F1"] == ("htn", "satisfactory", "computed", fu["F1"][3])
    assert fu["F2"][:3] == ("t2dm", "unsatisfactory", "computed")
    assert fu["F3"][:3] == ("htn", "adverse", "computed")
    assert fu["F4"][:3] == ("htn", "complication", "source")
    assert {str(r[3])[:10] for r in fu.values()} == {"2026-01-10", "2026-01-11"}
    mob = rows(engine, "SELECT h3, h3_res, origin_h3 FROM mobility ORDER BY count")
    import h3

    assert mob[0] == (h3.latlng_to_cell(36.86, 118.78, 8), 8, h3.latlng_to_cell(36.80, 118.70, 8))
    assert mob[1] == (h3.latlng_to_cell(36.87, 118.79, 9), 9, "")
    hours = pd.read_sql("SELECT hour FROM mobility", engine)["hour"]
    assert set(pd.to_datetime(hours, utc=True, format="ISO8601")) == {
        pd.Timestamp("2026-09-07 00:00", tz="UTC")
    }
    cases = {
        r[0]: r[1:]
        for r in rows(
            engine, "SELECT report_id, disease, loc_precision, lat, h3_8 FROM case_reports"
        )
    }
    assert cases["CR1"][:3] == ("influenza", "village", 36.90)  # R002's household (village)
    assert cases["CR2"][:3] == ("ili", "village", 36.75)  # the area's seat
    assert cases["CR3"][:3] == ("ili", "exact", 36.80) and cases["CR3"][3]


def test_alias_file_gb18030_xlsx_parquet(engine: Engine, tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pipeline_helpers import TEAMS, alias_file

    folder = base_delivery(tmp_path / "d", staff=[], teams=[])
    # staff: GB18030 with Chinese headers (one needs the deployment alias file)
    write_csv(
        folder / "staff.csv",
        [
            {
                "工号": "S001",
                "姓名": "李医生",
                "机构编码": "THC001",
                "岗位": "全科医生",
                "执业（助理）医师": "是",
                "所在团队": "T0001",
            },
        ],
        encoding="gb18030",
    )
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["团队编码", "团队名称", "Facility ID", "max daily visits"])
    ws.append(["T0001", "一队", "THC001", 10])
    wb.save(folder / "teams.xlsx")
    pq.write_table(
        pa.table(
            {
                "resident_id": ["R001"],
                "vaccine": ["流感疫苗"],
                "date": pa.array([dt.date(2025, 10, 1)]),
            }
        ),
        folder / "vaccinations.parquet",
    )
    settings = IngestSettings(
        id_hash_key=KEY,
        alias_file=alias_file(tmp_path / "a.json", {"staff": {"所在团队": "team_id"}}),
    )
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    assert all(f.status == "loaded" for f in s.files), [f.error for f in s.files]
    assert next(f for f in s.files if f.table == "staff").encoding == "gb18030"
    assert rows(engine, "SELECT staff_id, name, role, team_id FROM staff") == [
        ("S001", "李医生", "gp", "T0001")
    ]
    assert rows(engine, "SELECT team_id, max_daily_visits FROM teams") == [("T0001", 10)]
    v = rows(engine, "SELECT resident_id, vaccine, date FROM vaccinations")
    assert v[0][:2] == ("R001", "influenza") and str(v[0][2])[:10] == "2025-10-01"
    assert TEAMS  # the default teams fixture was replaced by the XLSX


def test_gcj02_and_bd09_are_stored_as_wgs84(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    from pipeline_helpers import FACILITIES, reference_wgs84_to_bd09, reference_wgs84_to_gcj02

    wlat, wlng = 36.8765, 118.7622
    glng, glat = reference_wgs84_to_gcj02(wlng, wlat)
    blng, blat = reference_wgs84_to_bd09(wlng, wlat)
    facs = [
        *FACILITIES,
        dict(FACILITIES[1], facility_id="VC0002", lat=glat, lng=glng, coord_sys="gcj02"),
        dict(FACILITIES[1], facility_id="VC0003", lat=blat, lng=blng, coord_sys="BD-09"),
    ]
    folder = base_delivery(tmp_path / "d", facilities=facs)
    ingest_delivery(folder, engine, settings, RulesConfig())
    got = {
        r[0]: r[1:] for r in rows(engine, "SELECT facility_id, lat, lng, coord_sys FROM facilities")
    }
    for fid, sys_ in (("VC0002", "gcj02"), ("VC0003", "bd09")):
        lat, lng, cs = got[fid]
        assert abs(lat - wlat) < 1e-6 and abs(lng - wlng) < 1e-6 and cs == sys_
    assert abs(glat - wlat) > 1e-4  # the datums really differ


@pytest.fixture(scope="session")
def dirty_county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from pipelines.sample.county import generate_county

    out = tmp_path_factory.mktemp("dirty-county")
    manifest = generate_county(out, scale=0.01, seed=7, as_of=dt.date(2026, 11, 1), dirty=True)
    return out, manifest


@pytest.mark.slow
def test_dirty_sample_matches_manifest(engine: Engine, dirty_county: tuple[Path, dict]) -> None:
    folder, manifest = dirty_county
    s = ingest_delivery(folder, engine, IngestSettings(), RulesConfig())
    expected = {
        (t, r): n for t, d in manifest["dirty"]["quarantined"].items() for r, n in d.items()
    }
    assert quarantine_counts(engine) == expected
    rejected = sorted(r.file for r in s.rejected)
    assert rejected == sorted(r["file"] for r in manifest["dirty"]["rejected_files"])
    for table, n in manifest["counts"].items():
        assert rows(engine, f"SELECT count(*) FROM {table}") == [(n,)], table
    # every quarantined row is where the manifest says (file and physical line)
    q = list_quarantine(engine)
    got = {(r.file_name, int(r.row_number) + 1, r.reason) for r in q.itertuples()}
    want = {(r["file"], int(r["line"]), r["reason"]) for r in manifest["dirty"]["rows"]}
    assert got == want
    assert rows(engine, "SELECT count(*) FROM areas WHERE level = 'village'")[0][0] > 0
    assert AREAS


def test_geojson_areas_and_roads(engine: Engine, tmp_path: Path, settings: IngestSettings) -> None:
    folder = base_delivery(tmp_path / "d", areas=[])
    feats = []
    for a in AREAS:
        props = {k: v for k, v in a.items() if k not in ("geometry_wkt",)}
        geom = None
        if a["level"] == "county":
            ring = [[118.6, 36.7], [119.0, 36.7], [119.0, 37.0], [118.6, 37.0], [118.6, 36.7]]
            geom = {"type": "Polygon", "coordinates": [ring]}
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    (folder / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
        encoding="utf-8",
    )
    roads = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": 7,
                "properties": {"highway": "primary", "speed_kmh": 60},
                "geometry": {"type": "LineString", "coordinates": [[118.7, 36.8], [118.8, 36.9]]},
            },
            {
                "type": "Feature",
                "id": 8,
                "properties": {"highway": "track"},
                "geometry": {"type": "LineString", "coordinates": [[118.7, 36.8], [118.7, 36.9]]},
            },
        ],
    }
    (folder / "roads.geojson").write_text(json.dumps(roads), encoding="utf-8")
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    assert all(f.status == "loaded" for f in s.files), [f.error for f in s.files]
    assert rows(engine, "SELECT count(*) FROM areas WHERE geom IS NOT NULL") == [(1,)]
    assert rows(engine, "SELECT road_id, highway, speed_kmh FROM roads ORDER BY road_id") == [
        (7, "primary", 60.0),
        (8, "track", None),
    ]
    # the county polygon from the GeoJSON drives the outside-county check
    assert s.tables["residents"].loaded == 3
