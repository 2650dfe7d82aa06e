"""Health-management indicators per H3 cell, grid, village, town, county and care team.

Every definition is the one of ``shared/RULES.md`` (table "Indicators"); where the rules are
silent the choice made here is written in :func:`compute_indicators` and in
``docs/indicators.md``.

The computation works in integer code space: residents, managed patients and claims are
reduced once to per-resident quantity arrays, and each level is then one ``bincount`` per
quantity over the level's unit codes. Strings (ids, codes) are hashed once through Arrow
(pandas 3 keeps them Arrow-backed), never per row in Python, so that a county (1M residents,
8M claims) takes seconds per as-of date.

Output is long: one row per (level, unit_id, indicator) with the numerator and denominator
that produced the value, so that any level can be re-aggregated, audited and suppressed
(:mod:`geo.suppression`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.geography import (
    COUNTY_FALLBACK_ID,
    LEVELS,
    Geography,
    _add_population,
    _derive_codes,
    _facility_table,
    _fallback_codes,
    _Units,
    band_adult_fraction,
    select_population_year,
    village_population,
)
from geo.indicator_columns import (
    _active,
    _col,
    _county_from_code,
    _day_number,
    _days,
    _factor,
    _resident_lookup,
    _unique_residents,
    _village_town_hint,
)
from geo.indicator_defs import (
    INDICATOR_BY_NAME,
    INDICATORS,
    IndicatorDef,
)
from geo.indicator_quantities import (
    _PATIENT_QTY,
    PreparedClaims,
    _claim_quantities,
    _flu_vaccinated,
    _managed_pairs,
    _overdue_pairs,
    _pair_quantities,
    _visit_stats,
    prepare_claims,
)
from geo.rules import (
    DEFAULT_RULES,
    RulesConfig,
    age_on,
)

__all__ = [
    "COUNTY_FALLBACK_ID",
    "INDICATORS",
    "INDICATOR_BY_NAME",
    "LEVELS",
    "OUTPUT_COLUMNS",
    "Geography",
    "IndicatorDef",
    "PreparedClaims",
    "band_adult_fraction",
    "compute_indicators",
    "prepare_claims",
    "select_population_year",
    "village_population",
]

#: Columns of the frame returned by :func:`compute_indicators`.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "level",
    "unit_id",
    "indicator",
    "numerator",
    "denominator",
    "value",
    "numerator_people",
    "denominator_people",
    "as_of",
)


# --------------------------------------------------------------------------------------
# The computation
# --------------------------------------------------------------------------------------
def compute_indicators(
    as_of: dt.date,
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame | None = None,
    followups: pd.DataFrame | None = None,
    claims: pd.DataFrame | PreparedClaims | None = None,
    facilities: pd.DataFrame | None = None,
    staff: pd.DataFrame | None = None,
    grids: pd.DataFrame | None = None,
    areas: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    vaccinations: pd.DataFrame | None = None,
    open_tasks: pd.DataFrame | None = None,
    levels: Sequence[str] = LEVELS,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """All RULES.md indicators at every requested level for one as-of date ``D``.

    Window ``W`` is the ``window_days`` (365) days ending ``D``: ``D-364 … D``.

    Definitions (numerator / denominator):

    * **Managed patient** of disease d on D: a chronic_registry row for d with
      ``enrolled_date <= D`` and no ``closed_date <= D`` (closed on D: not managed; closed
      after D: managed) of an active resident. Several open rows of one resident and
      disease are one patient, enrolled on the earliest of them and managed by the team of
      the latest enrolment that names one.
    * ``htn_management_rate`` / ``t2dm_…``: managed patients / estimated patients =
      adult population (18+) × prevalence (27.5 % / 11.9 %). Adults from population bands:
      every band from 20-24 up plus 2/5 of 15-19; without ``population``, the active
      residents aged 18+ on D.
    * ``htn_standard_rate`` / ``t2dm_…``: managed patients with at least
      ``ceil(4 × min(D − e, 365) / 365)`` visits of that disease in W (``e`` the enrolment
      date; so 4 from a full year on) / managed patients. A visit is a distinct visit date
      (two forms on one day are one visit); visits in W before ``e`` count, as RULES.md
      counts "visits in W". Enrolled on D itself: 0 visits needed, hence standard.
    * ``htn_control_rate`` / ``t2dm_…``: managed patients whose latest visit in W meets the
      target (``geo.rules.meets_target`` with the age on the visit date, so the 65+ BP
      target) / managed patients. No visit in W, or a latest visit without the needed
      values: not controlled. Several forms on the latest date: controlled only if all meet
      the target.
    * ``followup_overdue_rate``: managed (patient, disease) pairs with an open task
      (``open_tasks``, any task code) overdue by more than 30 days / managed pairs; a
      patient with both diseases is two pairs. Omitted when ``open_tasks`` is None.
    * ``signing_rate``: active residents with ``signed_team_id`` and ``signed_date <= D``
      (or no date) / active residents.
    * ``key_pop_signing_rate``: the same among active residents aged 65+ on D or managed
      for htn or t2dm on D.
    * ``elderly_flu_vax_rate``: active residents aged 65+ on D with an ``influenza``
      vaccination dated from the start of the season containing D (Sept 1) to D /
      active residents aged 65+.
    * ``primary_care_visit_share``: outpatient and chronic_outpatient claims in W at a
      township_hc, community_hc, village_clinic or community_station / all outpatient and
      chronic_outpatient claims in W.
    * ``in_county_visit_share``: claims in W (every visit type) with ``in_county`` / all
      claims in W.
    * ``primary_fund_share``: ``fund_paid`` of claims in W at primary facilities (every
      visit type) / all ``fund_paid`` in W.
    * ``doctors_per_1000``: licensed staff of open facilities located in the unit /
      population of the unit × 1000. ``beds_per_1000``: beds of open facilities located in
      the unit / population × 1000.

    An **active resident** is one with status ``active`` (missing = active) born on or
    before D. Status is the current snapshot: for a past D a resident who has since moved
    or died is not counted. Claims count whatever the resident's current status (they
    happened), and only when ``resident_id`` is on file.

    **Units.** A resident belongs to the H3 cells of the household (``h3_7``/``h3_8``/
    ``h3_9``), the grid (``grid_id``, else the grid of the village), the village
    (``area_code``), the town (``town_code``, else the village's parent) and the county.
    Claims are placed at the resident's household. Team level: patient indicators
    (management numerator, standard, control, overdue) go to the managing team (registry
    ``team_id``, else the team signed on D, else the grid's team); every other quantity,
    including the management-rate denominator, to the team responsible for the household's
    grid. Facilities are placed at their own cells and at the grid/village/town of their
    ``grid_id``/``area_code``; their team is their grid's team. The population of a village
    goes whole to its grid and to H3 cells in proportion to the village's active residents
    per cell (dasymetric); a village without located residents has no cells.

    Parameters
    ----------
    as_of : date
        ``D``.
    residents, registry, followups, claims, facilities, staff, grids, areas, population,
    vaccinations : DataFrame or None
        Canonical frames (``docs/frames.md``); ``registry`` is chronic_registry. None is an
        empty table. ``claims`` may also be :func:`prepare_claims`' reduction of them (for
        the same ``residents``), which a build makes once for all its as-of dates.
    open_tasks : DataFrame or None
        Open follow-up tasks on D: resident_id, disease, task_code, due_date, days_overdue
        (``days_overdue`` is taken as ``D − due_date`` when absent).
    levels : sequence of str
        Subset of :data:`LEVELS`.
    config : RulesConfig

    Returns
    -------
    DataFrame
        One row per (level, unit_id, indicator): level, unit_id, indicator, numerator,
        denominator, value (``numerator / denominator``, × 1000 for ``*_per_1000``; NaN when
        the denominator is 0), numerator_people and denominator_people (distinct residents
        behind each, tested by :func:`geo.suppression.suppress`; NaN numerator_people for
        doctors and beds), as_of. Every unit of the level found in the data or in
        ``areas``/``grids`` is listed; rows follow ``levels``, then unit_id, then the order
        of :data:`INDICATORS`.

    Raises
    ------
    ValueError
        On an unknown level.
    """
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        raise ValueError(f"unknown level(s) {bad}; expected a subset of {LEVELS}")
    cfg = config.indicators
    d_day = _day_number(as_of)
    w_start = d_day - cfg.window_days + 1

    # ---- residents -------------------------------------------------------------------
    res = _unique_residents(residents)
    lookup = _resident_lookup(res)
    # Claims, the largest table (8M rows), are reduced on a second core while the rest is
    # computed: Arrow and NumPy release the GIL. The pool lives only for this call.
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        claims_job = pool.submit(_claim_quantities, claims, facilities, res, w_start, d_day)
        return _compute(
            as_of,
            res,
            lookup,
            claims_job.result,
            registry,
            followups,
            facilities,
            staff,
            grids,
            areas,
            population,
            vaccinations,
            open_tasks,
            levels,
            config,
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _compute(
    as_of: dt.date,
    res: pd.DataFrame,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    claim_quantities: Callable[[], dict[str, np.ndarray]],
    registry: pd.DataFrame | None,
    followups: pd.DataFrame | None,
    facilities: pd.DataFrame | None,
    staff: pd.DataFrame | None,
    grids: pd.DataFrame | None,
    areas: pd.DataFrame | None,
    population: pd.DataFrame | None,
    vaccinations: pd.DataFrame | None,
    open_tasks: pd.DataFrame | None,
    levels: Sequence[str],
    config: RulesConfig,
) -> pd.DataFrame:
    """Body of :func:`compute_indicators` (``claim_quantities`` waits for the claims job)."""
    cfg = config.indicators
    d_day = _day_number(as_of)
    w_start = d_day - cfg.window_days + 1
    n = len(res)
    birth = _col(res, "birth_date")
    active = _active(res, d_day)
    age_d = age_on(birth, pd.Timestamp(as_of)).to_numpy(dtype="float64", na_value=np.nan)

    village = _factor(_col(res, "area_code"))
    town0 = _factor(_col(res, "town_code"))
    geo = Geography.build(grids, areas, _village_town_hint(village, town0))
    if geo.county_id == COUNTY_FALLBACK_ID:  # no areas: the county of the village codes
        geo.county_id = next(
            (c for c in map(_county_from_code, village[1]) if c), COUNTY_FALLBACK_ID
        )
    town = _fallback_codes(town0, _derive_codes(village[0], village[1], geo.town))
    grid = _fallback_codes(
        _factor(_col(res, "grid_id")), _derive_codes(village[0], village[1], geo.grid)
    )
    grid_team = _derive_codes(grid[0], grid[1], geo.team)

    signed_raw = _factor(_col(res, "signed_team_id"))
    s_day, s_ok = _days(_col(res, "signed_date"))
    signed_on_d = (signed_raw[0] >= 0) & (~s_ok | (s_day <= d_day))
    signed_team_codes = np.where(signed_on_d, signed_raw[0], -1)

    # ---- managed patients: (resident, disease) pairs, key = position × 2 + disease -----
    pair_key, e_day, reg_team = _managed_pairs(registry, lookup, active, d_day)
    pair_idx = pair_key // 2
    is_htn = pair_key % 2 == 0
    is_t2 = ~is_htn
    n_visits, controlled = _visit_stats(followups, lookup, birth, pair_key, w_start, d_day, config)
    since = np.clip(d_day - e_day, 0, None)
    k_min = cfg.standard_min_visits
    # ceil(k × days / window) in integers: no float rounding at exact multiples.
    required = np.where(since >= cfg.window_days, k_min, -(-(k_min * since) // cfg.window_days))
    standard = n_visits >= required
    overdue = _overdue_pairs(open_tasks, lookup, pair_key, d_day, cfg.overdue_days)

    def per_resident(flags: np.ndarray) -> np.ndarray:
        return np.bincount(pair_idx, weights=flags.astype(float), minlength=n)

    patient_qty: dict[str, np.ndarray] = {
        "htn_managed": per_resident(is_htn),
        "htn_standard": per_resident(is_htn & standard),
        "htn_controlled": per_resident(is_htn & controlled),
        "t2dm_managed": per_resident(is_t2),
        "t2dm_standard": per_resident(is_t2 & standard),
        "t2dm_controlled": per_resident(is_t2 & controlled),
        "pairs_managed": per_resident(np.ones(len(pair_key), dtype=bool)),
        "pairs_overdue": per_resident(overdue),
    }
    patient_qty["people_managed"] = (patient_qty["pairs_managed"] > 0).astype(float)
    patient_qty["people_overdue"] = (patient_qty["pairs_overdue"] > 0).astype(float)
    managed_any = patient_qty["pairs_managed"] > 0

    # ---- household-based resident quantities -----------------------------------------
    elder = active & (age_d >= cfg.elderly_vax_age)
    keypop = active & ((age_d >= cfg.key_population_age) | managed_any)
    vax = _flu_vaccinated(vaccinations, lookup, n, as_of, d_day, config)
    resident_qty: dict[str, np.ndarray] = {
        "active": active.astype(float),
        "signed": (active & signed_on_d).astype(float),
        "keypop": keypop.astype(float),
        "keypop_signed": (keypop & signed_on_d).astype(float),
        "elder": elder.astype(float),
        "elder_vax": (elder & vax).astype(float),
    }
    pop_villages: pd.DataFrame | None = None
    if population is None:
        resident_qty["pop_total"] = active.astype(float)
        resident_qty["pop_adults"] = (active & (age_d >= 18)).astype(float)
    else:
        act_v = np.bincount(
            village[0][village[0] >= 0],
            weights=active[village[0] >= 0].astype(float),
            minlength=len(village[1]),
        )
        pop_villages = village_population(
            population, as_of, geo, dict(zip(village[1], act_v, strict=True))
        )
    fac = _facility_table(facilities, staff, geo)

    # ---- managing team of each pair (team level) -------------------------------------
    team_units = None
    if "team" in levels:
        managing = reg_team.copy()
        st = signed_team_codes[pair_idx]
        fill = pd.isna(managing) & (st >= 0)
        managing[fill] = signed_raw[1][st[fill]]
        gt = grid_team[0][pair_idx]
        fill = pd.isna(managing) & (gt >= 0)
        managing[fill] = grid_team[1][gt[fill]]
        team_units = managing

    # ---- per level -------------------------------------------------------------------
    resident_qty.update(claim_quantities())  # as late as possible: the job runs meanwhile
    resident_units: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "grid": grid,
        "village": village,
        "town": town,
        "team": grid_team,
        "county": (np.zeros(n, dtype=np.int64), np.array([geo.county_id], dtype=object)),
    }
    listed = {
        "grid": geo.grids,
        "village": geo.villages,
        "town": geo.towns,
        "county": [geo.county_id],
        "team": geo.teams,
    }
    wanted = [d for d in INDICATORS if open_tasks is not None or d.name != "followup_overdue_rate"]
    names = sorted({*_PATIENT_QTY, *resident_qty, "pop_total", "pop_adults", "doctors", "beds"})
    unit_codes = {
        lv: resident_units[lv] if lv in resident_units else _factor(_col(res, f"h3_{lv[3:]}"))
        for lv in levels
    }
    # Every level's unit is a function of the resident's combination of units (a few
    # thousand distinct ones in a county of a million): sum each quantity over the
    # combinations once, then each level sums combinations instead of residents.
    combo, first = _combinations([unit_codes[lv][0] for lv in levels], n)
    resident_sums = {
        k: np.bincount(combo, weights=v, minlength=len(first)) for k, v in resident_qty.items()
    }
    patient_sums = {
        k: np.bincount(combo, weights=v, minlength=len(first)) for k, v in patient_qty.items()
    }
    pieces: list[pd.DataFrame] = []
    for lv in levels:
        units = unit_codes[lv]
        of_combo = units[0][first]
        acc = _Units()
        acc.add_codes(of_combo, units[1], resident_sums)
        if lv == "team" and team_units is not None:
            acc.add_units(
                team_units,
                _pair_quantities(pair_idx, is_htn, standard, controlled, overdue, team_units),
            )
        else:
            acc.add_codes(of_combo, units[1], patient_sums)
        if pop_villages is not None:
            _add_population(acc, lv, pop_villages, geo, units, village, active)
        acc.add_units(
            fac[lv].to_numpy(dtype=object),
            {"doctors": fac["doctors"].to_numpy(), "beds": fac["beds"].to_numpy()},
        )
        acc.add_empty(listed.get(lv, []))
        unit_ids, q = acc.table(names)
        q["htn_expected"] = q["pop_adults"] * cfg.htn_prevalence
        q["t2dm_expected"] = q["pop_adults"] * cfg.t2dm_prevalence
        pieces.append(_long(lv, unit_ids, q, wanted))
    if pieces:
        out = pd.concat(pieces, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
    out["as_of"] = pd.Series(pd.Timestamp(as_of), index=out.index, dtype="datetime64[ns]")
    return out[list(OUTPUT_COLUMNS)]


def _combinations(codes: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code of its combination of ``codes`` columns, and a row of each combination.

    Returns ``(combo, first)``: ``combo[i]`` in ``0..m-1`` numbers the distinct tuples
    ``(codes[0][i], codes[1][i], ...)`` and ``first[j]`` is a row holding tuple ``j``.
    """
    combo = np.zeros(n, dtype=np.int64)
    for c in codes:
        # combo < n and c < n, so the pair's key stays far inside int64.
        pair = combo * (int(c.max(initial=-1)) + 2) + (c + 1)
        combo = pd.factorize(pair)[0].astype(np.int64)
    first = np.unique(combo, return_index=True)[1].astype(np.int64)
    return combo, first


def _long(
    level: str, unit_ids: np.ndarray, q: Mapping[str, np.ndarray], defs: Sequence[IndicatorDef]
) -> pd.DataFrame:
    """Long rows (unit-major, indicators in :data:`INDICATORS` order) of one level."""
    k, m = len(defs), len(unit_ids)
    num = np.column_stack([q[d.numerator] for d in defs]) if m else np.zeros((0, k))
    den = np.column_stack([q[d.denominator] for d in defs]) if m else np.zeros((0, k))
    scale = np.array([d.scale for d in defs], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(den > 0, num / np.where(den > 0, den, 1.0) * scale, np.nan)
    nan = np.full(m, np.nan)
    n_ppl = (
        np.column_stack([q[d.numerator_people] if d.numerator_people else nan for d in defs])
        if m
        else np.zeros((0, k))
    )
    d_ppl = (
        np.column_stack([q[d.denominator_people] if d.denominator_people else nan for d in defs])
        if m
        else np.zeros((0, k))
    )
    return pd.DataFrame(
        {
            "level": level,
            "unit_id": np.repeat(unit_ids, k).astype(object),
            "indicator": np.tile(np.array([d.name for d in defs], dtype=object), m),
            "numerator": num.ravel(),
            "denominator": den.ravel(),
            "value": val.ravel(),
            "numerator_people": n_ppl.ravel(),
            "denominator_people": d_ppl.ravel(),
        }
    )
