"""Synthetic county geography and health-service organisation.

Builds the Shouguang-like county outline, its 16 towns and villages (Voronoi cells of
their seats), the facilities, grids, family-doctor teams and staff. All geometry is
made in a local azimuthal-equidistant plane in metres centred on the county (so areas
and distances are true) and converted to WGS84 only for output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coordinates import wgs84_to_bd09, wgs84_to_gcj02
from pipelines.sample import common as sc

CENTRE_LAT = 36.86
CENTRE_LNG = 118.79
COUNTY_CODE = "370783000000"
COUNTY_NAME = "寿光市"
COUNTY_AREA_KM2 = 2070.0

# Town names in area-code order (001 ... 016). The first is the county seat.
TOWN_NAMES = [
    "圣城街道",
    "文家街道",
    "古城街道",
    "洛城街道",
    "孙家集街道",
    "化龙镇",
    "营里镇",
    "台头镇",
    "田柳镇",
    "上口镇",
    "侯镇",
    "纪台镇",
    "稻田镇",
    "羊口镇",
    "双王城生态经济园区",
    "寿光经济开发区",
]
N_TOWNS = len(TOWN_NAMES)
# Sub-districts (街道) and the development zone are denser and more urban.
URBAN_TOWNS = {0, 1, 2, 3, 4, 15}

EXTERNAL_FACILITIES = [
    # (facility_id, weight) of out-of-county providers: Weifang city, Jinan, Qingdao.
    ("WF-H0001", 5.0),
    ("WF-H0002", 2.0),
    ("WF-H0003", 1.5),
    ("WF-H0004", 1.0),
    ("JN-H0001", 1.5),
    ("JN-H0002", 0.8),
    ("QD-H0001", 1.0),
    ("QD-H0002", 0.5),
]


class LocalProjection:
    """Azimuthal-equidistant plane (metres) centred on the county, and back to WGS84."""

    def __init__(self, lat0: float = CENTRE_LAT, lng0: float = CENTRE_LNG) -> None:
        local = f"+proj=aeqd +lat_0={lat0} +lon_0={lng0} +datum=WGS84 +units=m +no_defs"
        self._fwd = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self._inv = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def to_wgs(self, x: np.ndarray, y: np.ndarray) -> tuple[sc.FloatArray, sc.FloatArray]:
        """Local metres to WGS84 ``(lng, lat)``."""
        lng, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lng, np.float64), np.asarray(lat, np.float64)

    def to_local(self, lng: np.ndarray, lat: np.ndarray) -> tuple[sc.FloatArray, sc.FloatArray]:
        """WGS84 ``(lng, lat)`` to local metres."""
        x, y = self._fwd.transform(np.asarray(lng, float), np.asarray(lat, float))
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def geom_to_wgs(self, geom: BaseGeometry) -> BaseGeometry:
        """Transform a shapely geometry from local metres to WGS84."""

        def fn(coords: np.ndarray) -> np.ndarray:
            lng, lat = self.to_wgs(coords[:, 0], coords[:, 1])
            return np.column_stack([lng, lat])

        return shapely.transform(geom, fn)


@dataclass
class Geography:
    """Everything spatial and organisational about the synthetic county."""

    proj: LocalProjection
    county: Polygon
    town_xy: np.ndarray  # (16, 2) seats
    town_polys: list[BaseGeometry]
    town_codes: np.ndarray
    village_codes: np.ndarray
    village_names: np.ndarray
    village_town: np.ndarray  # town index of each village
    village_xy: np.ndarray
    village_polys: list[BaseGeometry]
    village_is_seat: np.ndarray
    # facilities (all types), arrays aligned
    fac_id: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_name: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_type: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_area: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    fac_parent: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_beds: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_open: np.ndarray = field(default_factory=lambda: np.array([]))
    fac_town: np.ndarray = field(default_factory=lambda: np.array([]))
    thc_fac: np.ndarray = field(default_factory=lambda: np.array([]))  # per town
    clinic_fac: np.ndarray = field(default_factory=lambda: np.array([]))  # facility idx
    hospital_fac: np.ndarray = field(default_factory=lambda: np.array([]))  # county, tcm, mch
    cdc_fac: int = -1
    clinic_village: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    # grids
    grid_id: np.ndarray = field(default_factory=lambda: np.array([]))
    grid_name: np.ndarray = field(default_factory=lambda: np.array([]))
    grid_clinic: np.ndarray = field(default_factory=lambda: np.array([]))  # facility idx
    grid_town: np.ndarray = field(default_factory=lambda: np.array([]))
    grid_team: np.ndarray = field(default_factory=lambda: np.array([]))
    village_grid: np.ndarray = field(default_factory=lambda: np.array([]))
    # teams
    team_id: np.ndarray = field(default_factory=lambda: np.array([]))
    team_name: np.ndarray = field(default_factory=lambda: np.array([]))
    team_fac: np.ndarray = field(default_factory=lambda: np.array([]))
    team_town: np.ndarray = field(default_factory=lambda: np.array([]))
    team_leader: np.ndarray = field(default_factory=lambda: np.array([]))
    team_max_visits: np.ndarray = field(default_factory=lambda: np.array([]))
    # staff
    staff_id: np.ndarray = field(default_factory=lambda: np.array([]))
    staff_name: np.ndarray = field(default_factory=lambda: np.array([]))
    staff_fac: np.ndarray = field(default_factory=lambda: np.array([]))
    staff_role: np.ndarray = field(default_factory=lambda: np.array([]))
    staff_licensed: np.ndarray = field(default_factory=lambda: np.array([]))
    staff_team: np.ndarray = field(default_factory=lambda: np.array([]))  # -1 none
    grid_workers: list[list[int]] = field(default_factory=list)
    # team -> staff indices that do follow-ups (gp and village doctors)
    team_doctors: list[np.ndarray] = field(default_factory=list)
    converted_facilities: list[dict[str, object]] = field(default_factory=list)

    @property
    def n_villages(self) -> int:
        """Number of villages."""
        return int(self.village_codes.size)

    @property
    def village_team(self) -> np.ndarray:
        """Team index responsible for each village (through its grid)."""
        return self.grid_team[self.village_grid]


# --- helpers -----------------------------------------------------------------------------


def _points_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points inside ``poly`` (rejection sampling)."""
    minx, miny, maxx, maxy = poly.bounds
    out: list[np.ndarray] = []
    got = 0
    shapely.prepare(poly)
    while got < n:
        m = max(64, int((n - got) * 2.5))
        xs = rng.uniform(minx, maxx, m)
        ys = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, xs, ys)
        pts = np.column_stack([xs[ok], ys[ok]])
        out.append(pts)
        got += len(pts)
    return np.concatenate(out)[:n]


def _best_candidate(
    existing: np.ndarray, pool: np.ndarray, n: int, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Mitchell's best-candidate sampling: well-spread but irregular seats."""
    chosen = [p for p in existing]
    pool_i = 0
    out = []
    for _ in range(n):
        cand = pool[pool_i : pool_i + k]
        pool_i += k
        if chosen:
            ex = np.asarray(chosen)
            d = np.sqrt(((cand[:, None, :] - ex[None, :, :]) ** 2).sum(-1)).min(axis=1)
            best = cand[int(np.argmax(d))]
        else:
            best = cand[0]
        chosen.append(best)
        out.append(best)
    return np.asarray(out).reshape(-1, 2)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal part of an intersection result."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


def _voronoi_cells(points: np.ndarray, clip: BaseGeometry) -> list[BaseGeometry]:
    """Voronoi cells of ``points`` (in input order) clipped to ``clip``."""
    if len(points) == 1:
        return [clip]
    vor = shapely.voronoi_polygons(MultiPoint(points), extend_to=clip, ordered=True)
    return [_polygonal(cell.intersection(clip)) for cell in vor.geoms]


def _county_polygon(rng: np.random.Generator) -> Polygon:
    theta = np.linspace(0.0, 2.0 * np.pi, 360, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 8):
        r += rng.uniform(0.015, 0.05) / (k / 2.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r *= 1.0 + rng.normal(0.0, 0.004, theta.size)
    x = 23000.0 * r * np.cos(theta)
    y = 22500.0 * r * np.sin(theta)
    poly = Polygon(np.column_stack([x, y]))
    s = np.sqrt(COUNTY_AREA_KM2 * 1e6 / poly.area)
    return Polygon(np.column_stack([x * s, y * s]))


_VILLAGE_PRE = ["", "东", "西", "南", "北", "前", "后", "大", "小", "上", "下", "新"]
_VILLAGE_SUR = list("王张李刘陈杨赵孙马郭徐于高周胡宋朱吕田袁郑韩曹冯邢许单丁崔桑牟侯纪")
_VILLAGE_SUF = [
    "家庄",
    "家村",
    "庄",
    "官庄",
    "家营",
    "家埠",
    "集",
    "家洼",
    "家屯",
    "店",
    "家楼",
    "疃",
]


def _village_name_pool(n: int, rng: np.random.Generator) -> np.ndarray:
    names = [p + s + f for p in _VILLAGE_PRE for s in _VILLAGE_SUR for f in _VILLAGE_SUF]
    idx = rng.permutation(len(names))
    pool = [names[i] + "村" for i in idx]
    if n > len(pool):  # very large scales: number the repeats
        pool += [f"{pool[i % len(pool)][:-1]}{i // len(pool) + 1}村" for i in range(n - len(pool))]
    return np.asarray(pool[:n])


# --- build -------------------------------------------------------------------------------


def build_geography(seed: int, scale: float) -> Geography:
    """Create county, towns and villages.

    Parameters
    ----------
    seed : int
        Run seed.
    scale : float
        Size factor (villages scale with it, at least 2 per town).

    Returns
    -------
    Geography
        With areas filled; facilities etc. are added by :func:`build_services`.
    """
    proj = LocalProjection()
    county = _county_polygon(sc.stream(seed, sc.K_COUNTY))

    rng = sc.stream(seed, sc.K_TOWNS)
    # County seat (圣城街道) near the centre; the other 15 seats spread by best-candidate.
    seat0 = rng.normal(0.0, 600.0, 2)
    inner = county.buffer(-3500.0)
    pool = _points_in(inner, 15 * 40, rng)
    others = _best_candidate(np.asarray([seat0]), pool, 15, 40, rng)
    # Name the other seats by position: the four inner 街道 nearest the seat, the coastal
    # 羊口镇/双王城 northmost (Shouguang's Laizhou Bay shore), the rest at random.
    dist = np.hypot(others[:, 0] - seat0[0], others[:, 1] - seat0[1])
    order_near = list(np.argsort(dist, kind="stable")[:4])
    rest = [i for i in range(15) if i not in order_near]
    north = sorted(rest, key=lambda i: -others[i, 1])[:2]
    rest = [i for i in rest if i not in north]
    rest = list(np.asarray(rest)[rng.permutation(len(rest))])
    seats = np.zeros((N_TOWNS, 2))
    seats[0] = seat0
    # Codes 002-005 the 街道s, 014 羊口镇, 015 双王城; the rest fill 006-013 and 016.
    for code_i, j in zip([1, 2, 3, 4], order_near, strict=True):
        seats[code_i] = others[j]
    seats[13] = others[north[0]]
    seats[14] = others[north[1]]
    for code_i, j in zip([5, 6, 7, 8, 9, 10, 11, 12, 15], rest, strict=True):
        seats[code_i] = others[j]
    town_polys = _voronoi_cells(seats, county)
    town_codes = np.asarray([f"370783{t + 1:03d}000" for t in range(N_TOWNS)])

    # Villages: the count scales, proportional to town area, at least 2 per town.
    rng = sc.stream(seed, sc.K_VILLAGES)
    n_vill = max(2 * N_TOWNS, round(975 * scale))
    areas = np.asarray([p.area for p in town_polys])
    per_town = sc.largest_remainder(n_vill, areas, 2, 999)
    names = _village_name_pool(int(per_town.sum()), rng)
    v_codes, v_town, v_xy, v_polys, v_seat = [], [], [], [], []
    for t in range(N_TOWNS):
        poly = town_polys[t]
        core = poly.buffer(-150.0)
        if core.is_empty or core.area < 0.2 * poly.area:
            core = poly
        k = 8
        pool = _points_in(core, int(per_town[t] - 1) * k, rng)
        pts = _best_candidate(seats[t : t + 1], pool, int(per_town[t] - 1), k, rng)
        # Village codes: the seat village first, the rest north to south, west to east.
        order = np.lexsort((pts[:, 0], -pts[:, 1])) if len(pts) else np.array([], int)
        xy = np.vstack([seats[t : t + 1], pts[order]])
        cells = _voronoi_cells(xy, poly)
        for j in range(len(xy)):
            v_codes.append(f"370783{t + 1:03d}{j + 1:03d}")
            v_town.append(t)
            v_seat.append(j == 0)
        v_xy.append(xy)
        v_polys.extend(cells)
    return Geography(
        proj=proj,
        county=county,
        town_xy=seats,
        town_polys=town_polys,
        town_codes=town_codes,
        village_codes=np.asarray(v_codes),
        village_names=names,
        village_town=np.asarray(v_town, dtype=np.int64),
        village_xy=np.vstack(v_xy),
        village_polys=v_polys,
        village_is_seat=np.asarray(v_seat, dtype=bool),
    )


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

    seat = geo.town_xy[0]
    hosp = [
        ("H001", "寿光市人民医院", "county_hospital", 900),
        ("H002", "寿光市中医医院", "tcm_hospital", 450),
        ("H003", "寿光市妇幼保健院", "mch_hospital", 260),
        ("CDC001", "寿光市疾病预防控制中心", "other", 0),
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
    for t in range(N_TOWNS):
        name = TOWN_NAMES[t]
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
    n_clin = max(N_TOWNS, round(488 * scale))
    v_per_town = np.bincount(geo.village_town, minlength=N_TOWNS)
    c_per_town = sc.largest_remainder(n_clin, v_per_town, 1, v_per_town)
    clinic_village = []
    k = 0
    for t in range(N_TOWNS):
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
            area.append(geo.village_codes[clinic_village[i - thc_first - N_TOWNS]])
        else:
            area.append(geo.village_codes[_village_at(geo, xy[i][0], xy[i][1], towns[i])])
    is_open = np.ones(n, dtype=np.int64)
    clinic_idx = np.arange(thc_first + N_TOWNS, n)
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
    geo.thc_fac = np.arange(thc_first, thc_first + N_TOWNS)
    geo.clinic_fac = clinic_idx
    geo.clinic_village = np.asarray(clinic_village, dtype=np.int64)


def _build_grids(geo: Geography, seed: int, scale: float) -> None:
    rng = sc.stream(seed, sc.K_GRIDS)
    clinic_village = geo.clinic_village
    n_clin = geo.clinic_fac.size
    # Catchment: every village goes to the nearest clinic of its own town.
    catch = np.empty(geo.n_villages, dtype=np.int64)
    for t in range(N_TOWNS):
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
    g_per_town = np.bincount(geo.grid_town, minlength=N_TOWNS)
    n_teams = max(N_TOWNS, round(265 * scale))
    t_per_town = sc.largest_remainder(n_teams, g_per_town, 1, g_per_town)
    grid_team = np.empty(n_grid, dtype=np.int64)
    team_town: list[int] = []
    team_grids: list[np.ndarray] = []
    for t in range(N_TOWNS):
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
    per_town_k = np.zeros(N_TOWNS, dtype=np.int64)
    for i in range(n_t):
        t = team_town[i]
        per_town_k[t] += 1
        clinics = [c for c in geo.grid_clinic[team_grids[i]] if geo.fac_open[c] == 1]
        if clinics and rng.random() < 0.15:
            team_fac[i] = clinics[0]
            team_name.append(f"{str(geo.fac_name[clinics[0]]).removesuffix('卫生室')}家庭医生团队")
        else:
            team_fac[i] = geo.thc_fac[t]
            team_name.append(f"{TOWN_NAMES[t]}家庭医生{per_town_k[t]}队")
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
    clinic_has_doctor: set[int] = set()

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
            clinic_has_doctor.add(c)
            members += 1
        while members < 3:
            hire(base, "nurse", i)
            members += 1
    for c in geo.clinic_fac:
        if int(c) not in clinic_has_doctor:
            hire(int(c), "village_doctor", -1)
    for t in range(N_TOWNS):
        for _ in range(max(1, round(5 * scale))):
            hire(int(geo.thc_fac[t]), "gp", -1)
    for h, n_spec in zip(geo.hospital_fac, (450, 200, 150), strict=True):
        for _ in range(max(3, round(n_spec * scale))):
            hire(int(h), "specialist", -1)
    for _ in range(max(2, round(40 * scale))):
        hire(geo.cdc_fac, "cdc", -1)
    # Grid workers: at least one per grid, the rest where grids hold more villages.
    n_gw = max(n_grid, round(1156 * scale))
    vill_per_grid = np.bincount(geo.village_grid, minlength=n_grid)
    gw_per_grid = sc.largest_remainder(n_gw, vill_per_grid, 1, 99)
    grid_workers: list[list[int]] = []
    for g in range(n_grid):
        ws = []
        for _ in range(int(gw_per_grid[g])):
            ws.append(len(s_fac))
            hire(int(geo.grid_clinic[g]), "grid_worker", -1)
        grid_workers.append(ws)
    role = np.asarray(s_role)
    n_s = role.size
    p_lic = np.select(
        [
            role == "gp",
            role == "specialist",
            role == "village_doctor",
            role == "public_health",
            role == "cdc",
        ],
        [1.0, 0.96, 0.85, 0.2, 0.4],
        0.0,
    )
    lic = rng.random(n_s) < p_lic
    sex = np.where(np.isin(role, ["nurse"]), 2, rng.integers(1, 3, n_s))
    geo.staff_id = np.asarray([f"S{i + 1:05d}" for i in range(n_s)])
    geo.staff_name = sc.chinese_names(rng, sex)
    geo.staff_fac = np.asarray(s_fac, dtype=np.int64)
    geo.staff_role = role
    geo.staff_licensed = lic
    geo.staff_team = np.asarray(s_team, dtype=np.int64)
    geo.team_leader = leader
    geo.team_doctors = [np.asarray(d, dtype=np.int64) for d in doctors]
    geo.grid_workers = grid_workers


# --- tables ------------------------------------------------------------------------------


def areas_table(geo: Geography) -> pa.Table:
    """``areas`` rows: county, towns, villages with WGS84 seats and WKT polygons."""
    proj = geo.proj
    codes = [COUNTY_CODE, *geo.town_codes.tolist(), *geo.village_codes.tolist()]
    names = [COUNTY_NAME, *TOWN_NAMES, *geo.village_names.tolist()]
    levels = ["county"] + ["town"] * N_TOWNS + ["village"] * geo.n_villages
    parents = ["", *[COUNTY_CODE] * N_TOWNS, *geo.town_codes[geo.village_town].tolist()]
    xy = np.vstack([np.zeros((1, 2)), geo.town_xy, geo.village_xy])
    lng, lat = proj.to_wgs(xy[:, 0], xy[:, 1])
    lng[0], lat[0] = CENTRE_LNG, CENTRE_LAT
    polys = [geo.county, *geo.town_polys, *geo.village_polys]
    wkt = shapely.to_wkt([proj.geom_to_wgs(p) for p in polys], rounding_precision=6, trim=True)
    return pa.table(
        {
            "area_code": codes,
            "name": names,
            "level": levels,
            "parent_code": sc.str_array(np.asarray(parents), np.asarray(parents) == ""),
            "lat": np.round(lat, 6),
            "lng": np.round(lng, 6),
            "geometry_wkt": list(wkt),
        }
    )


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
