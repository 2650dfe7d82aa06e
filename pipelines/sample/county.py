"""Synthetic county delivery in the data-contract format (Shouguang-like by default).

``generate_county`` writes one folder that looks like what a county health bureau
exports (``shared/DATA_CONTRACT.md``): areas with Voronoi village polygons, facilities
(some in GCJ-02/BD-09), staff (GB18030, Chinese headers), teams (XLSX), grids,
residents, the chronic registry, a year of follow-ups, terminal readings, monthly
claims files, population, mobility heat, ILI case reports and vaccinations (Parquet).

It is deterministic: the same ``(seed, scale, as_of, dirty)`` gives byte-identical
files. With ``dirty=True`` the clean delivery is kept row for row and bad rows plus
rejected files are added; ``manifest.json`` lists exactly what was injected (see
:mod:`pipelines.sample.dirty` for the reason codes) and what was planted for the
analytics to find (emergency readings, an ILI outbreak).

The county is one of :data:`pipelines.sample.profiles.COUNTY_PROFILES` (Shouguang
370783 by default, Changle 370725). Generation is split over
:mod:`pipelines.sample.geography`,
:mod:`pipelines.sample.people`, :mod:`pipelines.sample.events` and
:mod:`pipelines.sample.dirty`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.sample import chronic as sch
from pipelines.sample import claims as scl
from pipelines.sample import common as sc
from pipelines.sample import dirty as sd
from pipelines.sample import events as se
from pipelines.sample import geography as sg
from pipelines.sample import patterns as spt
from pipelines.sample import people as sp
from pipelines.sample import roads as sr
from pipelines.sample import services as ss
from pipelines.sample.care import HISTORY_DAYS
from pipelines.sample.profiles import DEFAULT_COUNTY, county_profile

__all__ = ["CONTRACT_TABLES", "generate_county"]

ProgressFn = Callable[[str, int, int], None]

CONTRACT_TABLES = [
    "areas",
    "facilities",
    "staff",
    "teams",
    "grids",
    "residents",
    "chronic_registry",
    "followups",
    "measurements",
    "claims",
    "population",
    "mobility",
    "case_reports",
    "vaccinations",
    "roads",
]

_FIXED_FILES = [
    "areas.csv",
    "facilities.csv",
    "staff.csv",
    "teams.xlsx",
    "grids.csv",
    "residents.csv",
    "chronic_registry.csv",
    "followups.csv",
    "measurements.csv",
    "population.csv",
    "mobility.csv",
    "mobility.parquet",
    "case_reports.csv",
    "vaccinations.parquet",
    "roads.geojson",
    "followups_bad.csv",
    "measurements_bad.csv",
    "manifest.json",
]


def _xlsx_bytes(table: pa.Table, sheet: str, stamp: dt.datetime) -> bytes:
    """XLSX with fixed document and zip timestamps, so reruns are byte-identical."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    ws.append(table.column_names)
    for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
        ws.append(list(row))
    wb.properties.creator = "healthmap sample generator"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    wb.save(raw)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "now" into modified on save; pin it.
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>" + iso + rb"\g<2>",
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, data)
    return out.getvalue()


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


class _Writer:
    """Writes files, counts good rows and reports progress."""

    def __init__(self, out_dir: Path, total: int, progress: ProgressFn | None) -> None:
        self.out_dir = out_dir
        self.total = total
        self.done = 0
        self.progress = progress
        self.counts: dict[str, int] = {}
        self.files: dict[str, str] = {}

    def write(self, name: str, table: str, data: bytes, good_rows: int | None) -> None:
        (self.out_dir / name).write_bytes(data)
        self.files[name] = table
        if good_rows is not None:
            self.counts[table] = self.counts.get(table, 0) + good_rows

    def write_rows(
        self,
        name: str,
        table: str,
        rows: pa.Table | Iterable[pa.RecordBatch],
        header: list[str] | None = None,
    ) -> int:
        """Stream a table (or record batches) as CSV; every row is a good row."""
        n = sc.write_csv(self.out_dir / name, rows, header)
        self.files[name] = table
        self.counts[table] = self.counts.get(table, 0) + n
        return n

    def step(self, name: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(name, self.done, self.total)


def care_figures(people: sp.People, geo: sg.Geography, as_of: dt.date) -> dict[str, Any]:
    """What the care simulation aimed for and what it got (the manifest's ``care``).

    "Got" is counted from the generated rows with the RULES.md task order simplified to
    the visit chain (the push list itself is computed by the product after ingestion).
    """
    d0 = sc.day_number(as_of)
    managed = people.managed(d0)
    adults = float(((people.age >= 18) & (people.status == sp.ACTIVE)).sum())
    got: dict[str, Any] = {k: v for k, v in people.notes.items() if isinstance(v, int | float)}
    for d, name, prev in (
        (sp.HTN, "htn", sp.HTN_PREVALENCE),
        (sp.T2DM, "t2dm", sp.T2DM_PREVALENCE),
    ):
        n_m = int((managed & (people.reg_dis == d)).sum())
        got[f"{name}_management_rate"] = round(n_m / max(1.0, adults * prev), 3)
    return {
        "history_days": HISTORY_DAYS,
        "aimed": {
            "team_list_median": [8, 30],
            "red_share_max": 0.10,
            "management_rate": [0.40, 0.60],
            "control_rate": [0.50, 0.65],
            "visits_per_team_working_day": "about 9 in person (capacity max_daily_visits)",
        },
        "got": got,
    }


def generate_county(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    as_of: dt.date,
    dirty: bool = False,
    progress: ProgressFn | None = None,
    county: str = DEFAULT_COUNTY,
) -> dict[str, Any]:
    """Write a synthetic county delivery in the data-contract format.

    Parameters
    ----------
    out_dir : pathlib.Path
        Target folder (created if needed). Files this generator writes are replaced;
        stale ones of its own names (e.g. ``*_bad.csv`` from an earlier dirty run,
        old ``claims_*.csv`` batches) are removed; other files are left alone.
    scale : float, default 1.0
        1.0 is the county's full size: for Shouguang about 1 million residents, 975
        villages, 488 village clinics, 265 teams and 8 million claims; a county's
        ``size`` (Changle: 0.6) multiplies all of those. Small scales keep every town, at
        least 2 villages per town and at least one clinic, grid and team per town.
    seed : int, default 0
        Random seed.
    as_of : datetime.date
        The data covers the 365 days ending on this date.
    dirty : bool, default False
        Also inject bad rows and rejected files (see :mod:`pipelines.sample.dirty`).
    progress : callable, optional
        ``progress(step_name, done, total)`` called after each file is written.
    county : str, default ``"370783"``
        Six-digit code of the county (a key of
        :data:`~pipelines.sample.profiles.COUNTY_PROFILES`); every area code, ID-card
        prefix and name of the delivery comes from its profile.

    Returns
    -------
    dict
        The manifest, also written to ``out_dir / "manifest.json"``.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    profile = county_profile(county)
    # Every count follows the scale times the county's size (the same float for
    # Shouguang, whose size is 1.0).
    size_scale = scale * profile.size
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in _FIXED_FILES:
        (out_dir / name).unlink(missing_ok=True)
    for old in out_dir.glob("claims_*.csv"):
        old.unlink()

    batches = scl.claim_batches(as_of)
    total_steps = 14 + len(batches) + (1 if dirty else 0) + 1
    w = _Writer(out_dir, total_steps, progress)
    log = sd.DirtyLog()

    geo = sg.build_geography(seed, size_scale, profile)
    ss.build_services(geo, seed, size_scale)
    # The residents first: beds and the staff outside the teams are sized by them.
    people = sp.build_residents(geo, seed, size_scale, as_of)
    planted_patterns = spt.plant_patterns(geo, people, seed)
    resources = ss.size_resources(
        geo, np.bincount(people.village[people.status == sp.ACTIVE], minlength=geo.n_villages), seed
    )
    w.write("areas.csv", "areas", sc.csv_bytes(t := sg.areas_table(geo)), t.num_rows)
    w.step("areas")

    t = ss.facilities_table(geo, seed)
    data = sc.csv_bytes(t)
    if dirty:
        inj = sd.Injector(seed, 1)
        head, lines = inj.split(data)
        data = inj.splice(
            log, "facilities", "facilities.csv", head, lines, sd.facilities_bad(inj, head, lines)
        )
    w.write("facilities.csv", "facilities", data, t.num_rows)
    w.step("facilities")

    # staff.csv: an Excel-style Chinese export: GB18030, CRLF, Chinese header aliases.
    t = ss.staff_table(geo)
    data = sc.csv_bytes(t, ss.STAFF_HEADER).decode("utf-8").replace("\n", "\r\n").encode("gb18030")
    if dirty:
        inj = sd.Injector(seed, 2)
        head, lines = inj.split(data, b"\r\n")
        bad = sd.staff_bad(inj, head, lines, 5)
        data = inj.splice(log, "staff", "staff.csv", head, lines, bad, b"\r\n")
    w.write("staff.csv", "staff", data, t.num_rows)
    w.step("staff")

    stamp = dt.datetime.combine(as_of, dt.time(18, 0))
    t = ss.teams_table(geo)
    w.write("teams.xlsx", "teams", _xlsx_bytes(t, "家庭医生团队", stamp), t.num_rows)
    w.step("teams")
    w.write("grids.csv", "grids", sc.csv_bytes(t := ss.grids_table(geo)), t.num_rows)
    w.step("grids")
    roads = sr.build_roads(geo, seed)
    w.write("roads.geojson", "roads", sr.roads_geojson(geo, roads), len(roads))
    w.step("roads")

    rid_width = max(7, len(str(people.n)))
    if dirty:
        data = sc.csv_bytes(people.table)
        inj = sd.Injector(seed, 3)
        head, lines = inj.split(data)
        bad = sd.residents_bad(inj, head, lines, people.id_number, rid_width, county6=profile.code6)
        data = inj.splice(log, "residents", "residents.csv", head, lines, bad)
        del lines
        w.write("residents.csv", "residents", data, people.n)
        del data
    else:
        w.write_rows("residents.csv", "residents", people.table)
    people.table = pa.table({})  # free the big table; arrays stay
    w.step("residents")

    t = sch.build_registry(geo, people, seed, as_of)
    w.write_rows("chronic_registry.csv", "chronic_registry", t)
    w.step("chronic_registry")

    fb = sch.build_followups(geo, people, seed, as_of)
    if not dirty:
        # The biggest table (about 4.9 million rows at scale 1.0): streamed, never whole.
        w.write_rows("followups.csv", "followups", fb.batches)
    else:
        t = pa.Table.from_batches(list(fb.batches))
        data = sc.csv_bytes(t)
        inj = sd.Injector(seed, 4)
        head, lines = inj.split(data)
        fw = max(8, len(str(t.num_rows)))
        data = inj.splice(
            log,
            "followups",
            "followups.csv",
            head,
            lines,
            sd.followups_bad(inj, head, lines, fw, rid_width),
        )
        rej = sd.rejected_file(inj, head, lines, ["visit_date", "disease"], "followup_id", "F", fw)
        w.write("followups_bad.csv", "followups", rej, None)
        log.rejected.append(
            {
                "file": "followups_bad.csv",
                "table": "followups",
                "missing_columns": ["visit_date", "disease"],
            }
        )
        w.write("followups.csv", "followups", data, t.num_rows)
        del t, data
    w.step("followups")

    t = sch.build_measurements(geo, people, seed, as_of)
    if not dirty:
        w.write_rows("measurements.csv", "measurements", t)
    else:
        data = sc.csv_bytes(t)
        inj = sd.Injector(seed, 5)
        head, lines = inj.split(data)
        mw = max(7, len(str(t.num_rows)))
        planted_ids = {str(p["measurement_id"]) for p in people.planted}
        data = inj.splice(
            log,
            "measurements",
            "measurements.csv",
            head,
            lines,
            sd.measurements_bad(inj, head, lines, planted_ids, mw, rid_width),
        )
        rej = sd.rejected_file(inj, head, lines, ["measured_at"], "measurement_id", "M", mw)
        w.write("measurements_bad.csv", "measurements", rej, None)
        log.rejected.append(
            {
                "file": "measurements_bad.csv",
                "table": "measurements",
                "missing_columns": ["measured_at"],
            }
        )
        w.write("measurements.csv", "measurements", data, t.num_rows)
        del data
    del t
    w.step("measurements")

    ctx = scl.claims_context(geo, people, seed)
    plan = sd.claims_plan(seed, len(batches))
    next_id = 1
    bad_claims = 0
    for b, (label, first, last) in enumerate(batches):
        t = scl.build_claims_batch(geo, people, ctx, seed, as_of, b, first, last, next_id)
        n_good = t.num_rows
        next_id += n_good
        name = f"claims_{label}.csv"
        if not (dirty and plan[b]):
            w.write_rows(name, "claims", t)
            del t
            w.step(f"claims {label}")
            continue
        data = sc.csv_bytes(t)
        del t
        inj = sd.Injector(seed, 10 + b)
        head, lines = inj.split(data)
        rng_ids = np.asarray(
            people.id_number.take(pa.array(inj.rng.integers(0, people.n, 3))).to_pylist()
        )
        bad = sd.claims_bad(
            inj, head, lines, plan[b], bad_claims, rid_width, [str(x) for x in rng_ids]
        )
        bad_claims += len(bad)
        data = inj.splice(log, "claims", name, head, lines, bad)
        del lines
        w.write(name, "claims", data, n_good)
        del data
        w.step(f"claims {label}")

    t = se.population_table(geo, people, seed, as_of)
    w.write_rows("population.csv", "population", t)
    w.step("population")
    # Mobile operators deliver their heat product as Parquet (eight weeks of hours for
    # every cell: as CSV it would be most of a small delivery's bytes).
    t = se.mobility_table(geo, people, seed, as_of)
    w.write("mobility.parquet", "mobility", _parquet_bytes(t), t.num_rows)
    w.step("mobility")
    t, outbreaks = se.case_reports_table(geo, people, seed, as_of)
    w.write_rows("case_reports.csv", "case_reports", t)
    w.step("case_reports")
    t = se.vaccinations_table(geo, people, seed, as_of)
    w.write("vaccinations.parquet", "vaccinations", _parquet_bytes(t), t.num_rows)
    w.step("vaccinations")
    if dirty:
        w.step("dirty")

    clng, clat = geo.proj.to_wgs(np.array([0.0]), np.array([0.0]))
    manifest: dict[str, Any] = {
        "generator": "pipelines.sample.county",
        "contract_version": 1,
        "seed": seed,
        "scale": scale,
        "as_of": as_of.isoformat(),
        "county_code": profile.county_code,
        "county_centre": {"lat": round(float(clat[0]), 6), "lng": round(float(clng[0]), 6)},
        "counts": dict(w.counts),
        "files": dict(sorted(w.files.items())),
        "planted_emergency_readings": people.planted,
        "planted_outbreaks": outbreaks,
        "planted_patterns": planted_patterns,
        "care": care_figures(people, geo, as_of),
        "converted_facilities": geo.converted_facilities,
        "resources": resources,
        "dirty": log.summary() if dirty else None,
        "notes": {
            "claims_batches": [f"claims_{lab}.csv" for lab, _, _ in batches],
            "staff_csv": "GB18030, CRLF line ends, Chinese header aliases, licensed as 是/否",
            "claims_id_number_only": "about 2% of claims have empty resident_id and an id_number",
            "emergency_readings": "ordinary readings stay below every emergency threshold; "
            "every emergency reading in measurements.csv was answered by a follow-up of its "
            "disease within days, except planted_emergency_readings (still open on as_of)",
            "mobility": "rows with empty origin_h3 are hourly heat; rows with origin_h3 are the "
            "30 largest origin-destination flows per hour",
            **{k: v for k, v in people.notes.items()},
        },
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    w.step("manifest")
    return manifest
