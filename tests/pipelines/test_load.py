"""Upserts on both backends: counts, no-op on identical rows, values the ORM reads back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from pipelines import load
from store.models import Facility, Measurement, Mobility, Quarantine, Vaccination


def _facilities(beds: list[int | None]) -> pd.DataFrame:
    n = len(beds)
    return pd.DataFrame(
        {
            "facility_id": [f"F{i}" for i in range(n)],
            "name": ["卫生院"] * n,
            "type": ["township_hc"] * n,
            "area_code": ["370783001000"] * n,
            "lat": np.linspace(36.8, 36.9, n),
            "lng": np.full(n, 118.8),
            "beds": pd.array(beds, dtype="Int64"),
            "open": pd.array([True] * n, dtype="boolean"),
            "geom": [shapely.Point(118.8, 36.8 + i * 0.1 / max(n - 1, 1)) for i in range(n)],
        }
    )


def test_upsert_counts_inserted_updated_unchanged(engine: Engine) -> None:
    df = _facilities([1, 2, None])
    with engine.begin() as conn:
        assert load.upsert(conn, "facilities", df) == (3, 0)
    with engine.begin() as conn:
        assert load.upsert(conn, "facilities", df) == (0, 0)  # identical: nothing changes
    extra = _facilities([7, 7, 7, 7]).iloc[[3]]
    changed = pd.concat([df, extra], ignore_index=True)
    changed["beds"] = pd.array([1, 5, None, 7], dtype="Int64")
    with engine.begin() as conn:
        assert load.upsert(conn, "facilities", changed) == (1, 1)
    with engine.connect() as conn:
        got = conn.execute(
            select(Facility.facility_id, Facility.beds, Facility.open, Facility.geom).order_by(
                Facility.facility_id
            )
        ).all()
    assert [(r[0], r[1]) for r in got] == [("F0", 1), ("F1", 5), ("F2", None), ("F3", 7)]
    assert got[0][2] is True and got[3][3].equals_exact(shapely.Point(118.8, 36.9), 1e-12)


def test_rollback_leaves_nothing(engine: Engine) -> None:
    try:
        with engine.begin() as conn:
            load.upsert(conn, "facilities", _facilities([1, 2]))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(select(Facility.facility_id)).all() == []


def test_dates_timestamps_and_composite_keys(engine: Engine) -> None:
    m = pd.DataFrame(
        {
            "measurement_id": ["M1"],
            "resident_id": ["R1"],
            "measured_at": pd.Series([pd.Timestamp("2026-02-28 16:30:00.250", tz="UTC")]),
            "measured_date": pd.Series([pd.Timestamp("2026-03-01")]),
            "sbp": [np.nan],
            "glucose": [5.5],
        }
    )
    mob = pd.DataFrame(
        {
            "h3": ["8830a50001fffff", "8830a50001fffff"],
            "hour": pd.Series(
                pd.to_datetime(["2026-09-07 00:00", "2026-09-07 00:00"]).tz_localize("UTC")
            ),
            "origin_h3": ["", "8830a50003fffff"],
            "h3_res": [8, 8],
            "count": [7.0, 3.0],
        }
    )
    vax = pd.DataFrame(
        {
            "resident_id": ["R1", "R1"],
            "vaccine": ["influenza"] * 2,
            "date": pd.to_datetime(["2025-10-01", "2026-10-01"]),
        }
    )
    with engine.begin() as conn:
        assert load.upsert(conn, "measurements", m) == (1, 0)
        assert load.upsert(conn, "mobility", mob) == (2, 0)
        assert load.upsert(conn, "vaccinations", vax) == (2, 0)
    with engine.begin() as conn:
        assert load.upsert(conn, "mobility", mob.assign(count=[7.0, 4.0])) == (0, 1)
        assert load.upsert(conn, "vaccinations", vax) == (0, 0)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                Measurement.measured_at,
                Measurement.measured_date,
                Measurement.sbp,
                Measurement.glucose,
            )
        ).one()
        origins = conn.execute(
            select(Mobility.origin_h3, Mobility.count).order_by(Mobility.origin_h3)
        ).all()
        dates = conn.execute(select(Vaccination.date).order_by(Vaccination.date)).scalars().all()
    at = row[0] if row[0].tzinfo else row[0].replace(tzinfo=dt.UTC)
    assert at == dt.datetime(2026, 2, 28, 16, 30, 0, 250000, tzinfo=dt.UTC)
    assert row[1] == dt.date(2026, 3, 1) and row[2] is None and row[3] == 5.5
    assert origins == [("", 7.0), ("8830a50003fffff", 4.0)]
    assert dates == [dt.date(2025, 10, 1), dt.date(2026, 10, 1)]


def test_quarantine_insert_keeps_raw_json(engine: Engine) -> None:
    q = pd.DataFrame(
        {
            "batch_id": [1],
            "file_sha256": ["0" * 64],
            "table_name": ["residents"],
            "file_name": ["residents.csv"],
            "row_number": [3],
            "column_name": ["name"],
            "value": ["张\ufffd三"],
            "reason": ["bad_encoding"],
            "detail": ['x, "y"\nz'],
            "raw": [{"name": "张\ufffd三", "note": 'a,b"c'}],
        }
    )
    with engine.begin() as conn:
        assert load.insert(conn, "quarantine", q) == 1
    with engine.connect() as conn:
        r = conn.execute(select(Quarantine.raw, Quarantine.detail, Quarantine.value)).one()
    assert r[0] == {"name": "张\ufffd三", "note": 'a,b"c'} and r[1] == 'x, "y"\nz'
    assert r[2] == "张\ufffd三"
