"""The build's infectious-disease early warning: compute on the store's frames, store rows.

:func:`compute_surveillance` takes the canonical frames of
:func:`store.frames.read_frames` (``case_reports``, ``mobility``, ``residents``,
``chronic_registry``, ``vaccinations``, ``grids``, ``areas``) and returns the three result
frames; :func:`store_surveillance` writes them under a build id (tables of migration 0007)
and :func:`delete_surveillance_rows` removes a build's rows (failed or superseded builds).
The methods are those of :mod:`geo.surveillance` (``docs/surveillance.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from geo.ids import normalise_ids
from geo.rules import RulesConfig
from geo.surveillance import (
    ALERT_COLUMNS,
    ears_alerts,
    ili_mask,
    scan_alerts,
    space_time_scan,
    spread_risk,
    vaccination_targets,
)
from geo.vocabulary import town_code_of
from pipelines.load import insert
from store.results import SURVEILLANCE_TABLES

#: Result frame -> store table.
RESULT_TABLES = {
    "alerts": "surveillance_alerts",
    "risk_cells": "risk_cells",
    "vaccination_targets": "vaccination_targets",
}


def _ids(s: pd.Series) -> pd.Series:
    return normalise_ids(s, strip=True, dtype="string")


def _case_towns(cases: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.Series:
    """Town code of each case: its area's town, else the linked resident's town."""
    code = _ids(cases["area_code"]) if "area_code" in cases else pd.Series(pd.NA, cases.index)
    town = pd.Series(pd.NA, index=cases.index, dtype="string")
    areas = frames.get("areas")
    if areas is not None and not areas.empty:
        level = areas["level"].astype("string")
        parent = pd.Series(_ids(areas["parent_code"]).to_numpy(), index=_ids(areas["area_code"]))
        own = pd.Series(_ids(areas["area_code"]).to_numpy(), index=_ids(areas["area_code"]))
        town_of = parent.where((level == "village").to_numpy(), own)
        town_of = town_of[(level != "county").to_numpy()]
        town_of = town_of[~town_of.index.duplicated(keep="last")]
        town = code.map(town_of).astype("string")
    # Statistical division codes carry their town (370783001001 -> 370783001000).
    digits = code.str.fullmatch(r"\d{12}").fillna(False).astype(bool)
    town = town.fillna(code.where(digits).map(town_code_of, na_action="ignore").astype("string"))
    residents = frames.get("residents")
    if residents is not None and "resident_id" in cases and "town_code" in residents:
        by_resident = residents.drop_duplicates("resident_id", keep="last").set_index(
            _ids(residents.drop_duplicates("resident_id", keep="last")["resident_id"])
        )["town_code"]
        town = town.fillna(_ids(cases["resident_id"]).map(by_resident).astype("string"))
    return town


def _case_cells(cases: pd.DataFrame, frames: dict[str, pd.DataFrame], res: int) -> pd.Series:
    """H3 cell of each case: stored, else from its coordinates, else the resident's cell."""
    col = f"h3_{res}"
    cells = (
        _ids(cases[col]) if col in cases else pd.Series(pd.NA, index=cases.index, dtype="string")
    )
    if {"lat", "lng"} <= set(cases.columns):
        lat = pd.to_numeric(cases["lat"], errors="coerce")
        lng = pd.to_numeric(cases["lng"], errors="coerce")
        todo = cells.isna() & lat.notna() & lng.notna()
        cells[todo] = [
            h3.latlng_to_cell(float(a), float(b), res)
            for a, b in zip(lat[todo], lng[todo], strict=True)
        ]
    residents = frames.get("residents")
    if residents is not None and col in residents and "resident_id" in cases:
        uniq = residents.drop_duplicates("resident_id", keep="last")
        by_resident = pd.Series(_ids(uniq[col]).to_numpy(), index=_ids(uniq["resident_id"]))
        cells = cells.fillna(_ids(cases["resident_id"]).map(by_resident).astype("string"))
    return cells


def compute_surveillance(
    as_of: dt.date, frames: dict[str, pd.DataFrame], rules: RulesConfig
) -> dict[str, pd.DataFrame]:
    """EARS alerts, scan clusters, risk of spread and vaccination targets as of D.

    Parameters
    ----------
    as_of : date
        D.
    frames : dict of DataFrame
        Canonical frames (``read_frames``); ``case_reports`` and ``mobility`` may be
        missing (no alerts; risk from case rates only).
    rules : RulesConfig

    Returns
    -------
    dict of DataFrame
        ``alerts`` (EARS and scan alerts, numbered ``alert_id``), ``risk_cells`` and
        ``vaccination_targets``, in the columns of their store tables.
    """
    sv = rules.surveillance
    cell_col = f"h3_{sv.scan_h3_resolution}"
    residents = frames["residents"]
    status = residents["status"].astype("string").fillna("active")
    active = residents[(status == "active").to_numpy()]
    per_cell = _ids(active[cell_col]).dropna().value_counts()

    cases = frames.get("case_reports")
    if cases is None or cases.empty:
        cases = pd.DataFrame({"disease": [], "onset_date": pd.Series([], dtype="datetime64[ns]")})
    onset = pd.to_datetime(cases["onset_date"], errors="coerce")
    ili = cases[ili_mask(cases["disease"]) & (onset <= pd.Timestamp(as_of)).to_numpy()]
    ili = ili.assign(
        town_code=_case_towns(ili, frames), _cell=_case_cells(ili, frames, sv.scan_h3_resolution)
    )

    areas = frames.get("areas")
    county = (
        areas.loc[areas["level"].astype("string") == "county", "area_code"].astype(str).tolist()
        if areas is not None and not areas.empty
        else []
    )
    ears = ears_alerts(ili, as_of, county_id=county[0] if county else "county", config=sv)
    located = ili[ili["_cell"].notna()]
    clusters = space_time_scan(
        located["_cell"].astype(str), located["onset_date"], as_of, per_cell.index, sv
    )
    assert isinstance(clusters, pd.DataFrame)
    parts = [p for p in (ears, scan_alerts(clusters, as_of, sv)) if not p.empty]
    alerts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ALERT_COLUMNS)
    alerts.insert(0, "alert_id", np.arange(1, len(alerts) + 1))
    alert_cells = sorted({c for cells in clusters.get("cells", []) for c in cells})

    risk = spread_risk(
        as_of,
        located["_cell"].astype(str),
        located["onset_date"],
        per_cell,
        alert_cells,
        frames.get("mobility"),
        sv,
        rules.timezone,
    )
    targets = vaccination_targets(
        as_of,
        residents,
        frames.get("chronic_registry"),
        frames.get("vaccinations"),
        frames.get("grids"),
        risk,
        rules,
    )
    return {"alerts": alerts, "risk_cells": risk, "vaccination_targets": targets}


def _dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # The loader converts datetime-like columns, not Python date objects.
    return frame.assign(**{c: pd.to_datetime(frame[c]) for c in columns if c in frame})


def store_surveillance(
    engine: Engine, build_id: int, results: dict[str, pd.DataFrame]
) -> dict[str, int]:
    """Write :func:`compute_surveillance`'s frames under ``build_id``; rows per table.

    Parameters
    ----------
    engine : Engine
        The store (schema at head).
    build_id : int
        The build the rows belong to (made current by the build, not here).
    results : dict of DataFrame

    Returns
    -------
    dict of int
        Rows written per table.
    """
    counts: dict[str, int] = {}
    alerts = _dates(results["alerts"], ["day", "start_day"])
    # EARS rows have no cells: None (SQL NULL), not a NaN that JSON would spell "NaN".
    cells = pd.Series([c if isinstance(c, list) else None for c in alerts["cells"]], dtype=object)
    alerts = alerts.assign(
        cells=cells.to_numpy(),
        relative_risk=pd.to_numeric(alerts["relative_risk"], errors="coerce"),
    )
    frames: dict[str, Any] = {
        "surveillance_alerts": alerts,
        "risk_cells": results["risk_cells"],
        "vaccination_targets": _dates(
            results["vaccination_targets"], ["due_date", "last_flu_vaccination"]
        ),
    }
    for table, frame in frames.items():
        n = 0
        if not frame.empty:
            with engine.begin() as conn:
                n = insert(conn, table, frame.assign(build_id=build_id))
        counts[table] = n
    return counts


def delete_surveillance_rows(session: Session, build_id: int) -> None:
    """Delete one build's early-warning rows (a failed or superseded build)."""
    for table in SURVEILLANCE_TABLES:
        session.execute(delete(table).where(table.build_id == build_id))
