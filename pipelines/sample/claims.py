"""Synthetic claims (医保结算): visits of every type, their diagnoses, facilities and costs.

Claims are written in calendar-month batches (:func:`claim_batches`), each built by
:func:`build_claims_batch` from the residents and the county's facilities.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample import common as sc
from pipelines.sample.geography import EXTERNAL_FACILITIES, Geography
from pipelines.sample.people import HTN, T2DM, People

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
# Codes in the post-discharge ranges of RULES.md (I10–I15, E10–E14, I20–I25, I60–I64).
_POST_DISCHARGE = np.asarray(
    [
        i
        for i, c in enumerate(ICD_VOCAB)
        if c[:3]
        in {f"I{k}" for k in (*range(10, 16), *range(20, 26), *range(60, 65))}
        | {f"E1{k}" for k in range(5)}
    ],
    dtype=np.int64,
)
_OTHER_INPATIENT: CodeTable = (["K80.2", "M51.2", "J18.9", "N20.0"], [1.0, 1.0, 2.0, 1.0])


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
    last_fu: np.ndarray  # the earliest of the patient's latest visits per managed disease


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
    # About 1 % of them: a few case-finding tasks per team, not dozens.
    undiag_htn = people.htn_prev & ~htn_enr & (rng.random(people.n) < 0.012)
    undiag_dm = people.t2dm_prev & ~dm_enr & (rng.random(people.n) < 0.012)
    base = np.select([age < 15, age < 45, age < 65], [5.0, 4.5, 8.0], 12.0)
    base = base + 6.0 * (htn_enr | dm_enr) + 2.0 * (undiag_htn | undiag_dm)
    rate = base * CLAIMS_PER_RESIDENT_YEAR / base.mean()
    grid = geo.village_grid[people.village]
    clinic = geo.grid_clinic[grid]
    town = geo.village_town[people.village]
    thc = geo.thc_fac[town]
    clinic = np.where(geo.fac_open[clinic] == 1, clinic, thc)
    open_clinics = geo.clinic_fac[geo.fac_open[geo.clinic_fac] == 1]
    town_clinics = [open_clinics[geo.fac_town[open_clinics] == t] for t in range(geo.n_towns)]
    last = np.full((people.n, 2), -1, dtype=np.int64)
    np.maximum.at(last, (people.fu_res, people.fu_dis), people.fu_date)
    last_fu = np.where(
        htn_enr & dm_enr, last.min(axis=1), np.where(htn_enr, last[:, HTN], last[:, T2DM])
    )
    return ClaimsContext(
        rate, htn_enr, dm_enr, undiag_htn, undiag_dm, clinic, thc, town_clinics, last_fu
    )


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
    # Teams visit a managed patient within about ten days of a discharge for a
    # cardiovascular or diabetic cause (the post-discharge task): such a discharge with
    # no visit after it is only left where it is recent, else its diagnosis is another.
    stale = (
        (vt == 3)
        & chronic
        & np.isin(icd, _POST_DISCHARGE)
        & (discharge <= d0 - 10)
        & (discharge >= ctx.last_fu[res])
    )
    icd[stale] = _draw(rng, _OTHER_INPATIENT, int(stale.sum()))

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
        for t in range(geo.n_towns):
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
        geo.thc_fac[rng.integers(0, geo.n_towns, int(m.sum()))],
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
