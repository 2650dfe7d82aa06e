"""Planted spatial patterns: where the hotspot analysis has something to find.

Two hot and one cold cluster of managed hypertension and diabetes (more / fewer managed
patients per adult), and one area far from its grid's clinic where the managed patients
are poorly controlled (its uncontrolled share is high: something for the coverage work to
explain). A prevalence pattern is the H3 resolution-8 cells of one village's households;
the effect applies to the residents of that village living in those cells. The
poor-control area is a k-ring of resolution-8 cells around a big village far from its
clinic, and the effect applies to everyone living in it: the uncontrolled share is a
ratio over managed patients (a few per cell), so Gi* with ring-1 neighbours reaches
significance after Benjamini–Hochberg over all cells only when a whole neighbourhood of
well-filled cells is uncontrolled (``docs/sample-county.md``).
:func:`plant_patterns` changes the residents' arrays before the registry is built and
returns the manifest entries (cells, grids, villages, effect sizes).
"""

from __future__ import annotations

from typing import Any

import h3
import numpy as np

from pipelines.sample import common as sc
from pipelines.sample.geography import Geography
from pipelines.sample.people import HTN, T2DM, People

HOT_HTN, HOT_T2DM = 0.34, 0.17  # managed patients per adult in a hot cluster
COLD_KEEP = 0.2  # share of the managed patients a cold cluster keeps
MIN_KM = 8.0  # planted patterns are at least this far apart
POOR_RING = 2  # the poor-control area: the k-ring (19 cells) around each village's core
COUNTY_UNCONTROLLED = 0.42  # about the county's uncontrolled share (control 50-65 %)
POOR_MARGIN = 1.3  # the poor-control area holds this many times the share it must
POOR_MAX_SHARE = 0.25  # but never more than this share of the managed patients


def _cells(people: People, members: np.ndarray) -> np.ndarray:
    located = members[~np.isnan(people.lat[members])]
    out = np.empty(people.n, dtype=object)
    out[located] = [
        h3.latlng_to_cell(float(a), float(b), 8)
        for a, b in zip(people.lat[located], people.lng[located], strict=True)
    ]
    return out


def plant_patterns(geo: Geography, people: People, seed: int) -> dict[str, Any]:
    """Plant the clusters into ``people`` (prevalence, enrolment, control) in place.

    Parameters
    ----------
    geo : Geography
    people : People
        Residents straight from :func:`pipelines.sample.people.build_residents`.
    seed : int

    Returns
    -------
    dict
        ``{"prevalence_clusters": [...], "poor_control_areas": [...]}`` for the manifest.
    """
    rng = sc.stream(seed, sc.K_PATTERNS)
    adult = (people.age >= 18) & (people.status == 0)
    vad = np.bincount(people.village, weights=adult, minlength=geo.n_villages)
    clinic_xy = geo.fac_xy[geo.grid_clinic[geo.village_grid]]
    clinic_km = np.hypot(*(geo.village_xy - clinic_xy).T) / 1000.0
    # Big villages that are not town seats (a seat is where the town's clinics are).
    order = np.argsort(-vad, kind="stable")
    cand = [int(v) for v in order[: max(12, geo.n_villages // 2)] if not geo.village_is_seat[v]]
    perm = [cand[int(i)] for i in rng.permutation(len(cand))]
    # Poor control: the village farthest from its clinic among the biggest quarter (big
    # enough for the uncontrolled share, a ratio over managed patients, to be tested).
    big = vad >= np.quantile(vad, 0.75)
    far_first = np.argsort(-clinic_km, kind="stable")
    # Only villages farther from their clinic than the median (half of the villages have
    # a clinic of their own); the biggest quarter if any qualify.
    remote = [int(v) for v in far_first if not geo.village_is_seat[v]]
    remote = [v for v in remote if clinic_km[v] > np.median(clinic_km)] or remote
    by_far = [v for v in remote if big[v]] or remote
    min_km = MIN_KM
    # Three prevalence villages and the poor-control one, as far apart as the county
    # allows (the distance is relaxed for tiny counties).
    while True:
        chosen: list[int] = []
        for v in perm:
            if len(chosen) < 3 and all(
                np.hypot(*(geo.village_xy[v] - geo.village_xy[u])) / 1000.0 >= min_km
                for u in chosen
            ):
                chosen.append(v)
        poor = next(
            (
                v
                for v in by_far
                if v not in chosen
                and all(
                    np.hypot(*(geo.village_xy[v] - geo.village_xy[u])) / 1000.0 >= min_km
                    for u in chosen
                )
            ),
            None,
        )
        if (len(chosen) == 3 and poor is not None) or min_km < 0.5:
            break
        min_km *= 0.75
    if poor is not None:
        chosen.append(poor)
    clusters: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    for kind, v in zip(["hot", "hot", "cold"], chosen[:3], strict=False):
        members = np.flatnonzero(people.village == v)
        cells = _cells(people, members)
        located = members[cells[members] != None]  # noqa: E711 (object array)
        uc, cnt = np.unique(cells[located].astype(str), return_counts=True)
        # The cells where the village really lives (>= 8 % of its located people).
        keep = uc[cnt >= max(3, 0.08 * located.size)]
        who = located[np.isin(cells[located].astype(str), keep)]
        grown = adult[who]
        w = who[grown]
        before = people.enrolled[w].mean(axis=0)
        if kind == "hot":
            for d, target, prev in (
                (HTN, HOT_HTN, people.htn_prev),
                (T2DM, HOT_T2DM, people.t2dm_prev),
            ):
                base = people.enrolled[w, d].mean()
                p = max(0.0, (target - base) / max(1e-9, 1 - base))
                flip = ~people.enrolled[w, d] & (rng.random(w.size) < p)
                people.enrolled[w[flip], d] = True
                prev[w[flip]] = True
                if d == HTN:
                    ctrl = rng.random(int(flip.sum())) < 0.55
                    people.mu_sbp[w[flip]] = np.where(
                        ctrl, rng.normal(127, 6, ctrl.size), rng.normal(151, 8, ctrl.size)
                    )
                    people.mu_dbp[w[flip]] = 0.5 * people.mu_sbp[w[flip]] + 15
                else:
                    ctrl = rng.random(int(flip.sum())) < 0.55
                    people.mu_glu[w[flip]] = np.where(
                        ctrl, rng.normal(6.1, 0.35, ctrl.size), rng.normal(8.8, 1.3, ctrl.size)
                    )
        elif kind == "cold":
            drop = people.enrolled[w] & (rng.random((w.size, 2)) >= COLD_KEEP)
            people.enrolled[w] &= ~drop
        after = people.enrolled[w].mean(axis=0)
        entry = {
            "kind": kind,
            "cells": sorted(str(c) for c in keep),
            "h3_resolution": 8,
            "village_code": str(geo.village_codes[v]),
            "town_code": str(geo.town_codes[geo.village_town[v]]),
            "grid_id": str(geo.grid_id[geo.village_grid[v]]),
            "adults": int(w.size),
        }
        entry.update(
            {
                "indicators": ["htn_prevalence", "t2dm_prevalence"],
                "expect": kind,
                "managed_per_adult_before": [round(float(x), 3) for x in before],
                "managed_per_adult_after": [round(float(x), 3) for x in after],
            }
        )
        clusters.append(entry)
    if poor is not None:
        rest = [v for v in remote if v != poor]
        areas.append(_plant_poor(geo, people, poor, chosen[:3], rest, clinic_km))
    return {"prevalence_clusters": clusters, "poor_control_areas": areas}


def _poor_targets(people: People, cells: np.ndarray, who: np.ndarray) -> np.ndarray:
    """Share of each disease's managed patients the poor-control area must hold.

    The hotspot analysis smooths the uncontrolled share with Marshall's global
    empirical Bayes, whose between-area variance ``A = s2 - m / nbar`` assumes Poisson
    counts. For a share (binomial counts) the noise gives ``s2 ≈ m (1 - m) / nbar``, so
    ``A`` is clamped to 0 (every cell smoothed to ``m``, nothing can be found) unless the
    planted area adds more than ``m**2 / nbar``: with nearly all of its patients
    uncontrolled, its share ``f`` of the managed patients must exceed
    ``m**2 / (nbar (1 - m)**2)``. With a few managed patients per cell (``nbar`` about 9
    for htn and 5 for t2dm at scale 0.05) that is 6-12 %; at scale 1.0 well under 1 %.
    """
    out = np.zeros(2)
    for d in (HTN, T2DM):
        mine = people.enrolled[who, d]
        n_cells = max(1, np.unique(cells[mine]).size)
        nbar = max(1.0, mine.sum() / n_cells)
        out[d] = min(
            POOR_MAX_SHARE,
            POOR_MARGIN * COUNTY_UNCONTROLLED**2 / (nbar * (1 - COUNTY_UNCONTROLLED) ** 2),
        )
    return out


def _plant_poor(
    geo: Geography,
    people: People,
    first: int,
    prevalence: list[int],
    by_far: list[int],
    clinic_km: np.ndarray,
) -> dict[str, Any]:
    """Plant the poor-control area: the villages farthest from their clinics.

    Each village contributes the :data:`POOR_RING` k-ring around its most populated
    H3 resolution-8 cell; everyone living in those cells is affected (their managed
    patients lose control at every routine visit and never regain it). Villages are
    added, farthest from their clinic first, until the area holds the share of the
    managed patients that :func:`_poor_targets` says the smoothing needs.
    """
    adult = (people.age >= 18) & (people.status == 0)
    # Managed-to-be patients with a known home: the only ones the effect changes.
    who = np.flatnonzero(adult & people.enrolled.any(axis=1) & ~np.isnan(people.lat))
    cells = _cells(people, who)[who].astype(str)
    target = _poor_targets(people, cells, who)
    total = people.enrolled[who].sum(axis=0).astype(float)

    def away(v: int) -> bool:
        return all(
            np.hypot(*(geo.village_xy[v] - geo.village_xy[u])) / 1000.0 >= MIN_KM / 2
            for u in prevalence
        )

    order = [first] + [v for v in by_far if away(v)]
    area: set[str] = set()
    parts: list[dict[str, Any]] = []
    inside = np.zeros(who.size, dtype=bool)
    share = np.zeros(2)
    # Cells as integer codes: the loop may add a hundred villages at scale 1.0.
    lived, code = np.unique(cells, return_inverse=True)
    vill = people.village[who]
    for v in order:
        mine = code[vill == v]
        if mine.size == 0:
            continue
        centre = lived[np.argmax(np.bincount(mine))]
        disk = {c for c in h3.grid_disk(str(centre), POOR_RING) if c in lived}
        area |= disk
        inside |= np.isin(code, np.searchsorted(lived, sorted(disk)))
        parts.append(
            {
                "village_code": str(geo.village_codes[v]),
                "clinic_id": str(geo.fac_id[geo.grid_clinic[geo.village_grid[v]]]),
                "clinic_km": round(float(clinic_km[v]), 2),
                "cells": sorted(disk),
            }
        )
        share = people.enrolled[who[inside]].sum(axis=0) / np.maximum(total, 1.0)
        if (share >= target).all():
            break
    w = who[inside]
    # Poorly controlled: every managed patient here is hard to control.
    people.poor[w] = True
    v0 = first
    return {
        "kind": "poor_control",
        "cells": sorted({c for p in parts for c in p["cells"]}),
        "h3_resolution": 8,
        "ring": POOR_RING,
        "village_code": str(geo.village_codes[v0]),
        "town_code": str(geo.town_codes[geo.village_town[v0]]),
        "grid_id": str(geo.grid_id[geo.village_grid[v0]]),
        "grids": sorted({str(g) for g in geo.grid_id[geo.village_grid[people.village[w]]]}),
        "villages": parts,
        "managed_patients": [int(x) for x in people.enrolled[w].sum(axis=0)],
        "managed_share": [round(float(x), 3) for x in share],
        "managed_share_aimed": [round(float(x), 3) for x in target],
        # Expected hot for hypertension control. Diabetics there lose control too, but
        # Marshall's EB (RULES.md) assumes Poisson counts: with ~5 managed diabetics per
        # cell at scale 0.05 it smooths their share to the county's (A clamped at 0), and
        # an area big enough to survive it (~15 % of the county's diabetics) pushes the
        # BH cut-off so low that ordinary clusters elsewhere turn 'cold'
        # (docs/sample-county.md has the measurements).
        "indicators": ["htn_uncontrolled_share"],
        "also_lowered_not_expected": ["t2dm_uncontrolled_share"],
        "expect": "hot",
        "clinic_id": parts[0]["clinic_id"],
        "clinic_km": min(p["clinic_km"] for p in parts),
        "county_median_clinic_km": round(float(np.median(clinic_km)), 2),
        "effect": "every managed patient living in the cells loses control at every "
        "routine visit and never regains it",
    }
