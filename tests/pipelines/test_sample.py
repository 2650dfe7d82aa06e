"""The synthetic county generator (:mod:`pipelines.sample.county`) at small scale."""

from __future__ import annotations

import datetime as dt
import glob
import io
import json
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from openpyxl import load_workbook
from pyproj import Geod

from geo.coordinates import convert, is_valid_id_number, parse_id_number
from pipelines.sample.county import CONTRACT_TABLES, generate_county

AS_OF = dt.date(2026, 11, 30)
SCALE = 0.02
REQUIRED = {
    "areas": ["area_code", "name", "level"],
    "facilities": ["facility_id", "name", "type", "area_code", "lat", "lng"],
    "teams": ["team_id", "name", "facility_id"],
    "grids": ["grid_id", "name", "village_codes"],
    "residents": ["resident_id", "name", "sex", "birth_date", "area_code"],
    "chronic_registry": ["resident_id", "disease", "enrolled_date"],
    "followups": ["followup_id", "resident_id", "disease", "visit_date"],
    "measurements": ["measurement_id", "resident_id", "measured_at"],
    "claims": ["claim_id", "resident_id", "visit_date", "facility_id", "visit_type"],
    "population": ["area_code", "year", "sex", "age_band", "count"],
    "mobility": ["h3", "hour", "count"],
    "case_reports": ["report_id", "disease", "onset_date"],
    "vaccinations": ["resident_id", "vaccine", "date"],
}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("county")
    calls: list[tuple[str, int, int]] = []
    a = generate_county(
        base / "a", scale=SCALE, seed=7, as_of=AS_OF, progress=lambda *x: calls.append(x)
    )
    generate_county(base / "b", scale=SCALE, seed=7, as_of=AS_OF)
    d = generate_county(base / "d", scale=SCALE, seed=7, as_of=AS_OF, dirty=True)
    return {"a": base / "a", "b": base / "b", "d": base / "d", "m": a, "md": d, "calls": calls}


@pytest.fixture(scope="module")
def data(runs: dict[str, Any]) -> dict[str, pd.DataFrame]:
    root: Path = runs["a"]
    out = {
        t: _read(root / f"{t}.csv")
        for t in [
            "areas",
            "facilities",
            "grids",
            "residents",
            "chronic_registry",
            "followups",
            "measurements",
            "population",
            "case_reports",
        ]
    }
    # Mobility comes as Parquet (as operators deliver it); read it like the CSVs.
    mob = pq.read_table(root / "mobility.parquet").to_pandas()
    out["mobility"] = mob.fillna("").astype(str)
    out["claims"] = pd.concat(
        [_read(Path(p)) for p in sorted(glob.glob(str(root / "claims_*.csv")))]
    )
    out["vaccinations"] = pq.read_table(root / "vaccinations.parquet").to_pandas()
    wb = load_workbook(root / "teams.xlsx", read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    out["teams"] = pd.DataFrame(rows[1:], columns=rows[0])
    out["staff"] = pd.read_csv(
        root / "staff.csv", dtype=str, keep_default_na=False, encoding="gb18030"
    )
    return out


def _age(birth: pd.Series, on: pd.Timestamp | pd.Series) -> pd.Series:
    b = pd.to_datetime(birth)
    o = pd.to_datetime(on)
    years = o.year - b.dt.year if isinstance(o, pd.Timestamp) else o.dt.year - b.dt.year
    om = o.month if isinstance(o, pd.Timestamp) else o.dt.month
    od = o.day if isinstance(o, pd.Timestamp) else o.dt.day
    before = (om < b.dt.month) | ((om == b.dt.month) & (od < b.dt.day))
    return years - before.astype(int)


# --- determinism and files ---------------------------------------------------------------


def test_deterministic_bytes(runs: dict[str, Any]) -> None:
    a, b = runs["a"], runs["b"]
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_manifest_and_progress(runs: dict[str, Any]) -> None:
    m = runs["m"]
    on_disk = json.loads((runs["a"] / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(m))
    assert set(m["files"].values()) == set(CONTRACT_TABLES)
    assert m["dirty"] is None and m["as_of"] == AS_OF.isoformat()
    assert abs(m["county_centre"]["lat"] - 36.86) < 0.05
    assert abs(m["county_centre"]["lng"] - 118.79) < 0.05
    claims_files = [f for f, t in m["files"].items() if t == "claims"]
    assert len(claims_files) == 12 and all(f.startswith("claims_2") for f in claims_files)
    calls = runs["calls"]
    assert [c[1] for c in calls] == list(range(1, len(calls) + 1))
    assert all(c[2] == len(calls) for c in calls)


def test_required_columns_and_counts(runs: dict[str, Any], data: dict[str, pd.DataFrame]) -> None:
    for table, cols in REQUIRED.items():
        missing = set(cols) - set(data[table].columns)
        assert not missing, (table, missing)
        assert len(data[table]) == runs["m"]["counts"][table], table
    staff_head = (runs["a"] / "staff.csv").read_bytes().split(b"\r\n")[0].decode("gb18030")
    assert staff_head.split(",")[:2] == ["工号", "姓名"]
    with pytest.raises(UnicodeDecodeError):
        (runs["a"] / "staff.csv").read_bytes().decode("utf-8")


# --- geography and organisation ----------------------------------------------------------


def test_areas(data: dict[str, pd.DataFrame]) -> None:
    areas = data["areas"]
    towns = areas[areas.level == "town"]
    villages = areas[areas.level == "village"]
    assert len(towns) == 16
    assert towns.area_code.tolist() == [f"370783{i:03d}000" for i in range(1, 17)]
    assert (areas[areas.level == "county"].area_code == "370783000000").all()
    assert villages.area_code.str.match(r"^370783\d{6}$").all()
    assert (villages.area_code.str[:9] + "000" == villages.parent_code).all()
    assert villages.groupby("parent_code").size().min() >= 2
    county = shapely.from_wkt(areas[areas.level == "county"].geometry_wkt.iloc[0])
    area_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(county)[0]) / 1e6
    assert 1950 < area_km2 < 2200
    town_union = shapely.union_all(shapely.from_wkt(towns.geometry_wkt.to_numpy()))
    assert abs(town_union.area - county.area) / county.area < 1e-3
    pts = shapely.points(villages.lng.astype(float), villages.lat.astype(float))
    polys = shapely.from_wkt(villages.geometry_wkt.to_numpy())
    assert shapely.contains(polys, pts).mean() > 0.95


def test_facilities_grids_teams_staff(data: dict[str, pd.DataFrame], runs: dict[str, Any]) -> None:
    fac = data["facilities"]
    types = fac.type.value_counts()
    assert types["county_hospital"] == types["tcm_hospital"] == types["mch_hospital"] == 1
    assert types["township_hc"] == 16
    clinics = fac[fac.type == "village_clinic"]
    assert clinics.parent_facility_id.str.match(r"^THC\d{3}$").all()
    assert (clinics.area_code.str[6:9] == clinics.parent_facility_id.str[3:6]).all()
    assert set(fac.coord_sys) <= {"", "wgs84", "gcj02", "bd09"}
    # Converted coordinates come back to the true WGS84 position within a metre.
    geod = Geod(ellps="WGS84")
    for item in runs["m"]["converted_facilities"]:
        row = fac[fac.facility_id == item["facility_id"]].iloc[0]
        lng, lat = convert(float(row.lng), float(row.lat), row.coord_sys, "wgs84")
        assert geod.inv(float(lng), float(lat), item["true_lng"], item["true_lat"])[2] < 1.0
    grids = data["grids"]
    villages = data["areas"].query("level == 'village'").area_code
    listed = [c for codes in grids.village_codes for c in codes.split(";")]
    assert sorted(listed) == sorted(villages)  # every village in exactly one grid
    clinic_town = dict(zip(clinics.facility_id, clinics.area_code.str[:9], strict=True))
    for _, g in grids.iterrows():
        assert {c[:9] for c in g.village_codes.split(";")} == {clinic_town[g.clinic_id]}
    teams = data["teams"]
    assert set(grids.team_id) == set(teams.team_id)
    staff = data["staff"]
    assert set(teams.leader_staff_id) <= set(staff["工号"])
    assert set(staff["岗位"]) == {
        "gp",
        "nurse",
        "public_health",
        "village_doctor",
        "specialist",
        "cdc",
        "grid_worker",
    }
    team_sizes = staff[staff.team_id != ""].groupby("team_id").size()
    assert team_sizes.between(3, 5).all()
    workers = {w for ws in grids.grid_worker_ids for w in ws.split(";")}
    assert workers <= set(staff["工号"][staff["岗位"] == "grid_worker"])


# --- people ------------------------------------------------------------------------------


def test_residents(data: dict[str, pd.DataFrame]) -> None:
    r = data["residents"]
    assert r.resident_id.is_unique and r.id_number.is_unique
    assert r.id_number.map(is_valid_id_number).all()
    assert r.id_number.str.startswith("370783").all()
    parsed = r.id_number.map(parse_id_number)
    assert (parsed.map(lambda p: p[0].isoformat()) == r.birth_date).all()
    assert (parsed.map(lambda p: str(p[1])) == r.sex).all()
    age = _age(r.birth_date, pd.Timestamp(AS_OF))
    assert 0.15 < (age >= 65).mean() < 0.27
    assert (age < 15).mean() < 0.2
    assert 0.01 < (r.lat == "").mean() < 0.06
    assert 0.45 < (r.signed_team_id != "").mean() < 0.65
    assert 0.975 < (r.status == "active").mean() < 0.995
    phones = r.phone[r.phone != ""]
    assert phones.str.match(r"^1[358]\d{9}$").all()
    # Households share their location.
    located = r[r.lat != ""]
    assert located.groupby("address").lat.nunique().max() == 1


def test_registry_and_followups(data: dict[str, pd.DataFrame]) -> None:
    r, reg, fu = data["residents"], data["chronic_registry"], data["followups"]
    adults = (_age(r.birth_date, pd.Timestamp(AS_OF)) >= 18).sum()
    dis = reg.disease.map(lambda d: "htn" if d in ("htn", "I10", "I11.9") else "t2dm")
    assert 0.09 < (dis == "htn").sum() / adults < 0.16  # 27.5 % x 45 %
    assert 0.03 < (dis == "t2dm").sum() / adults < 0.07  # 11.9 % x 40 %
    assert set(reg.disease) >= {"htn", "t2dm"}
    assert set(fu.disease) == {"htn", "t2dm"}
    fu = fu.assign(vd=pd.to_datetime(fu.visit_date))
    # Three years of care history (every built month's 365-day window is complete).
    assert fu.vd.min() >= pd.Timestamp(AS_OF) - pd.Timedelta(days=3 * 365 + 30)
    assert fu.vd.min() < pd.Timestamp(AS_OF) - pd.Timedelta(days=3 * 365)
    assert fu.vd.max() <= pd.Timestamp(AS_OF)
    last = fu.sort_values(["vd", "followup_id"]).groupby(["resident_id", "disease"]).tail(1)
    last = last.merge(r[["resident_id", "birth_date"]], on="resident_id")
    age = _age(last.birth_date, last.vd)
    sbp, dbp = last.sbp.astype(float), last.dbp.astype(float)
    ctrl = (sbp < np.where(age >= 65, 150, 140)) & (dbp < 90)
    assert 0.45 < ctrl[last.disease == "htn"].mean() < 0.7
    glu = last.fasting_glucose.replace("", np.nan).astype(float)
    assert 0.4 < (glu < 7.0)[last.disease == "t2dm"].mean() < 0.7
    # Planted situations the push list must show.
    by = fu.sort_values(["vd", "followup_id"]).groupby(["resident_id", "disease"])
    last2 = by.tail(2).merge(r[["resident_id", "birth_date"]], on="resident_id")
    a2 = _age(last2.birth_date, last2.vd)
    bad = ~(
        (
            (last2.disease == "htn")
            & (last2.sbp.astype(float) < np.where(a2 >= 65, 150, 140))
            & (last2.dbp.astype(float) < 90)
        )
        | ((last2.disease == "t2dm") & (last2.fasting_glucose.replace("", "99").astype(float) < 7))
    )
    assert (bad.groupby([last2.resident_id, last2.disease]).sum() == 2).sum() >= 3
    # The second unsatisfactory visit in a row is nearly always referred.
    two_bad = bad.groupby([last2.resident_id, last2.disease]).transform("sum") == 2
    tail = last2[two_bad].groupby(["resident_id", "disease"]).tail(1)
    assert tail.referred.astype(int).mean() > 0.9
    nxt = pd.to_datetime(last.next_visit_date.replace("", None)).fillna(
        pd.to_datetime(last.visit_date) + pd.Timedelta(days=90)
    )
    assert (nxt < pd.Timestamp(AS_OF) - pd.Timedelta(days=30)).sum() >= 3


def test_planted_emergency_readings(runs: dict[str, Any], data: dict[str, pd.DataFrame]) -> None:
    planted = runs["m"]["planted_emergency_readings"]
    ms, fu = data["measurements"], data["followups"]
    sbp = ms.sbp.astype(float)
    dbp = ms.dbp.astype(float)
    glu = ms.glucose.replace("", np.nan).astype(float)
    emergency = (sbp >= 180) | (dbp >= 110) | (glu >= 16.7) | (glu <= 3.9)
    ids = {p["measurement_id"] for p in planted}
    assert ids <= set(ms.measurement_id[emergency])
    # Every other emergency reading was answered by a visit within days.
    answered = ms[emergency & ~ms.measurement_id.isin(ids)]
    assert len(answered) >= 10
    for row in answered.head(50).itertuples():
        day = row.measured_at[:10]
        later = fu[(fu.resident_id == row.resident_id) & (fu.visit_date > day)]
        assert later.visit_date.min() <= str(dt.date.fromisoformat(day) + dt.timedelta(days=20))
    for p in planted:
        row = ms[ms.measurement_id == p["measurement_id"]].iloc[0]
        assert row.resident_id == p["resident_id"]
        day = dt.date.fromisoformat(row.measured_at[:10])
        assert AS_OF - dt.timedelta(days=60) <= day <= AS_OF
        assert p["emergency_for"]
        for disease in p["emergency_for"]:
            visits = fu[(fu.resident_id == p["resident_id"]) & (fu.disease == disease)]
            assert (visits.visit_date < day.isoformat()).all()


def test_claims(data: dict[str, pd.DataFrame]) -> None:
    cl, r, fac, reg = (
        data["claims"],
        data["residents"],
        data["facilities"],
        data["chronic_registry"],
    )
    assert cl.claim_id.is_unique
    assert 6 < len(cl) / len(r) < 10
    vt = cl.visit_type.value_counts(normalize=True)
    assert 0.68 < vt["outpatient"] < 0.85 and 0.015 < vt["inpatient"] < 0.06
    total, fund, own = (cl[c].astype(float) for c in ("total_cost", "fund_paid", "self_paid"))
    assert (total >= 0).all() and (fund >= 0).all() and (own >= 0).all()
    assert (fund + own <= total + 0.01).all()
    ftype = cl.facility_id.map(dict(zip(fac.facility_id, fac.type, strict=True)))
    outp = cl.visit_type.isin(["outpatient", "chronic_outpatient"])
    primary = ftype[outp].isin(["township_hc", "village_clinic"]).mean()
    assert 0.6 < primary < 0.8
    assert 0.02 < ftype.isna().mean() < 0.15  # out-of-county providers
    assert ((cl.resident_id == "") == (cl.id_number != "")).all()
    inpatient = cl[cl.visit_type == "inpatient"]
    done = inpatient[inpatient.discharge_date != ""]
    assert (done.discharge_date > done.visit_date).all()
    assert (cl[cl.visit_type != "inpatient"].discharge_date == "").all()
    # Case-finding targets: >= 2 outpatient I10 claims on different dates, no registry row.
    i10 = cl[
        cl.icd10.str.match(r"^I1[0-5]") & (cl.visit_type != "inpatient") & (cl.resident_id != "")
    ]
    dates = i10.groupby("resident_id").visit_date.nunique()
    registered = set(reg.resident_id[reg.disease.isin(["htn", "I10", "I11.9"])])
    assert len(set(dates[dates >= 2].index) - registered) >= 3
    assert {"M47.8", "J11.1", "E11.9", "I10"} <= set(cl.icd10)


def test_population_mobility_cases_vaccinations(
    runs: dict[str, Any], data: dict[str, pd.DataFrame]
) -> None:
    r = data["residents"]
    pop = data["population"]
    active = (r.status == "active").sum()
    assert abs(pop["count"].astype(int).sum() - active) / active < 0.03
    assert set(pop.age_band) == {f"{a}-{a + 4}" for a in range(0, 85, 5)} | {"85+"}
    mob = data["mobility"]
    assert mob.hour.nunique() == 56 * 24
    assert mob.hour.max() == f"{AS_OF.isoformat()}T23:00:00"
    assert {h3.get_resolution(c) for c in mob.h3.unique()[:50]} == {7}
    od = mob[mob.origin_h3 != ""]
    assert 0 < len(od) <= 30 * 56 * 24
    heat = mob[mob.origin_h3 == ""]
    seat = data["areas"].query("area_code == '370783001000'").iloc[0]
    seat_cell = h3.latlng_to_cell(float(seat.lat), float(seat.lng), 7)
    at_seat = heat[heat.h3 == seat_cell].set_index("hour")["count"].astype(int)
    # The county seat fills up by day on weekdays (2026-11-30 is a Monday).
    assert at_seat[f"{AS_OF}T11:00:00"] > 1.1 * at_seat[f"{AS_OF}T03:00:00"]
    cases = data["case_reports"]
    winter = cases.onset_date.str[5:7].isin(["12", "01", "02"]).mean()
    assert winter > 0.4
    assert (cases.report_date >= cases.onset_date).all()
    (ob,) = runs["m"]["planted_outbreaks"]
    located = cases[cases.lat != ""]
    cells = [
        h3.latlng_to_cell(float(a), float(b), 8)
        for a, b in zip(located.lat, located.lng, strict=True)
    ]
    inside = located[
        pd.Series(cells, index=located.index).isin(ob["cells"])
        & located.onset_date.between(ob["start_day"], ob["end_day"])
    ]
    assert len(inside) >= ob["cases"] >= 10
    assert AS_OF - dt.timedelta(days=7) <= dt.date.fromisoformat(ob["end_day"]) <= AS_OF
    vac = data["vaccinations"]
    age = _age(r.birth_date, pd.Timestamp(AS_OF))
    old = r.resident_id[(age >= 65) & (r.status == "active")]
    season = vac[
        (vac.vaccine == "influenza") & (pd.to_datetime(vac.date) >= pd.Timestamp(2026, 9, 1))
    ]
    assert 0.2 < old.isin(season.resident_id).mean() < 0.4
    assert {"influenza", "pneumococcal", "covid19"} <= set(vac.vaccine)


# --- dirty delivery ----------------------------------------------------------------------


def test_dirty_keeps_good_rows_and_logs_every_bad_row(runs: dict[str, Any]) -> None:
    clean, dirty, md = runs["a"], runs["d"], runs["md"]
    log = md["dirty"]
    assert md["counts"] == runs["m"]["counts"]
    rows_by_file: dict[str, list[dict[str, Any]]] = {}
    for row in log["rows"]:
        rows_by_file.setdefault(row["file"], []).append(row)
    for path in sorted(clean.iterdir()):
        name = path.name
        if name == "manifest.json":
            continue
        data = (dirty / name).read_bytes()
        if name not in rows_by_file:
            assert data == path.read_bytes(), name
            continue
        nl = b"\r\n" if name == "staff.csv" else b"\n"
        lines = data.split(nl)
        bad_lines = {r["line"] for r in rows_by_file[name]}
        kept = [ln for i, ln in enumerate(lines, start=1) if i not in bad_lines]
        assert nl.join(kept) == path.read_bytes(), name
    counted: dict[str, dict[str, int]] = {}
    for row in log["rows"]:
        counted.setdefault(row["table"], {}).setdefault(row["reason"], 0)
        counted[row["table"]][row["reason"]] += 1
    assert counted == log["quarantined"]
    reasons: dict[str, int] = {}
    for per in counted.values():
        for k, v in per.items():
            reasons[k] = reasons.get(k, 0) + v
    assert set(reasons) == {
        "bad_encoding",
        "missing_required",
        "unparseable",
        "out_of_range",
        "id_checksum",
        "id_mismatch",
        "outside_county",
        "unknown_fk",
        "duplicate_key",
    }
    assert min(reasons.values()) >= 3
    for table in ("residents", "followups", "measurements", "claims"):
        assert len(counted[table]) >= 6, table


def test_dirty_rows_have_their_defect(runs: dict[str, Any]) -> None:
    dirty, log = runs["d"], runs["md"]["dirty"]
    residents = set(_read(runs["a"] / "residents.csv").resident_id)
    cache: dict[str, list[bytes]] = {}
    for row in log["rows"]:
        nl = b"\r\n" if row["file"] == "staff.csv" else b"\n"
        if row["file"] not in cache:
            cache[row["file"]] = (dirty / row["file"]).read_bytes().split(nl)
        lines = cache[row["file"]]
        raw = lines[row["line"] - 1]
        enc = "gb18030" if row["file"] == "staff.csv" else "utf-8"
        if row["reason"] == "bad_encoding":
            with pytest.raises(UnicodeDecodeError):
                raw.decode(enc)
            with pytest.raises(UnicodeDecodeError):
                raw.decode("gb18030")
            continue
        text = raw.decode(enc)
        header = lines[0].decode(enc).split(",")
        rec = dict(zip(header, text.split(","), strict=True))
        key_col = header[0]
        assert rec[key_col] == row["key"]
        keys = [ln.split(b",", 1)[0] for ln in lines[1:]]
        if row["reason"] == "duplicate_key":
            assert raw in lines[1 : row["line"] - 1]
        else:
            assert keys.count(raw.split(b",", 1)[0]) == 1
        if row["reason"] == "missing_required":
            assert rec[row["column"]] == ""
        if row["reason"] == "id_checksum":
            assert not is_valid_id_number(rec["id_number"])
        if row["reason"] == "id_mismatch":
            birth, sex = parse_id_number(rec["id_number"]) or (None, None)
            assert birth is not None
            assert birth.isoformat() != rec["birth_date"] or str(sex) != rec["sex"]
        if row["reason"] == "unknown_fk" and row["column"] == "resident_id":
            assert rec["resident_id"] not in residents
    rejected = {r["file"]: r for r in log["rejected_files"]}
    assert set(rejected) == {"followups_bad.csv", "measurements_bad.csv"}
    for name, info in rejected.items():
        head = pd.read_csv(io.BytesIO((dirty / name).read_bytes()), nrows=0).columns
        assert not set(info["missing_columns"]) & set(head)


def test_tiny_scale_mid_month(tmp_path: Path) -> None:
    m = generate_county(tmp_path, scale=0.001, seed=3, as_of=dt.date(2026, 3, 15))
    claims = [f for f, t in m["files"].items() if t == "claims"]
    assert len(claims) == 13  # two partial calendar months
    areas = _read(tmp_path / "areas.csv")
    assert (areas.level == "town").sum() == 16
    assert areas[areas.level == "village"].groupby("parent_code").size().min() >= 2
    assert m["care"]["got"]["emergency_readings_in_history"] >= 1
    assert m["planted_outbreaks"][0]["cases"] >= 3
    assert m["counts"]["teams"] >= 16 and m["counts"]["grids"] >= 16
