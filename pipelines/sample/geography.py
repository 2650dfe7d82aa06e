"""Synthetic county geography: the county, its towns and villages.

Builds a county's outline, its towns and villages (Voronoi cells of their seats) from
its :class:`~pipelines.sample.profiles.CountyProfile` (Shouguang's 16 towns by default);
the facilities, grids, family-doctor teams and staff are added by
:mod:`pipelines.sample.services`. All geometry is made in a local azimuthal-equidistant
plane in metres centred on the county (so areas and distances are true) and converted to
WGS84 only for output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry.base import BaseGeometry

from pipelines.sample import common as sc
from pipelines.sample.profiles import SHOUGUANG, CountyProfile

# Shouguang's values (the default county), kept for callers that name them; the
# generator itself reads the county from ``Geography.profile``.
CENTRE_LAT = SHOUGUANG.centre_lat
CENTRE_LNG = SHOUGUANG.centre_lng
COUNTY_CODE = SHOUGUANG.county_code
COUNTY_NAME = SHOUGUANG.name
COUNTY_AREA_KM2 = SHOUGUANG.area_km2
# Town names in area-code order (001 ... 016). The first is the county seat.
TOWN_NAMES = list(SHOUGUANG.town_names)
N_TOWNS = len(TOWN_NAMES)
# Sub-districts (街道) and the development zone are denser and more urban.
URBAN_TOWNS = set(SHOUGUANG.urban_towns)

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
    town_xy: np.ndarray  # (n_towns, 2) seats
    town_polys: list[BaseGeometry]
    town_codes: np.ndarray
    village_codes: np.ndarray
    village_names: np.ndarray
    village_town: np.ndarray  # town index of each village
    village_xy: np.ndarray
    village_polys: list[BaseGeometry]
    village_is_seat: np.ndarray
    profile: CountyProfile = SHOUGUANG
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
    n_team_staff: int = 0  # team members come first in the staff arrays
    grid_workers: list[list[int]] = field(default_factory=list)
    # team -> staff indices that do follow-ups (gp and village doctors)
    team_doctors: list[np.ndarray] = field(default_factory=list)
    converted_facilities: list[dict[str, object]] = field(default_factory=list)

    @property
    def n_towns(self) -> int:
        """Number of towns."""
        return self.profile.n_towns

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


def _county_polygon(rng: np.random.Generator, area_km2: float) -> Polygon:
    theta = np.linspace(0.0, 2.0 * np.pi, 360, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 8):
        r += rng.uniform(0.015, 0.05) / (k / 2.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r *= 1.0 + rng.normal(0.0, 0.004, theta.size)
    x = 23000.0 * r * np.cos(theta)
    y = 22500.0 * r * np.sin(theta)
    poly = Polygon(np.column_stack([x, y]))
    s = np.sqrt(area_km2 * 1e6 / poly.area)
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


def build_geography(seed: int, scale: float, profile: CountyProfile = SHOUGUANG) -> Geography:
    """Create county, towns and villages.

    Parameters
    ----------
    seed : int
        Run seed.
    scale : float
        Size factor (villages scale with it, at least 2 per town);
        :func:`~pipelines.sample.county.generate_county` passes its scale times the
        profile's ``size``.
    profile : CountyProfile, default Shouguang
        The county.

    Returns
    -------
    Geography
        With areas filled; facilities etc. are added by :func:`build_services`.
    """
    proj = LocalProjection(profile.centre_lat, profile.centre_lng)
    county = _county_polygon(sc.stream(seed, sc.K_COUNTY), profile.area_km2)
    n_towns = profile.n_towns

    rng = sc.stream(seed, sc.K_TOWNS)
    # County seat (town 001) near the centre; the other seats spread by best-candidate.
    seat0 = rng.normal(0.0, 600.0, 2)
    inner = county.buffer(-3500.0)
    n_other = n_towns - 1
    pool = _points_in(inner, n_other * 40, rng)
    others = _best_candidate(np.asarray([seat0]), pool, n_other, 40, rng)
    # Name the other seats by position: the inner 街道 nearest the seat, the profile's
    # northern towns northmost (Shouguang's 羊口镇/双王城 on the Laizhou Bay shore), the
    # rest at random.
    near_codes, north_codes = profile.near_seat_towns, profile.north_towns
    dist = np.hypot(others[:, 0] - seat0[0], others[:, 1] - seat0[1])
    order_near = list(np.argsort(dist, kind="stable")[: len(near_codes)])
    rest = [i for i in range(n_other) if i not in order_near]
    north = sorted(rest, key=lambda i: -others[i, 1])[: len(north_codes)]
    rest = [i for i in rest if i not in north]
    rest = list(np.asarray(rest, dtype=np.int64)[rng.permutation(len(rest))])
    seats = np.zeros((n_towns, 2))
    seats[0] = seat0
    # Shouguang: codes 002-005 the 街道s, 014 羊口镇, 015 双王城; the rest fill 006-013
    # and 016.
    for code_i, j in zip(near_codes, order_near, strict=True):
        seats[code_i] = others[j]
    for code_i, j in zip(north_codes, north, strict=True):
        seats[code_i] = others[j]
    rest_codes = [t for t in range(1, n_towns) if t not in (*near_codes, *north_codes)]
    for code_i, j in zip(rest_codes, rest, strict=True):
        seats[code_i] = others[j]
    town_polys = _voronoi_cells(seats, county)
    town_codes = np.asarray([profile.town_code(t) for t in range(n_towns)])

    # Villages: the count scales, proportional to town area, at least 2 per town.
    rng = sc.stream(seed, sc.K_VILLAGES)
    n_vill = max(2 * n_towns, round(975 * scale))
    areas = np.asarray([p.area for p in town_polys])
    per_town = sc.largest_remainder(n_vill, areas, 2, 999)
    names = _village_name_pool(int(per_town.sum()), rng)
    v_codes, v_town, v_xy, v_polys, v_seat = [], [], [], [], []
    for t in range(n_towns):
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
            v_codes.append(profile.village_code(t, j))
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
        profile=profile,
    )


# --- tables ------------------------------------------------------------------------------


def areas_table(geo: Geography) -> pa.Table:
    """``areas`` rows: county, towns, villages with WGS84 seats and WKT polygons."""
    proj, p = geo.proj, geo.profile
    codes = [p.county_code, *geo.town_codes.tolist(), *geo.village_codes.tolist()]
    names = [p.name, *p.town_names, *geo.village_names.tolist()]
    levels = ["county"] + ["town"] * p.n_towns + ["village"] * geo.n_villages
    parents = ["", *[p.county_code] * p.n_towns, *geo.town_codes[geo.village_town].tolist()]
    xy = np.vstack([np.zeros((1, 2)), geo.town_xy, geo.village_xy])
    lng, lat = proj.to_wgs(xy[:, 0], xy[:, 1])
    lng[0], lat[0] = p.centre_lng, p.centre_lat
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
