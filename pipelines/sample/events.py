"""Synthetic claims, population, mobility, infectious-disease reports and vaccinations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample import common as sc
from pipelines.sample.geography import EXTERNAL_FACILITIES, N_TOWNS, Geography
from pipelines.sample.people import ACTIVE, AGE_BANDS, HTN, T2DM, People

# --- claims ------------------------------------------------------------------------------

CLAIMS_PER_RESIDENT_YEAR = 8.0

CodeTable = dict[str, float] | tuple[list[str], list[float]]

HTN_CODES: CodeTable = (["I10", "I11.9"], [0.8, 0.2])
DM_CODES: CodeTable = (["E11.9", "E11.2", "E11.4", "E11.6"], [0.7, 0.1, 0.1, 0.1])
OUTPATIENT_CODES: dict[str, float] = {
    "J06.9": 14,
    "J20.9": 6,
    "J02.9": 5,
    "K29.7": 8,
    "K30": 3,
    "M54.5": 7,
    "M47.8": 6,
    "M79.1": 3,
    "R51": 3,
    "I25.1": 3,
    "E78.5": 3,
    "H10.9": 2,
    "L30.9": 3,
    "N39.0": 2,
    "K52.9": 3,
    "Z00.0": 4,
    "S93.4": 2,
    "J44.9": 2,
    "R10.4": 2,
    "G47.0": 1,
}
EMERGENCY_CODES: dict[str, float] = {
    "S06.0": 3,
    "S52.5": 2,
    "R10.4": 4,
    "J18.9": 3,
    "I63.9": 2,
    "I21.9": 1,
    "R07.4": 3,
    "J06.9": 4,
    "K35.9": 1,
    "T14.0": 3,
}
INPATIENT_CODES: dict[str, float] = {
    "J18.9": 6,
    "K80.2": 3,
    "S72.0": 2,
    "M47.8": 3,
    "M51.2": 2,
    "K35.9": 2,
    "N20.0": 2,
    "I63.9": 3,
    "J44.1": 3,
    "C34.9": 1,
    "K29.7": 1,
    "I20.0": 2,
}
HTN_INPATIENT: CodeTable = (
    ["I63.9", "I20.9", "I11.9", "I10", "I25.1", "I50.9"],
    [3.0, 2.0, 2.0, 2.0, 2.0, 1.0],
)
DM_INPATIENT: CodeTable = (["E11.9", "E11.5", "E11.7"], [3.0, 1.0, 1.0])
WINTER = {11, 12, 1, 2, 3}

# visit type -> probabilities of (village clinic, township HC, county hospital, outside)
FAC_MIX = {
    "outpatient": [0.46, 0.25, 0.21, 0.08],
    "chronic_outpatient": [0.35, 0.45, 0.17, 0.03],
    "emergency": [0.0, 0.27, 0.66, 0.07],
    "inpatient": [0.0, 0.30, 0.55, 0.15],
}
# (facility kind, visit type) -> (median cost yuan, fund share)
COST = {
    (0, "outpatient"): (45, 0.65),
    (1, "outpatient"): (90, 0.60),
    (2, "outpatient"): (230, 0.50),
    (3, "outpatient"): (450, 0.40),
    (0, "chronic_outpatient"): (120, 0.65),
    (1, "chronic_outpatient"): (180, 0.65),
    (2, "chronic_outpatient"): (350, 0.60),
    (3, "chronic_outpatient"): (500, 0.45),
    (1, "emergency"): (300, 0.55),
    (2, "emergency"): (800, 0.55),
    (3, "emergency"): (1500, 0.45),
    (1, "inpatient"): (2800, 0.80),
    (2, "inpatient"): (9000, 0.65),
    (3, "inpatient"): (22000, 0.50),
}
VISIT_TYPES = ["outpatient", "chronic_outpatient", "emergency", "inpatient"]


def _codes(table: CodeTable) -> list[str]:
    return list(table) if isinstance(table, dict) else table[0]


ICD_VOCAB = sorted(
    {"J11.1"}.union(
        *(
            _codes(t)
            for t in (
                HTN_CODES,
                DM_CODES,
                OUTPATIENT_CODES,
                EMERGENCY_CODES,
                INPATIENT_CODES,
                HTN_INPATIENT,
                DM_INPATIENT,
            )
        )
    )
)
_ICD_INDEX = {c: i for i, c in enumerate(ICD_VOCAB)}


@dataclass
class ClaimsContext:
    """Per-resident claim propensities shared by all monthly batches."""

    rate: np.ndarray
    htn_enr: np.ndarray
    dm_enr: np.ndarray
    undiag_htn: np.ndarray
    undiag_dm: np.ndarray
    home_clinic: np.ndarray
    home_thc: np.ndarray
    town_clinics: list[np.ndarray]


def claim_batches(as_of: dt.date) -> list[tuple[str, int, int]]:
    """Calendar-month batches of the 365 days ending ``as_of``.

    Returns
    -------
    list of (label, first_day, last_day)
        ``label`` is ``YYYY-MM``; days are day numbers, inclusive. 12 batches when
        ``as_of`` is a month end, otherwise 13 (two partial months).
    """
    d0 = sc.day_number(as_of)
    start = d0 - 364
    out = []
    day = start
    while day <= d0:
        d = sc.to_date(day)
        nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        last = min(d0, sc.day_number(nxt) - 1)
        out.append((f"{d.year:04d}-{d.month:02d}", day, last))
        day = last + 1
    return out


def claims_context(geo: Geography, people: People, seed: int) -> ClaimsContext:
    """Propensities: age, chronic status and known-but-unregistered conditions.

    Parameters
    ----------
    geo : Geography
    people : People
    seed : int

    Returns
    -------
    ClaimsContext
    """
    rng = sc.stream(seed, sc.K_CLAIMS, 0)
    age = people.age
    htn_enr = people.enrolled[:, HTN]
    dm_enr = people.enrolled[:, T2DM]
    # Some unregistered patients are treated at clinics under their diagnosis: the
    # case-finding targets (>= 2 I10/E11 outpatient claims, no registry row).
    undiag_htn = people.htn_prev & ~htn_enr & (rng.random(people.n) < 0.1)
    undiag_dm = people.t2dm_prev & ~dm_enr & (rng.random(people.n) < 0.1)
    base = np.select([age < 15, age < 45, age < 65], [5.0, 4.5, 8.0], 12.0)
    base = base + 6.0 * (htn_enr | dm_enr) + 2.0 * (undiag_htn | undiag_dm)
    rate = base * CLAIMS_PER_RESIDENT_YEAR / base.mean()
    grid = geo.village_grid[people.village]
    clinic = geo.grid_clinic[grid]
    town = geo.village_town[people.village]
    thc = geo.thc_fac[town]
    clinic = np.where(geo.fac_open[clinic] == 1, clinic, thc)
    open_clinics = geo.clinic_fac[geo.fac_open[geo.clinic_fac] == 1]
    town_clinics = [open_clinics[geo.fac_town[open_clinics] == t] for t in range(N_TOWNS)]
    return ClaimsContext(rate, htn_enr, dm_enr, undiag_htn, undiag_dm, clinic, thc, town_clinics)


def _draw(rng: np.random.Generator, table: CodeTable, n: int) -> np.ndarray:
    """Indices into ICD_VOCAB drawn from a weighted code table."""
    codes = _codes(table)
    weights = list(table.values()) if isinstance(table, dict) else table[1]
    p = np.asarray(weights, dtype=np.float64)
    idx = np.asarray([_ICD_INDEX[c] for c in codes], dtype=np.int64)
    return idx[rng.choice(len(codes), size=n, p=p / p.sum())]


def build_claims_batch(
    geo: Geography,
    people: People,
    ctx: ClaimsContext,
    seed: int,
    as_of: dt.date,
    batch: int,
    first_day: int,
    last_day: int,
    id_start: int,
) -> pa.Table:
    """Claims with visit dates in ``[first_day, last_day]`` (one monthly file).

    Parameters
    ----------
    geo, people, ctx
        County, residents and claim propensities.
    seed : int
    as_of : datetime.date
    batch : int
        Batch index (selects the random stream).
    first_day, last_day : int
        Inclusive day numbers.
    id_start : int
        Number of the first claim_id.

    Returns
    -------
    pyarrow.Table
    """
    rng = sc.stream(seed, sc.K_CLAIMS, 1 + batch)
    d0 = sc.day_number(as_of)
    ndays = last_day - first_day + 1
    k = rng.poisson(ctx.rate * ndays / 365.0)
    res = np.repeat(np.arange(people.n), k)
    day = first_day + rng.integers(0, ndays, res.size)
    keep = day < people.status_day[res]
    res, day = res[keep], day[keep]
    v = res.size
    month = sc.to_date(first_day).month
    age = people.age[res]
    htn_e, dm_e = ctx.htn_enr[res], ctx.dm_enr[res]
    chronic = htn_e | dm_e

    p_in = 0.025 * np.where(age >= 65, 1.6, 1.0) * np.where(chronic, 1.4, 1.0)
    p_em = np.full(v, 0.06)
    p_chr = np.where(chronic, 0.42, 0.0)
    u = rng.random(v)
    vt = np.where(
        u < p_in, 3, np.where(u < p_in + p_em, 2, np.where(u < p_in + p_em + p_chr, 1, 0))
    )

    icd = np.zeros(v, dtype=np.int64)
    outp = OUTPATIENT_CODES | ({"J11.1": 9.0} if month in WINTER else {"J11.1": 0.5})
    emer = EMERGENCY_CODES | ({"J11.1": 4.0} if month in WINTER else {"J11.1": 0.2})
    for code, table in ((0, outp), (2, emer), (3, INPATIENT_CODES)):
        m = vt == code
        icd[m] = _draw(rng, table, int(m.sum()))
    u2 = rng.random(v)
    # Diagnosis-specific visits of known patients override the general mix.
    m = (vt == 1) & htn_e & (~dm_e | (u2 < 0.5))
    icd[m] = _draw(rng, HTN_CODES, int(m.sum()))
    m = (vt == 1) & dm_e & ~((vt == 1) & htn_e & (u2 < 0.5))
    icd[m] = _draw(rng, DM_CODES, int(m.sum()))
    oe = (vt == 0) | (vt == 2)
    u3 = rng.random(v)
    p_code: float
    tab: CodeTable
    for flag, p_code, tab in (
        (htn_e, 0.30, HTN_CODES),
        (dm_e, 0.20, DM_CODES),
        (ctx.undiag_htn[res], 0.45, (["I10"], [1.0])),
        (ctx.undiag_dm[res], 0.40, (["E11.9"], [1.0])),
    ):
        m = oe & flag & (u3 < p_code)
        icd[m] = _draw(rng, tab, int(m.sum()))
        u3 = rng.random(v)
    for flag, p_code, tab in ((htn_e, 0.35, HTN_INPATIENT), (dm_e, 0.25, DM_INPATIENT)):
        m = (vt == 3) & flag & (u3 < p_code)
        icd[m] = _draw(rng, tab, int(m.sum()))
        u3 = rng.random(v)

    # Length of stay: longer for chronic patients; open stays have no discharge date.
    los = 2 + rng.geometric(0.18, v) + np.where(chronic, 3, 0)
    los = np.minimum(los, 40)
    discharge = day + los
    no_dis = (vt != 3) | (discharge > d0)

    kind = np.empty(v, dtype=np.int64)
    for t_i, name in enumerate(VISIT_TYPES):
        m = vt == t_i
        kind[m] = rng.choice(4, size=int(m.sum()), p=FAC_MIX[name])
    fac = np.full(v, -1, dtype=np.int64)
    town = geo.village_town[people.village[res]]
    m = kind == 0
    other_clinic = rng.random(v) < 0.15
    fac[m] = ctx.home_clinic[res[m]]
    mo = m & other_clinic
    if mo.any():
        pickr = rng.random(int(mo.sum()))
        t_mo = town[mo]
        alt = np.empty(t_mo.size, dtype=np.int64)
        for t in range(N_TOWNS):
            sel = t_mo == t
            cl = ctx.town_clinics[t]
            if sel.any():
                alt[sel] = (
                    cl[(pickr[sel] * cl.size).astype(np.int64)] if cl.size else geo.thc_fac[t]
                )
        fac[mo] = alt
    m = kind == 1
    fac[m] = np.where(
        rng.random(int(m.sum())) < 0.9,
        ctx.home_thc[res[m]],
        geo.thc_fac[rng.integers(0, N_TOWNS, int(m.sum()))],
    )
    m = kind == 2
    fac[m] = geo.hospital_fac[rng.choice(3, size=int(m.sum()), p=[0.6, 0.25, 0.15])]
    ext_ids = [e[0] for e in EXTERNAL_FACILITIES]
    ext_w = np.asarray([e[1] for e in EXTERNAL_FACILITIES])
    fac_pool = [*geo.fac_id.tolist(), *ext_ids]
    m = kind == 3
    fac[m] = geo.fac_id.size + rng.choice(len(ext_ids), size=int(m.sum()), p=ext_w / ext_w.sum())

    median = np.empty(v)
    share = np.empty(v)
    for (kd, name), (med, sh) in COST.items():
        m = (kind == kd) & (vt == VISIT_TYPES.index(name))
        median[m] = med
        share[m] = sh
    scale_los = np.where(vt == 3, los / 7.0, 1.0)
    total_c = np.maximum(
        100, np.round(median * scale_los * rng.lognormal(0, 0.55, v) * 100)
    ).astype(np.int64)
    fund_c = np.floor(total_c * np.clip(share * rng.uniform(0.9, 1.08, v), 0, 0.95)).astype(
        np.int64
    )
    other_c = np.where(rng.random(v) < 0.1, np.floor(total_c * rng.uniform(0, 0.05, v)), 0).astype(
        np.int64
    )
    self_c = total_c - fund_c - other_c

    order = np.lexsort((res, day))
    by_id = rng.random(v) < 0.02

    def o(a: np.ndarray) -> np.ndarray:
        return a[order]

    rid = people.resident_id.take(pa.array(o(res)))
    idn = people.id_number.take(pa.array(o(res)))
    b = pa.array(o(by_id))
    return pa.table(
        {
            "claim_id": sc.make_ids("C", id_start, v, 9),
            "resident_id": pc.if_else(b, pa.scalar(None, pa.string()), rid),
            "id_number": pc.if_else(b, idn, pa.scalar(None, pa.string())),
            "visit_date": sc.date_array(o(day)),
            "discharge_date": sc.date_array(o(discharge), o(no_dis)),
            "facility_id": sc.take_str(fac_pool, o(fac)),
            "visit_type": sc.take_str(VISIT_TYPES, o(vt)),
            "icd10": sc.take_str(ICD_VOCAB, o(icd)),
            "total_cost": o(total_c) / 100.0,
            "fund_paid": o(fund_c) / 100.0,
            "self_paid": o(self_c) / 100.0,
        }
    )


# --- population --------------------------------------------------------------------------


def population_table(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Census-style counts per village, sex and 5-year band (active residents +-3 %)."""
    rng = sc.stream(seed, sc.K_POPULATION)
    act = people.status == ACTIVE
    band = np.minimum(people.age[act] // 5, len(AGE_BANDS) - 1)
    nb = len(AGE_BANDS)
    key = (people.village[act] * 2 + (people.sex[act] - 1)) * nb + band
    counts = np.bincount(key, minlength=geo.n_villages * 2 * nb).astype(np.float64)
    noisy = np.round(counts * rng.uniform(0.97, 1.03, counts.size)).astype(np.int64)
    idx = np.arange(counts.size)
    return pa.table(
        {
            "area_code": pa.array(geo.village_codes[idx // (2 * nb)]),
            "year": np.full(idx.size, as_of.year, dtype=np.int64),
            "sex": (idx // nb) % 2 + 1,
            "age_band": pa.array(np.asarray(AGE_BANDS)[idx % nb]),
            "count": noisy,
        }
    )


# --- mobility ----------------------------------------------------------------------------

WEEKDAY_AWAY = np.array(
    [0.04] * 6
    + [0.10, 0.22, 0.30, 0.32, 0.32, 0.30, 0.28, 0.30, 0.32, 0.32, 0.30, 0.24]
    + [0.15, 0.10, 0.08, 0.06, 0.05, 0.04]
)


def _cells_of(lat: np.ndarray, lng: np.ndarray, res: int, snap: float) -> np.ndarray:
    """H3 cells of points, computed once per ``snap``-degree bin (fast, approximate)."""
    qa = np.round(lat / snap).astype(np.int64)
    qb = np.round(lng / snap).astype(np.int64)
    keys, inv = np.unique(qa * 1_000_000_000 + qb, return_inverse=True)
    cells = np.asarray(
        [
            h3.latlng_to_cell(float(a * snap), float(b * snap), res)
            for a, b in zip(keys // 1_000_000_000, keys % 1_000_000_000, strict=True)
        ]
    )
    return cells[inv]


def mobility_table(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Eight weeks of hourly heat on H3 res-7 cells plus the main origin-destination flows.

    Parameters
    ----------
    geo, people
    seed : int
    as_of : datetime.date

    Returns
    -------
    pyarrow.Table
        Columns h3, hour, count, origin_h3 (empty on heat rows).
    """
    rng = sc.stream(seed, sc.K_MOBILITY)
    d0 = sc.day_number(as_of)
    act = people.status == ACTIVE
    vlng, vlat = geo.proj.to_wgs(geo.village_xy[:, 0], geo.village_xy[:, 1])
    lat = np.where(np.isnan(people.lat), vlat[people.village], people.lat)[act]
    lng = np.where(np.isnan(people.lng), vlng[people.village], people.lng)[act]
    cell_of = _cells_of(lat, lng, 7, 0.002)
    # The operator delivers the cells whose centre lies in the county; households in
    # border cells outside it count at their village seat's cell.
    clng, clat = geo.proj.to_wgs(*np.asarray(geo.county.exterior.coords).T)
    cells = np.asarray(
        sorted(h3.h3shape_to_cells(h3.LatLngPoly(list(zip(clat, clng, strict=True))), 7))
    )
    seat_cell = _cells_of(vlat, vlng, 7, 1e-6)[people.village[act]]
    cell_of = np.where(np.isin(cell_of, cells), cell_of, seat_cell)
    pos = np.searchsorted(cells, cell_of)
    inside = (pos < cells.size) & (cells[np.minimum(pos, cells.size - 1)] == cell_of)
    pop = np.bincount(pos[inside], minlength=cells.size).astype(np.float64)
    tlng, tlat = geo.proj.to_wgs(geo.town_xy[:, 0], geo.town_xy[:, 1])
    # Cells nobody lives in and nobody commutes to would be all-zero rows: not delivered.
    centre = np.asarray([h3.cell_to_latlng(str(x)) for x in cells])
    seat_near = np.argmin(
        np.hypot(
            centre[:, 0][None, :] - tlat[:, None], (centre[:, 1][None, :] - tlng[:, None]) * 0.8
        ),
        axis=1,
    )
    used = pop > 0
    used[seat_near] = True
    cells, pop, centre = cells[used], pop[used], centre[used]
    c = cells.size
    # Each town seat's cell (the nearest delivered cell centre to the seat).
    seat_idx = np.argmin(
        np.hypot(
            centre[:, 0][None, :] - tlat[:, None], (centre[:, 1][None, :] - tlng[:, None]) * 0.8
        ),
        axis=1,
    )
    d = np.hypot(
        centre[:, 0][:, None] - tlat[None, :], (centre[:, 1][:, None] - tlng[None, :]) * 0.8
    )
    dest = seat_idx[np.argmin(d, axis=1)]
    county_seat = int(seat_idx[0])

    hours = 56 * 24
    h = np.arange(hours)
    day = d0 - 55 + h // 24
    weekend = (day + 3) % 7 >= 5
    away = WEEKDAY_AWAY[h % 24] * np.where(weekend, 0.55, 1.0)
    # present[c, h] = stayers + commuters arriving at town seats and the county seat.
    inflow_town = np.bincount(dest, weights=0.75 * pop, minlength=c)
    inflow_seat = np.zeros(c)
    inflow_seat[county_seat] = 0.25 * pop.sum()
    present = (
        pop[:, None] * (1 - away[None, :]) + (inflow_town + inflow_seat)[:, None] * away[None, :]
    )
    counts = np.round(present * 0.9 * rng.lognormal(0, 0.05, present.shape)).astype(np.int64)

    # Origin-destination form for the 30 largest flows.
    origins = np.r_[np.arange(c), np.arange(c)]
    dests = np.r_[dest, np.full(c, county_seat)]
    weights = np.r_[0.75 * pop, 0.25 * pop]
    ok = origins != dests
    origins, dests, weights = origins[ok], dests[ok], weights[ok]
    top = np.argsort(-weights, kind="stable")[:30]
    od = np.round(
        weights[top][:, None] * away[None, :] * 0.9 * rng.lognormal(0, 0.08, (top.size, hours))
    ).astype(np.int64)

    hour_str = np.asarray(
        [
            f"{sc.to_date(int(dd)).isoformat()}T{hh:02d}:00:00"
            for dd, hh in zip(day, h % 24, strict=True)
        ]
    )
    # Rows by hour; per hour the heat rows (cell order) then the OD rows. Strings are
    # built by index in Arrow (fast for ~10^6 rows).
    heat_cell = np.tile(np.arange(c), hours)
    heat_hour = np.repeat(np.arange(hours), c)
    od_cell = np.tile(dests[top], hours)
    od_origin = np.tile(origins[top], hours)
    od_hour = np.repeat(np.arange(hours), top.size)
    all_hour = np.r_[heat_hour, od_hour]
    is_od = np.r_[np.zeros(heat_hour.size, bool), np.ones(od_hour.size, bool)]
    order = np.lexsort((is_od, all_hour))
    cell_idx = np.r_[heat_cell, od_cell][order]
    origin_idx = np.r_[np.zeros(heat_hour.size, np.int64), od_origin][order]
    return pa.table(
        {
            "h3": sc.take_str(cells, cell_idx),
            "hour": sc.take_str(hour_str, all_hour[order]),
            "count": np.r_[counts.T.ravel(), od.T.ravel()][order],
            "origin_h3": sc.take_str(cells, origin_idx, ~is_od[order]),
        }
    )


# --- infectious-disease reports ----------------------------------------------------------


def case_reports_table(
    geo: Geography, people: People, seed: int, as_of: dt.date
) -> tuple[pa.Table, list[dict[str, object]]]:
    """A year of ILI/influenza reports with a winter season and one planted outbreak.

    Parameters
    ----------
    geo, people
    seed : int
    as_of : datetime.date

    Returns
    -------
    (pyarrow.Table, list of dict)
        The reports and the ``planted_outbreaks`` manifest entries.
    """
    rng = sc.stream(seed, sc.K_CASES)
    d0 = sc.day_number(as_of)
    days = np.arange(d0 - 364, d0 + 1)
    y, _, _ = sc.ymd(days)
    jan15 = [
        np.abs(days - np.asarray([sc.day_number(dt.date(int(yy) + off, 1, 15)) for yy in y]))
        for off in (-1, 0, 1)
    ]
    dist = np.minimum.reduce(jan15)
    shape = 0.12 + np.exp(-0.5 * (dist / 28.0) ** 2)
    act = np.flatnonzero(people.status == ACTIVE)
    total = 0.012 * act.size
    lam = total * shape / shape.sum()
    per_day = rng.poisson(lam)
    onset = np.repeat(days, per_day)
    w = np.select([people.age[act] < 15, people.age[act] >= 60], [3.0, 1.6], 1.0)
    who = act[rng.choice(act.size, size=onset.size, p=w / w.sum())]

    # Planted outbreak: a burst in 3 adjacent res-8 cells around a populous village.
    has_loc = ~np.isnan(people.lat)
    vpop = np.bincount(people.village[act][has_loc[act]], minlength=geo.n_villages)
    village = int(rng.choice(np.argsort(-vpop, kind="stable")[:10]))
    members = act[(people.village[act] == village) & has_loc[act]]
    mcells = np.asarray(
        [
            h3.latlng_to_cell(float(a), float(b), 8)
            for a, b in zip(people.lat[members], people.lng[members], strict=True)
        ]
    )
    uc, cnt = np.unique(mcells, return_counts=True)
    top = str(uc[int(np.argmax(cnt))])
    ring = [cc for cc in h3.grid_disk(top, 1) if cc != top]
    ring_cnt = {cc: int(cnt[uc == cc].sum()) for cc in ring}
    neigh = sorted(ring, key=lambda cc: (-ring_cnt[cc], cc))[:2]
    cells = [top, *[cc for cc in neigh if ring_cnt[cc] > 0]]
    pool = members[np.isin(mcells, cells)]
    n_out = min(pool.size, max(12, round(50 * people.n / 1_000_000)))
    o_who = np.sort(rng.choice(pool, size=n_out, replace=False))
    end = d0 - int(rng.integers(0, 3))
    dur = int(rng.integers(4, 8))
    start = end - dur + 1
    ramp = np.arange(1, dur + 1, dtype=np.float64)
    o_onset = start + rng.choice(dur, size=n_out, p=ramp / ramp.sum())
    outbreak = [
        {
            "cells": sorted(cells),
            "h3_resolution": 8,
            "start_day": sc.to_date(start).isoformat(),
            "end_day": sc.to_date(end).isoformat(),
            "cases": int(n_out),
            "village_code": str(geo.village_codes[village]),
            "town_code": str(geo.town_codes[geo.village_town[village]]),
            "disease": "ili",
        }
    ]

    all_who = np.r_[who, o_who]
    all_onset = np.r_[onset, o_onset]
    planted = np.r_[np.zeros(who.size, bool), np.ones(o_who.size, bool)]
    m = all_who.size
    delay = np.where(planted, rng.integers(0, 2, m), rng.choice(4, m, p=[0.35, 0.35, 0.2, 0.1]))
    report = np.minimum(all_onset + delay, d0)
    disease = np.where(
        planted, "ili", sc.pick(rng, ["ili", "influenza", "J11.1"], [0.70, 0.25, 0.05], m)
    )
    linked = planted | (rng.random(m) < 0.92)
    order = np.lexsort((all_who, all_onset))

    def o(a: np.ndarray) -> np.ndarray:
        return a[order]

    return (
        pa.table(
            {
                "report_id": sc.make_ids("CR", 1, m, 7),
                "disease": pa.array(o(disease)),
                "onset_date": sc.date_array(o(all_onset)),
                "report_date": sc.date_array(o(report)),
                "resident_id": pc.if_else(
                    pa.array(o(linked)),
                    people.resident_id.take(pa.array(o(all_who))),
                    pa.scalar(None, pa.string()),
                ),
                "area_code": pa.array(geo.village_codes[people.village[o(all_who)]]),
                "lat": sc.num_array(people.lat[o(all_who)]),
                "lng": sc.num_array(people.lng[o(all_who)]),
                "age": sc.age_on(people.birth[o(all_who)], o(all_onset)),
                "sex": people.sex[o(all_who)],
            }
        ),
        outbreak,
    )


# --- vaccinations ------------------------------------------------------------------------


def vaccinations_table(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Influenza (this and last season), pneumococcal and COVID-19 vaccinations.

    Parameters
    ----------
    geo, people
    seed : int
    as_of : datetime.date

    Returns
    -------
    pyarrow.Table
        resident_id, vaccine, date, facility_id.
    """
    rng = sc.stream(seed, sc.K_VACCINES)
    d0 = sc.day_number(as_of)
    season_year = as_of.year if as_of.month >= 9 else as_of.year - 1
    n = people.n
    act = people.status == ACTIVE
    old = (people.age >= 65) & act
    parts_res, parts_vac, parts_day = [], [], []

    def add(mask: np.ndarray, vaccine: str, lo: int, hi: int) -> None:
        hi = min(hi, d0)
        if hi < lo:
            return
        idx = np.flatnonzero(mask)
        parts_res.append(idx)
        parts_vac.append(np.full(idx.size, vaccine))
        parts_day.append(rng.integers(lo, hi + 1, idx.size))

    cur_lo = sc.day_number(dt.date(season_year, 9, 1))
    cur_hi = sc.day_number(dt.date(season_year, 11, 30))
    prev_lo = sc.day_number(dt.date(season_year - 1, 9, 1))
    prev_hi = sc.day_number(dt.date(season_year - 1, 11, 30))
    u = rng.random(n)
    add(old & (u < 0.30), "influenza", cur_lo, cur_hi)
    add(act & ~old & (u < 0.04), "influenza", cur_lo, cur_hi)
    u = rng.random(n)
    add(old & (u < 0.25), "influenza", prev_lo, prev_hi)
    u = rng.random(n)
    add(old & (u < 0.06), "pneumococcal", d0 - 3 * 365, d0)
    u = rng.random(n)
    add((people.age >= 18) & (u < 0.15), "covid19", d0 - 4 * 365, d0 - 2 * 365)
    res = np.concatenate(parts_res)
    vac = np.concatenate(parts_vac)
    day = np.concatenate(parts_day)
    order = np.lexsort((res, day))
    fac = geo.thc_fac[geo.village_town[people.village[res[order]]]]
    return pa.table(
        {
            "resident_id": people.resident_id.take(pa.array(res[order])),
            "vaccine": pa.array(vac[order]),
            "date": sc.date_array(day[order]),
            "facility_id": pa.array(geo.fac_id[fac]),
        }
    )
