"""Vaccination targets: unvaccinated elderly (and managed chronic patients) in cells at risk.

Per team and household, as of a day ``D`` (RULES.md "Infectious-disease early warning").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.ids import normalise_ids
from geo.rules import DEFAULT_RULES, RulesConfig, age_on, flu_season_start

# --------------------------------------------------------------------------------------
# Vaccination targets
# --------------------------------------------------------------------------------------


def vaccination_targets(
    as_of: dt.date,
    residents: pd.DataFrame,
    registry: pd.DataFrame | None,
    vaccinations: pd.DataFrame | None,
    grids: pd.DataFrame | None,
    risk: pd.DataFrame,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Residents to vaccinate against influenza in the cells at risk, per team and household.

    A target is an ``active`` resident living (``h3_<scan resolution>``) in a cell with
    ``at_risk`` true, with no ``influenza`` vaccination dated from the start of the current
    season (``IndicatorConfig.flu_season_start_*``, default Sept 1) to D, who on D is
    aged ``vaccination_age`` (65) or more, or aged ``vaccination_chronic_age`` (60) or more
    and a managed htn or t2dm patient (RULES.md "Managed patients"). The team is the
    managing team for managed patients (registry team, else signed team, else the grid's
    team) and the signed team, else the grid's team, for the others. A household is the
    residents sharing exact coordinates; a resident placed at the village seat only is a
    household of their own. Due: D + ``vaccination_lead_days``.

    Parameters
    ----------
    as_of : date
    residents : DataFrame
        resident_id, birth_date, status, signed_team_id, grid_id, area_code, lat, lng,
        loc_precision and ``h3_<res>``.
    registry : DataFrame or None
        chronic_registry rows.
    vaccinations : DataFrame or None
        resident_id, vaccine, date.
    grids : DataFrame or None
        grid_id, team_id.
    risk : DataFrame
        From :func:`spread_risk` (``h3``, ``score``, ``at_risk``).
    config : RulesConfig

    Returns
    -------
    DataFrame
        team_id, household_id, resident_id, age, reason (``age`` or ``managed``),
        diseases, last_flu_vaccination, h3, risk_score, grid_id, area_code, lat, lng,
        due_date; ordered by team, household, age descending, resident.
    """
    sv = config.surveillance
    columns = [
        "team_id",
        "household_id",
        "resident_id",
        "age",
        "reason",
        "diseases",
        "last_flu_vaccination",
        "h3",
        "risk_score",
        "grid_id",
        "area_code",
        "lat",
        "lng",
        "due_date",
    ]
    cell_col = f"h3_{sv.scan_h3_resolution}"
    at_risk = risk[risk["at_risk"].astype(bool)].set_index("h3")["score"]
    if at_risk.empty or residents.empty:
        return pd.DataFrame(columns=columns)
    res = residents.copy()
    res["resident_id"] = normalise_ids(res["resident_id"], strip=True, dtype="string")
    res = res.drop_duplicates("resident_id", keep="last")
    status = res["status"].astype("string").fillna("active") if "status" in res else "active"
    cell = res[cell_col].astype("string")
    res = res[(status == "active") & cell.isin(at_risk.index.astype(str)).fillna(False)].copy()
    res["age"] = age_on(res["birth_date"], as_of)
    d = pd.Timestamp(as_of)

    # Managed patients on D (RULES.md): enrolled <= D, not closed <= D, resident active.
    managed = pd.DataFrame(columns=["resident_id", "diseases", "registry_team"])
    if registry is not None and not registry.empty:
        reg = registry.assign(
            resident_id=normalise_ids(registry["resident_id"], strip=True, dtype="string")
        )
        enrolled = pd.to_datetime(reg["enrolled_date"], errors="coerce")
        closed = pd.to_datetime(
            reg["closed_date"] if "closed_date" in reg else pd.Series(pd.NaT, index=reg.index),
            errors="coerce",
        )
        disease = reg["disease"].astype("string").str.strip().str.lower()
        open_ = (enrolled <= d) & ~(closed <= d) & disease.isin(["htn", "t2dm"])
        reg = reg[open_.fillna(False).to_numpy()].assign(
            disease=disease,
            _enrolled=enrolled,
            team_id=normalise_ids(reg["team_id"], strip=True, dtype="string"),
        )
        reg = reg.sort_values(["resident_id", "_enrolled"], kind="stable")
        # The team of the latest enrolment that names one (as the follow-up rules do).
        team = reg.dropna(subset=["team_id"]).groupby("resident_id")["team_id"].last()
        diseases = reg.groupby("resident_id")["disease"].agg(lambda s: ";".join(sorted(set(s))))
        managed = pd.DataFrame({"diseases": diseases, "registry_team": team}).reset_index()
    res = res.merge(managed, on="resident_id", how="left")
    is_managed = res["diseases"].notna().to_numpy()
    age = res["age"].fillna(-1).to_numpy()
    old = age >= sv.vaccination_age
    chronic = is_managed & (age >= sv.vaccination_chronic_age)
    res = res[old | chronic].copy()
    res["reason"] = np.where(old[old | chronic], "age", "managed")

    # Influenza vaccinations: this season (start … D) excludes; the latest one is shown.
    last = pd.Series(dtype="datetime64[ns]")
    if vaccinations is not None and not vaccinations.empty:
        vax = vaccinations.assign(
            resident_id=normalise_ids(vaccinations["resident_id"], strip=True, dtype="string")
        )
        when = pd.to_datetime(vax["date"], errors="coerce")
        flu = vax["vaccine"].astype("string").str.strip().str.lower() == "influenza"
        vax = vax[(flu & (when <= d)).fillna(False).to_numpy()].assign(_when=when)
        last = vax.groupby("resident_id")["_when"].max()
    season = pd.Timestamp(flu_season_start(as_of, config.indicators))
    res["last_flu_vaccination"] = res["resident_id"].map(last)
    res = res[~(res["last_flu_vaccination"] >= season).fillna(False)].copy()

    grid_team = pd.Series(dtype="string")
    if grids is not None and not grids.empty:
        g = grids.assign(
            grid_id=normalise_ids(grids["grid_id"], strip=True, dtype="string"),
            team_id=normalise_ids(grids["team_id"], strip=True, dtype="string"),
        )
        g = g.dropna(subset=["grid_id"]).drop_duplicates("grid_id", keep="last")
        grid_team = g.set_index("grid_id")["team_id"]
    signed = (
        normalise_ids(res["signed_team_id"], strip=True, dtype="string")
        if "signed_team_id" in res
        else pd.NA
    )
    by_grid = (
        normalise_ids(res["grid_id"], strip=True, dtype="string").map(grid_team)
        if "grid_id" in res
        else pd.NA
    )
    res["team_id"] = (
        normalise_ids(res["registry_team"], strip=True, dtype="string")
        .fillna(signed)
        .fillna(by_grid)
    )

    lat = pd.to_numeric(res["lat"], errors="coerce")
    lng = pd.to_numeric(res["lng"], errors="coerce")
    precise = lat.notna() & lng.notna()
    if "loc_precision" in res:
        precise &= res["loc_precision"].astype("string").fillna("exact") != "village"
    res["household_id"] = np.where(
        precise,
        lat.round(6).astype(str) + "," + lng.round(6).astype(str),
        "resident:" + res["resident_id"].astype(str),
    )
    res["h3"] = res[cell_col].astype(str)
    res["risk_score"] = res["h3"].map(at_risk).astype(float)
    res["lat"], res["lng"] = lat, lng
    res["due_date"] = as_of + dt.timedelta(days=sv.vaccination_lead_days)
    res["age"] = res["age"].astype("int64")
    res["last_flu_vaccination"] = res["last_flu_vaccination"].dt.date
    for c in ("grid_id", "area_code"):
        if c not in res:
            res[c] = None
    res = res.sort_values(
        ["team_id", "household_id", "age", "resident_id"],
        ascending=[True, True, False, True],
        kind="stable",
        na_position="last",
    )
    return res[columns].reset_index(drop=True)
