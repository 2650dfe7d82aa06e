"""Synthetic residents: who lives where, their ages, diseases and enrolment.

The registry, follow-ups and terminal readings built from them are
:mod:`pipelines.sample.chronic`.

Everything is vectorised over residents / visits with numpy; the only Python loops
run over small fixed sets (age bands, diseases, teams).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geo.coordinates import id_checksum_index
from pipelines.sample import common as sc
from pipelines.sample.geography import Geography

HTN, T2DM = 0, 1
DISEASES = np.array(["htn", "t2dm"])
ACTIVE, MOVED, DECEASED = 0, 1, 2
STATUS = np.array(["active", "moved", "deceased"])

# Age pyramid (5-year bands 0-4 ... 80-84, 85+): a Shandong rural county, older than
# the national pyramid: about 21 % aged 65+ and 14 % under 15.
BAND_WEIGHTS = np.array(
    [3.5, 4.5, 5.0, 4.5, 4.0, 4.5, 6.5, 6.0, 5.5, 7.5, 8.5, 8.5, 7.0, 7.0, 5.5, 3.8, 2.3, 1.4]
)
AGE_BANDS = [f"{lo}-{lo + 4}" for lo in range(0, 85, 5)] + ["85+"]

HTN_PREVALENCE = 0.275
T2DM_PREVALENCE = 0.119
HTN_ENROLLED = 0.45
T2DM_ENROLLED = 0.40


@dataclass
class People:
    """Residents and their chronic-disease management, as aligned numpy arrays."""

    n: int
    resident_id: pa.Array
    id_number: pa.Array
    village: np.ndarray
    household: np.ndarray
    sex: np.ndarray
    birth: np.ndarray
    age: np.ndarray  # on as_of
    status: np.ndarray
    lat: np.ndarray  # NaN when the household has no coordinates
    lng: np.ndarray
    signed: np.ndarray
    signed_team: np.ndarray  # -1 when not signed
    htn_prev: np.ndarray
    t2dm_prev: np.ndarray
    enrolled: np.ndarray  # (n, 2) bool: has a registry row for htn / t2dm
    mu_sbp: np.ndarray
    mu_dbp: np.ndarray
    mu_glu: np.ndarray
    status_day: np.ndarray  # day a moved/deceased resident left (else large)
    table: pa.Table
    # registry (one row per resident and disease)
    reg_res: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    reg_dis: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    reg_enrolled: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    reg_closed: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # -1 open
    reg_team: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # file value
    reg_mteam: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # managing
    # follow-ups (sorted by file order)
    fu_res: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    fu_dis: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    fu_date: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    poor: np.ndarray = field(default_factory=lambda: np.array([], bool))  # planted poor control
    fu_sat: np.ndarray = field(default_factory=lambda: np.array([], bool))
    # emergency readings of the care simulation (resident, disease, day, still open on D,
    # blood-pressure kind allowed)
    ev_res: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    ev_dis: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    ev_day: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    ev_open: np.ndarray = field(default_factory=lambda: np.array([], bool))
    ev_bp: np.ndarray = field(default_factory=lambda: np.array([], bool))
    # measurements
    planted: list[dict[str, object]] = field(default_factory=list)
    notes: dict[str, float] = field(default_factory=dict)

    def managed(self, as_of_day: int) -> np.ndarray:
        """Boolean mask over registry rows managed on ``as_of_day``."""
        open_ = (self.reg_closed < 0) | (self.reg_closed > as_of_day)
        return (self.reg_enrolled <= as_of_day) & open_ & (self.status[self.reg_res] == ACTIVE)


def _band_rates(age: np.ndarray, cuts: list[int], rates: list[float]) -> np.ndarray:
    idx = np.searchsorted(np.asarray(cuts), age, side="right") - 1
    return np.where(idx >= 0, np.asarray(rates)[np.maximum(idx, 0)], 0.0)


def build_residents(geo: Geography, seed: int, scale: float, as_of: dt.date) -> People:
    """Generate residents with households, IDs, chronic conditions and signing.

    Parameters
    ----------
    geo : Geography
        County geography and services.
    seed : int
        Run seed.
    scale : float
        1.0 gives about one million residents (``generate_county`` passes its scale
        times the profile's ``size``).
    as_of : datetime.date
        Reference date.

    Returns
    -------
    People
        Residents (registry fields filled by :func:`build_registry`).
    """
    rng = sc.stream(seed, sc.K_RESIDENTS)
    d0 = sc.day_number(as_of)
    n_v = geo.n_villages
    n = max(n_v * 20, round(1_000_000 * scale))

    # Village sizes: seat villages and urban towns are bigger.
    w = rng.lognormal(0.0, 0.45, n_v)
    w *= np.where(geo.village_is_seat, 2.5, 1.0)
    w *= np.where(np.isin(geo.village_town, sorted(geo.profile.urban_towns)), 1.4, 1.0)
    counts = 1 + rng.multinomial(n - n_v, w / w.sum())
    village = np.repeat(np.arange(n_v), counts)

    # Households of 1-5 cut consecutively inside each village.
    sizes = rng.choice(5, size=n, p=[0.17, 0.33, 0.21, 0.17, 0.12]) + 1
    cuts = np.cumsum(sizes)
    start = np.zeros(n, dtype=bool)
    start[cuts[cuts < n]] = True
    start[0] = True
    start[np.cumsum(counts)[:-1]] = True
    household = np.cumsum(start) - 1
    n_hh = int(household[-1]) + 1
    hh_first = np.flatnonzero(start)
    hh_village = village[hh_first]

    # Ages from the pyramid (uniform inside a band, a thinning tail beyond 85).
    band = rng.choice(BAND_WEIGHTS.size, size=n, p=BAND_WEIGHTS / BAND_WEIGHTS.sum())
    years = band * 5 + rng.random(n) * 5
    tail = band == BAND_WEIGHTS.size - 1
    years[tail] = 85 + np.minimum(rng.exponential(4.5, int(tail.sum())), 19.9)
    birth = d0 - np.floor(years * 365.2425).astype(np.int64) - 1
    age = sc.age_on(birth, np.full(n, d0))
    p_male = np.where(age < 60, 0.51, np.where(age < 80, 0.48, 0.42))
    sex = np.where(rng.random(n) < p_male, 1, 2).astype(np.int64)

    # ID numbers: unique sequence numbers inside each (birth date, sex) group.
    key = birth * 2 + (sex - 1)
    order = np.lexsort((rng.random(n), key))
    ks = key[order]
    new_group = np.r_[True, ks[1:] != ks[:-1]]
    gidx = np.cumsum(new_group) - 1
    rank = np.arange(n) - np.flatnonzero(new_group)[gidx]
    base = rng.integers(0, 500, int(gidx[-1]) + 1)
    half = np.empty(n, dtype=np.int64)
    half[order] = (base[gidx] + rank) % 500
    seq = half * 2 + (sex == 1)
    by, bm, bd = sc.ymd(birth)
    # GB 11643: the county's six-digit code, the birth date, the sequence number.
    first17 = int(geo.profile.code6) * 10**11 + (by * 10000 + bm * 100 + bd) * 1000 + seq
    check = sc.take_str(list("10X98765432"), id_checksum_index(first17))
    id_number = pc.binary_join_element_wise(pa.array(first17).cast(pa.string()), check, "")

    # Names: most household members share the household's surname.
    hh_surname = sc.SURNAMES[
        rng.choice(sc.SURNAMES.size, n_hh, p=sc.SURNAME_P / sc.SURNAME_P.sum())
    ]
    own = sc.SURNAMES[rng.choice(sc.SURNAMES.size, n, p=sc.SURNAME_P / sc.SURNAME_P.sum())]
    surname = np.where(rng.random(n) < 0.75, hh_surname[household], own)
    name = sc.chinese_names(rng, sex, surname)

    # Household location: scattered around the village seat; 3 % unknown.
    sigma = rng.uniform(300.0, 600.0, n_v)
    hx = geo.village_xy[hh_village, 0] + rng.normal(0, 1, n_hh) * sigma[hh_village]
    hy = geo.village_xy[hh_village, 1] + rng.normal(0, 1, n_hh) * sigma[hh_village]
    hlng, hlat = geo.proj.to_wgs(hx, hy)
    hlng, hlat = np.round(hlng, 6), np.round(hlat, 6)
    no_loc = rng.random(n_hh) < 0.03
    hlng[no_loc] = np.nan
    hlat[no_loc] = np.nan
    lat, lng = hlat[household], hlng[household]
    house_no = household - household[np.searchsorted(village, np.arange(n_v))][village] + 1
    town = geo.village_town[village]
    address = pc.binary_join_element_wise(
        sc.take_str(list(geo.profile.town_names), town),
        sc.take_str(geo.village_names, village),
        sc.int_str(house_no),
        pa.scalar("号"),
        "",
    )

    phone_num = (10 + rng.choice([3, 5, 8], n)) * 10**9 + rng.integers(0, 10**9, n)
    phone_missing = rng.random(n) < 0.05

    # Status: a few moved away (mostly young adults) or died (mostly old).
    p_dead = np.where(age < 60, 0.001, np.where(age < 80, 0.008, 0.04))
    p_moved = np.where((age >= 18) & (age < 45), 0.02, 0.005)
    u = rng.random(n)
    status = np.where(u < p_dead, DECEASED, np.where(u < p_dead + p_moved, MOVED, ACTIVE))
    status_day = np.where(status == ACTIVE, 10**7, d0 - rng.integers(1, 700, n))

    # Chronic conditions (prevalence by age, scaled to the county-wide adult targets).
    adult = age >= 18
    cuts_ = [18, 35, 45, 55, 65, 75]
    r_htn = _band_rates(age, cuts_, [0.04, 0.12, 0.24, 0.38, 0.50, 0.58])
    r_dm = _band_rates(age, cuts_, [0.02, 0.05, 0.10, 0.17, 0.21, 0.20])
    p_htn = np.clip(r_htn * HTN_PREVALENCE / r_htn[adult].mean(), 0, 0.85)
    htn_prev = adult & (rng.random(n) < p_htn)
    r_dm = r_dm * np.where(htn_prev, 1.4, 0.85)
    p_dm = np.clip(r_dm * T2DM_PREVALENCE / r_dm[adult].mean(), 0, 0.85)
    t2dm_prev = adult & (rng.random(n) < p_dm)
    enrolled = np.column_stack(
        [
            htn_prev & (rng.random(n) < HTN_ENROLLED),
            t2dm_prev & (rng.random(n) < T2DM_ENROLLED),
        ]
    )

    # Latent blood pressure and glucose levels drive every reading of a person.
    ctrl_bp = rng.random(n) < 0.55
    mu_sbp = np.where(
        htn_prev,
        np.where(ctrl_bp, rng.normal(127, 6, n), rng.normal(151, 8, n)) + np.where(age >= 65, 4, 0),
        rng.normal(118, 9, n) + np.clip(age - 40, 0, None) * 0.25,
    )
    mu_dbp = 0.5 * mu_sbp + rng.normal(15, 4, n)
    ctrl_g = rng.random(n) < 0.55
    mu_glu = np.where(
        t2dm_prev,
        np.where(ctrl_g & enrolled[:, T2DM], rng.normal(6.1, 0.35, n), rng.normal(8.8, 1.3, n)),
        rng.normal(5.2, 0.4, n),
    )

    # Family-doctor signing: ~80 % of the key population (65+ or managed), ~55 % overall.
    key_pop = (age >= 65) | enrolled.any(axis=1)
    k = key_pop.mean()
    p_other = float(np.clip((0.55 - 0.8 * k) / max(1e-9, 1 - k), 0.05, 0.95))
    signed = rng.random(n) < np.where(key_pop, 0.8, p_other)
    signed_team = np.where(signed, geo.village_team[village], -1)
    # Signing is old news for most (the programme started years ago): ~6 % signed in the
    # last year, so the first built month's signing rate is close to D's.
    signed_day = np.where(
        rng.random(n) < 0.06, d0 - rng.integers(0, 365, n), d0 - rng.integers(365, 8 * 365, n)
    )

    rid = sc.make_ids("R", 1, n, max(7, len(str(n))))
    table = pa.table(
        {
            "resident_id": rid,
            "id_number": id_number,
            "name": pa.array(name),
            "sex": sex,
            "birth_date": sc.date_array(birth),
            "area_code": sc.take_str(geo.village_codes, village),
            "address": address,
            "lat": sc.num_array(lat),
            "lng": sc.num_array(lng),
            "phone": sc.int_str(phone_num, phone_missing),
            "signed_team_id": sc.take_str(geo.team_id, np.maximum(signed_team, 0), ~signed),
            "signed_date": sc.date_array(signed_day, ~signed),
            "status": sc.take_str(STATUS, status),
        }
    )
    return People(
        n=n,
        resident_id=rid,
        id_number=id_number,
        village=village,
        household=household,
        sex=sex,
        birth=birth,
        age=age,
        status=status,
        lat=lat,
        lng=lng,
        signed=signed,
        signed_team=signed_team,
        htn_prev=htn_prev,
        t2dm_prev=t2dm_prev,
        enrolled=enrolled,
        mu_sbp=mu_sbp,
        mu_dbp=mu_dbp,
        mu_glu=mu_glu,
        status_day=status_day,
        table=table,
        poor=np.zeros(n, dtype=bool),
    )
