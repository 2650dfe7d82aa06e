"""The county's health services: facilities, grids, family-doctor teams and staff.

:func:`build_services` adds them to a :class:`~pipelines.sample.geography.Geography`
(in place) with staff sized by the scale; :func:`size_resources` then sizes beds and the
staff outside the teams by the residents (once they are known) and puts the county
hospitals where people live; the ``*_table`` functions write their contract tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from geo.coordinates import wgs84_to_bd09, wgs84_to_gcj02
from pipelines.sample import common as sc
from pipelines.sample.geography import Geography


def _village_at(geo: Geography, x: float, y: float, town: int) -> int:
    """Index of the village of ``town`` containing the point (nearest seat otherwise)."""
    idx = np.flatnonzero(geo.village_town == town)
    for i in idx:
        if geo.village_polys[i].contains(shapely.Point(x, y)):
            return int(i)
    d = np.hypot(geo.village_xy[idx, 0] - x, geo.village_xy[idx, 1] - y)
    return int(idx[int(np.argmin(d))])


def build_services(geo: Geography, seed: int, scale: float) -> None:
    """Add facilities, grids, teams and staff to ``geo`` (in place).

    Parameters
    ----------
    geo : Geography
        From :func:`build_geography`.
    seed : int
        Run seed.
    scale : float
        Size factor.
    """
    _build_facilities(geo, seed, scale)
    _build_grids(geo, seed, scale)
    _build_teams_and_staff(geo, seed, scale)


def _build_facilities(geo: Geography, seed: int, scale: float) -> None:
    rng = sc.stream(seed, sc.K_FACILITIES)
    ids: list[str] = []
    names: list[str] = []
    types: list[str] = []
    xy: list[tuple[float, float]] = []
    towns: list[int] = []
    parents: list[str] = []
    beds: list[int] = []

    def add(
        fid: str, name: str, ftype: str, x: float, y: float, town: int, parent: str, b: int
    ) -> None:
        ids.append(fid)
        names.append(name)
        types.append(ftype)
        xy.append((float(x), float(y)))
        towns.append(town)
        parents.append(parent)
        beds.append(int(b))

    n_towns, town_names, county = geo.n_towns, geo.profile.town_names, geo.profile.name
    seat = geo.town_xy[0]
    hosp = [
        ("H001", f"{county}人民医院", "county_hospital", 900),
        ("H002", f"{county}中医医院", "tcm_hospital", 450),
        ("H003", f"{county}妇幼保健院", "mch_hospital", 260),
        ("CDC001", f"{county}疾病预防控制中心", "other", 0),
    ]
    for fid, name, ftype, b in hosp:
        for _ in range(50):
            ang, rr = rng.uniform(0, 2 * np.pi), rng.uniform(700.0, 2500.0)
            x, y = seat[0] + rr * np.cos(ang), seat[1] + rr * np.sin(ang)
            if geo.town_polys[0].contains(shapely.Point(x, y)):
                break
        else:
            x, y = seat
        add(fid, name, ftype, x, y, 0, "", b + int(rng.integers(-30, 31)) if b else 0)
    thc_first = len(ids)
    for t in range(n_towns):
        name = town_names[t]
        label = name + ("社区卫生服务中心" if name.endswith("街道") else "卫生院")
        add(
            f"THC{t + 1:03d}",
            label,
            "township_hc",
            geo.town_xy[t, 0],
            geo.town_xy[t, 1],
            t,
            "",
            int(rng.integers(20, 81)),
        )
    # Village clinics: proportional to villages per town, >= 1 per town, <= villages.
    n_clin = max(n_towns, round(488 * scale))
    v_per_town = np.bincount(geo.village_town, minlength=n_towns)
    c_per_town = sc.largest_remainder(n_clin, v_per_town, 1, v_per_town)
    clinic_village = []
    k = 0
    for t in range(n_towns):
        vill = np.flatnonzero(geo.village_town == t)
        chosen = np.sort(rng.choice(vill, size=int(c_per_town[t]), replace=False))
        for v in chosen:
            k += 1
            ang, rr = rng.uniform(0, 2 * np.pi), rng.uniform(30.0, 150.0)
            x = geo.village_xy[v, 0] + rr * np.cos(ang)
            y = geo.village_xy[v, 1] + rr * np.sin(ang)
            add(
                f"VC{k:04d}",
                f"{geo.village_names[v]}卫生室",
                "village_clinic",
                x,
                y,
                t,
                f"THC{t + 1:03d}",
                int(rng.integers(0, 3)),
            )
            clinic_village.append(int(v))
    n = len(ids)
    area = []
    for i in range(n):
        if types[i] == "village_clinic":
            area.append(geo.village_codes[clinic_village[i - thc_first - n_towns]])
        else:
            area.append(geo.village_codes[_village_at(geo, xy[i][0], xy[i][1], towns[i])])
    is_open = np.ones(n, dtype=np.int64)
    clinic_idx = np.arange(thc_first + n_towns, n)
    n_closed = max(1, round(0.01 * clinic_idx.size))
    is_open[rng.choice(clinic_idx, size=n_closed, replace=False)] = 0
    geo.fac_id = np.asarray(ids)
    geo.fac_name = np.asarray(names)
    geo.fac_type = np.asarray(types)
    geo.fac_area = np.asarray(area)
    geo.fac_xy = np.asarray(xy)
    geo.fac_parent = np.asarray(parents)
    geo.fac_beds = np.asarray(beds, dtype=np.int64)
    geo.fac_open = is_open
    geo.fac_town = np.asarray(towns, dtype=np.int64)
    geo.hospital_fac = np.arange(3)
    geo.cdc_fac = 3
    geo.thc_fac = np.arange(thc_first, thc_first + n_towns)
    geo.clinic_fac = clinic_idx
    geo.clinic_village = np.asarray(clinic_village, dtype=np.int64)


def _build_grids(geo: Geography, seed: int, scale: float) -> None:
    rng = sc.stream(seed, sc.K_GRIDS)
    clinic_village = geo.clinic_village
    n_clin = geo.clinic_fac.size
    # Catchment: every village goes to the nearest clinic of its own town.
    catch = np.empty(geo.n_villages, dtype=np.int64)
    for t in range(geo.n_towns):
        vill = np.flatnonzero(geo.village_town == t)
        cl = np.flatnonzero(geo.fac_town[geo.clinic_fac] == t)
        cxy = geo.village_xy[clinic_village[cl]]
        d = np.hypot(
            geo.village_xy[vill, 0][:, None] - cxy[None, :, 0],
            geo.village_xy[vill, 1][:, None] - cxy[None, :, 1],
        )
        catch[vill] = cl[np.argmin(d, axis=1)]
    size = np.bincount(catch, minlength=n_clin)
    n_grids = max(n_clin, round(620 * scale))
    splittable = np.flatnonzero(size >= 2)
    n_split = min(n_grids - n_clin, splittable.size)
    w = size[splittable].astype(np.float64)
    split = (
        set(rng.choice(splittable, size=n_split, replace=False, p=w / w.sum()).tolist())
        if n_split
        else set()
    )
    village_grid = np.empty(geo.n_villages, dtype=np.int64)
    g_clinic: list[int] = []
    g_town: list[int] = []
    g_name: list[str] = []
    for c in range(n_clin):
        vill = np.flatnonzero(catch == c)
        home = clinic_village[c]
        town = int(geo.fac_town[geo.clinic_fac[c]])
        vname = str(geo.village_names[home]).removesuffix("村")
        if c in split:
            # Cut the catchment across its longest axis; the clinic's own village first.
            pts = geo.village_xy[vill]
            axis = 0 if np.ptp(pts[:, 0]) >= np.ptp(pts[:, 1]) else 1
            order = vill[np.argsort(pts[:, axis], kind="stable")]
            half = len(order) // 2
            a, b = order[:half], order[half:]
            if home not in a:
                a, b = b, a
            parts = [a, b]
        else:
            parts = [vill]
        for j, part in enumerate(parts):
            gi = len(g_clinic)
            village_grid[part] = gi
            g_clinic.append(int(geo.clinic_fac[c]))
            g_town.append(town)
            g_name.append(f"{vname}网格" if len(parts) == 1 else f"{vname}第{j + 1}网格")
    geo.grid_id = np.asarray([f"G{i + 1:04d}" for i in range(len(g_clinic))])
    geo.grid_name = np.asarray(g_name)
    geo.grid_clinic = np.asarray(g_clinic, dtype=np.int64)
    geo.grid_town = np.asarray(g_town, dtype=np.int64)
    geo.village_grid = village_grid


def _build_teams_and_staff(geo: Geography, seed: int, scale: float) -> None:
    rng = sc.stream(seed, sc.K_TEAMS)
    n_grid = geo.grid_id.size
    n_towns = geo.n_towns
    g_per_town = np.bincount(geo.grid_town, minlength=n_towns)
    n_teams = max(n_towns, round(265 * scale))
    t_per_town = sc.largest_remainder(n_teams, g_per_town, 1, g_per_town)
    grid_team = np.empty(n_grid, dtype=np.int64)
    team_town: list[int] = []
    team_grids: list[np.ndarray] = []
    for t in range(n_towns):
        gs = np.flatnonzero(geo.grid_town == t)
        # Contiguous sectors around the town seat: a team's grids are neighbours.
        cxy = np.asarray([geo.village_xy[geo.village_grid == g].mean(axis=0) for g in gs])
        ang = np.arctan2(cxy[:, 1] - geo.town_xy[t, 1], cxy[:, 0] - geo.town_xy[t, 0])
        gs = gs[np.argsort(ang, kind="stable")]
        for chunk in np.array_split(gs, int(t_per_town[t])):
            grid_team[chunk] = len(team_town)
            team_town.append(t)
            team_grids.append(chunk)
    geo.grid_team = grid_team
    n_t = len(team_town)
    team_fac = np.empty(n_t, dtype=np.int64)
    team_name = []
    per_town_k = np.zeros(n_towns, dtype=np.int64)
    for i in range(n_t):
        t = team_town[i]
        per_town_k[t] += 1
        clinics = [c for c in geo.grid_clinic[team_grids[i]] if geo.fac_open[c] == 1]
        if clinics and rng.random() < 0.15:
            team_fac[i] = clinics[0]
            team_name.append(f"{str(geo.fac_name[clinics[0]]).removesuffix('卫生室')}家庭医生团队")
        else:
            team_fac[i] = geo.thc_fac[t]
            team_name.append(f"{geo.profile.town_names[t]}家庭医生{per_town_k[t]}队")
    geo.team_id = np.asarray([f"T{i + 1:04d}" for i in range(n_t)])
    geo.team_name = np.asarray(team_name)
    geo.team_fac = team_fac
    geo.team_town = np.asarray(team_town, dtype=np.int64)
    mv = np.full(n_t, 12, dtype=np.int64)
    odd = rng.random(n_t) < 0.2
    mv[odd] = rng.integers(8, 16, int(odd.sum()))
    geo.team_max_visits = mv

    # Staff. Team members first, then unattached staff by facility.
    rng = sc.stream(seed, sc.K_STAFF)
    s_fac: list[int] = []
    s_role: list[str] = []
    s_team: list[int] = []
    leader = np.empty(n_t, dtype=np.int64)
    doctors: list[list[int]] = [[] for _ in range(n_t)]

    def hire(fac: int, role: str, team: int) -> int:
        s_fac.append(int(fac))
        s_role.append(role)
        s_team.append(team)
        return len(s_fac) - 1

    for i in range(n_t):
        t = team_town[i]
        base = int(team_fac[i])
        leader[i] = len(s_fac)
        doctors[i].append(len(s_fac))
        hire(base, "gp", i)
        members = 1
        if rng.random() < 0.85:
            hire(base, "nurse", i)
            members += 1
        if rng.random() < 0.7:
            hire(int(geo.thc_fac[t]), "public_health", i)
            members += 1
        clinics = list(dict.fromkeys(int(c) for c in geo.grid_clinic[team_grids[i]]))
        target = int(rng.integers(3, 6))
        for c in clinics:
            if members >= max(target, 3) and members >= 2:
                break
            doctors[i].append(len(s_fac))
            hire(c, "village_doctor", i)
            members += 1
        while members < 3:
            hire(base, "nurse", i)
            members += 1
    geo.n_team_staff = len(s_fac)
    geo.staff_fac = np.asarray(s_fac, dtype=np.int64)
    geo.staff_role = np.asarray(s_role)
    geo.staff_team = np.asarray(s_team, dtype=np.int64)
    # Before the residents exist the unattached staff follow the scale; size_resources
    # re-hires them from the population once it is known.
    _hire_unattached(
        geo,
        seed,
        thc_gps=np.full(n_towns, max(1, round(5 * scale)), dtype=np.int64),
        specialists=np.asarray([max(3, round(n * scale)) for n in (450, 200, 150)]),
        cdc=max(2, round(40 * scale)),
        grid_workers=max(n_grid, round(1156 * scale)),
    )
    geo.team_leader = leader
    geo.team_doctors = [np.asarray(d, dtype=np.int64) for d in doctors]


def _hire_unattached(
    geo: Geography,
    seed: int,
    *,
    thc_gps: np.ndarray,
    specialists: np.ndarray,
    cdc: int,
    grid_workers: int,
) -> None:
    """Replace the staff after the team members, then draw everyone's licence and name.

    Team members (the first ``geo.n_team_staff``) keep their indices, so the teams, their
    leaders and the follow-up doctors stay valid; the rest is hired anew: a village doctor
    for every clinic without a team one, ``thc_gps[t]`` GPs at town ``t``'s health centre,
    ``specialists`` at the three county hospitals, CDC staff and grid workers.
    """
    n0 = geo.n_team_staff
    s_fac = geo.staff_fac[:n0].tolist()
    s_role = geo.staff_role[:n0].tolist()
    s_team = geo.staff_team[:n0].tolist()

    def hire(fac: int, role: str, k: int = 1) -> None:
        s_fac.extend([int(fac)] * k)
        s_role.extend([role] * k)
        s_team.extend([-1] * k)

    has_doctor = {f for f, r in zip(s_fac, s_role, strict=True) if r == "village_doctor"}
    for c in geo.clinic_fac:
        if int(c) not in has_doctor:
            hire(int(c), "village_doctor")
    for t in range(geo.n_towns):
        hire(int(geo.thc_fac[t]), "gp", int(thc_gps[t]))
    for h, k in zip(geo.hospital_fac, specialists, strict=True):
        hire(int(h), "specialist", int(k))
    hire(geo.cdc_fac, "cdc", cdc)
    # Grid workers: at least one per grid, the rest where grids hold more villages.
    n_grid = geo.grid_id.size
    vill_per_grid = np.bincount(geo.village_grid, minlength=n_grid)
    gw_per_grid = sc.largest_remainder(max(n_grid, grid_workers), vill_per_grid, 1, 99)
    geo.grid_workers = []
    for g in range(n_grid):
        geo.grid_workers.append(list(range(len(s_fac), len(s_fac) + int(gw_per_grid[g]))))
        hire(int(geo.grid_clinic[g]), "grid_worker", int(gw_per_grid[g]))
    rng = sc.stream(seed, sc.K_STAFF, 1)
    role = np.asarray(s_role)
    n_s = role.size
    p_lic = np.select([role == r for r in LICENSED_SHARE], list(LICENSED_SHARE.values()), 0.0)
    lic = rng.random(n_s) < p_lic
    sex = np.where(np.isin(role, ["nurse"]), 2, rng.integers(1, 3, n_s))
    geo.staff_id = np.asarray([f"S{i + 1:05d}" for i in range(n_s)])
    geo.staff_name = sc.chinese_names(rng, sex)
    geo.staff_fac = np.asarray(s_fac, dtype=np.int64)
    geo.staff_role = role
    geo.staff_licensed = lic
    geo.staff_team = np.asarray(s_team, dtype=np.int64)


# --- resources sized by the people ---------------------------------------------------------

#: Share of each role holding a practising (assistant) physician licence (执业(助理)医师);
#: those are the "doctors" of doctors_per_1000. Nurses and grid workers hold none.
LICENSED_SHARE: dict[str, float] = {
    "gp": 1.0,
    "specialist": 0.96,
    "village_doctor": 0.85,
    "public_health": 0.2,
    "cdc": 0.4,
}
#: Beds per 1000 of the county's people at the county, TCM and MCH hospitals, and the
#: specialists per 1000 there (Shandong counties: about 6 beds and 2.8 doctors per 1000,
#: a little over half of the beds and a third of the doctors in the county hospitals).
HOSPITAL_BEDS_PER_1000 = (1.9, 0.8, 0.4)
HOSPITAL_SPECIALISTS_PER_1000 = (0.55, 0.22, 0.13)
CDC_STAFF_PER_1000 = 0.04
GRID_WORKERS_PER_1000 = 1.156  # Shouguang: 1156 grid workers for about a million people
#: Beds per 1000 of the town's people at its health centre: township hospitals (卫生院) keep
#: inpatient wards, the urban community health centres (社区卫生服务中心) few beds.
THC_BEDS_PER_1000 = {"rural": (2.2, 3.8), "urban": (0.6, 1.4)}
#: Licensed primary-care doctors (team GPs, licensed village doctors, health-centre GPs)
#: per 1000 of a town's people.
PRIMARY_DOCTORS_PER_1000 = (1.6, 2.2)


def _stochastic_round(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round down or up with the fraction as the chance of up: totals stay unbiased."""
    return np.floor(np.asarray(x, np.float64) + rng.random(np.shape(x))).astype(np.int64)


def size_resources(geo: Geography, residents_per_village: np.ndarray, seed: int) -> dict[str, Any]:
    """Size beds and unattached staff by the people, and put the hospitals where they live.

    Facilities and teams already follow ``scale`` (clinics, grids and teams per village);
    what a county sizes by its population is done here, once the residents are known:

    * the county, TCM and MCH hospitals go to the three most populous urban towns (街道
      and the development zone), so no town of few people holds a county's beds;
    * hospital beds and specialists are per 1000 of the county's people, health-centre
      beds per 1000 of the town's (wards in township hospitals, few beds in urban
      community centres), village clinics keep no inpatient beds;
    * each health centre gets the GPs that bring its town's expected licensed
      primary-care doctors to :data:`PRIMARY_DOCTORS_PER_1000` (none where the teams'
      own doctors already reach it, as in a tiny sample county).

    Counts are rounded stochastically, so tiny counties keep the expected totals.

    Parameters
    ----------
    geo : Geography
        From :func:`build_services` (changed in place).
    residents_per_village : ndarray
        Active residents per village index.
    seed : int
        Run seed.

    Returns
    -------
    dict
        What was aimed for (the manifest's ``resources``).
    """
    rng = sc.stream(seed, sc.K_FACILITIES, 2)
    pop_v = np.asarray(residents_per_village, dtype=np.float64)
    n_towns, urban_towns = geo.n_towns, geo.profile.urban_towns
    town_pop = np.bincount(geo.village_town, weights=pop_v, minlength=n_towns)
    county_pop = float(town_pop.sum())
    urban = sorted(urban_towns, key=lambda t: (-town_pop[t], t))
    for h, t in zip(geo.hospital_fac, urban, strict=False):
        x, y = _near_seat(geo, t, rng)
        geo.fac_xy[h] = (x, y)
        geo.fac_town[h] = t
        geo.fac_area[h] = geo.village_codes[_village_at(geo, x, y, t)]
    beds = np.zeros(geo.fac_id.size, dtype=np.float64)
    beds[geo.hospital_fac] = county_pop / 1000.0 * np.asarray(HOSPITAL_BEDS_PER_1000)
    beds[geo.hospital_fac] *= rng.uniform(0.95, 1.05, geo.hospital_fac.size)
    kind = ["urban" if t in urban_towns else "rural" for t in range(n_towns)]
    rate = np.asarray([rng.uniform(*THC_BEDS_PER_1000[k]) for k in kind])
    beds[geo.thc_fac] = town_pop / 1000.0 * rate
    geo.fac_beds = _stochastic_round(beds, rng)

    # Expected licensed primary-care doctors of each town's teams and clinics.
    n0 = geo.n_team_staff
    share = np.asarray([LICENSED_SHARE.get(str(r), 0.0) for r in geo.staff_role[:n0]])
    have = np.bincount(geo.fac_town[geo.staff_fac[:n0]], weights=share, minlength=n_towns)
    no_doc = set(geo.clinic_fac.tolist()) - {
        int(f)
        for f, r in zip(geo.staff_fac[:n0], geo.staff_role[:n0], strict=True)
        if r == "village_doctor"
    }
    for c in no_doc:
        have[geo.fac_town[c]] += LICENSED_SHARE["village_doctor"]
    target = town_pop / 1000.0 * rng.uniform(*PRIMARY_DOCTORS_PER_1000, n_towns)
    thc_gps = _stochastic_round(np.maximum(target - have, 0.0), rng)
    spec = _stochastic_round(county_pop / 1000.0 * np.asarray(HOSPITAL_SPECIALISTS_PER_1000), rng)
    cdc = int(_stochastic_round(np.asarray([county_pop / 1000.0 * CDC_STAFF_PER_1000]), rng)[0])
    _hire_unattached(
        geo,
        seed,
        thc_gps=thc_gps,
        specialists=spec,
        cdc=max(1, cdc),
        grid_workers=round(county_pop / 1000.0 * GRID_WORKERS_PER_1000),
    )
    return {
        "hospital_towns": {
            str(geo.fac_id[h]): geo.profile.town_names[int(geo.fac_town[h])]
            for h in geo.hospital_fac
        },
        "population": int(county_pop),
        "beds": (beds_n := int(geo.fac_beds[geo.fac_open == 1].sum())),
        "doctors": (docs_n := int(geo.staff_licensed[geo.fac_open[geo.staff_fac] == 1].sum())),
        "beds_per_1000": round(beds_n / max(county_pop, 1.0) * 1000.0, 2),
        "doctors_per_1000": round(docs_n / max(county_pop, 1.0) * 1000.0, 2),
        "aimed_per_1000": {"beds": [4.0, 8.0], "doctors": [2.0, 4.0]},
    }


def _near_seat(geo: Geography, town: int, rng: np.random.Generator) -> tuple[float, float]:
    """A point 700-2500 m from the town's seat, inside the town (the seat if none fits)."""
    seat = geo.town_xy[town]
    for _ in range(50):
        ang, rr = rng.uniform(0, 2 * np.pi), rng.uniform(700.0, 2500.0)
        x, y = seat[0] + rr * np.cos(ang), seat[1] + rr * np.sin(ang)
        if geo.town_polys[town].contains(shapely.Point(x, y)):
            return float(x), float(y)
    return float(seat[0]), float(seat[1])


def facilities_table(geo: Geography, seed: int) -> pa.Table:
    """``facilities`` rows; about 10 % in GCJ-02 and 3 % in BD-09 coordinates."""
    rng = sc.stream(seed, sc.K_FACILITIES, 1)
    lng, lat = geo.proj.to_wgs(geo.fac_xy[:, 0], geo.fac_xy[:, 1])
    n = lng.size
    u = rng.random(n)
    sys_ = np.where(u < 0.10, "gcj02", np.where(u < 0.13, "bd09", np.where(u < 0.55, "wgs84", "")))
    out_lng, out_lat = lng.copy(), lat.copy()
    g = sys_ == "gcj02"
    out_lng[g], out_lat[g] = wgs84_to_gcj02(lng[g], lat[g])
    b = sys_ == "bd09"
    out_lng[b], out_lat[b] = wgs84_to_bd09(lng[b], lat[b])
    geo.converted_facilities = [
        {
            "facility_id": str(geo.fac_id[i]),
            "coord_sys": str(sys_[i]),
            "true_lat": round(float(lat[i]), 7),
            "true_lng": round(float(lng[i]), 7),
        }
        for i in np.flatnonzero(g | b)
    ]
    return pa.table(
        {
            "facility_id": geo.fac_id,
            "name": geo.fac_name,
            "type": geo.fac_type,
            "area_code": geo.fac_area,
            "lat": np.round(out_lat, 6),
            "lng": np.round(out_lng, 6),
            "coord_sys": sc.str_array(sys_, sys_ == ""),
            "parent_facility_id": sc.str_array(geo.fac_parent, geo.fac_parent == ""),
            "beds": geo.fac_beds,
            "open": geo.fac_open,
        }
    )


STAFF_HEADER = ["工号", "姓名", "facility_id", "岗位", "执业(助理)医师", "team_id"]


def staff_table(geo: Geography) -> pa.Table:
    """``staff`` rows (written in GB18030 with the Chinese header aliases)."""
    team = geo.staff_team
    team_ids = np.where(team >= 0, geo.team_id[np.maximum(team, 0)], "")
    return pa.table(
        {
            "staff_id": geo.staff_id,
            "name": geo.staff_name,
            "facility_id": geo.fac_id[geo.staff_fac],
            "role": geo.staff_role,
            "licensed": np.where(geo.staff_licensed, "是", "否"),
            "team_id": sc.str_array(team_ids, team < 0),
        }
    )


def teams_table(geo: Geography) -> pa.Table:
    """``teams`` rows (written as XLSX)."""
    return pa.table(
        {
            "team_id": geo.team_id,
            "name": geo.team_name,
            "facility_id": geo.fac_id[geo.team_fac],
            "leader_staff_id": geo.staff_id[geo.team_leader],
            "max_daily_visits": geo.team_max_visits,
        }
    )


def grids_table(geo: Geography) -> pa.Table:
    """``grids`` rows: whole villages of one town served by one clinic."""
    n = geo.grid_id.size
    vill_codes = [";".join(geo.village_codes[geo.village_grid == g].tolist()) for g in range(n)]
    workers = [";".join(geo.staff_id[ws].tolist()) for ws in geo.grid_workers]
    return pa.table(
        {
            "grid_id": geo.grid_id,
            "name": geo.grid_name,
            "village_codes": vill_codes,
            "clinic_id": geo.fac_id[geo.grid_clinic],
            "team_id": geo.team_id[geo.grid_team],
            "grid_worker_ids": workers,
        }
    )
