"""Synthetic population, mobility, infectious-disease reports and vaccinations.

The claims are :mod:`pipelines.sample.claims`.
"""

from __future__ import annotations

import datetime as dt

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample import common as sc
from pipelines.sample.geography import Geography
from pipelines.sample.people import ACTIVE, AGE_BANDS, People

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
    # A cell whose town seat is the county seat sends both flows to the same cell: one
    # (origin, destination, hour) row each, so the flows are summed per pair.
    pair, inv = np.unique(origins * c + dests, return_inverse=True)
    weights = np.bincount(inv, weights=weights, minlength=pair.size)
    origins, dests = pair // c, pair % c
    # A cell whose town seat is in the county seat's cell sends both flows there: one pair
    # (twice the same key would be quarantined as duplicate_key).
    pair, inv = np.unique(origins * c + dests, return_inverse=True)
    weights = np.bincount(inv.ravel(), weights=weights)
    origins, dests = pair // c, pair % c
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
    u = rng.random(n)
    add(old & (u < 0.30), "influenza", cur_lo, cur_hi)
    add(act & ~old & (u < 0.04), "influenza", cur_lo, cur_hi)
    # Earlier seasons at the same uptake (three years of history: the first built
    # month's season rate matches D's).
    for back in (1, 2, 3):
        lo_b = sc.day_number(dt.date(season_year - back, 9, 1))
        hi_b = sc.day_number(dt.date(season_year - back, 11, 30))
        u = rng.random(n)
        add(old & (u < 0.30), "influenza", lo_b, hi_b)
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
