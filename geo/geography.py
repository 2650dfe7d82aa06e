"""The units indicators roll up over: H3 cells, grids, villages, towns, the county, teams.

:class:`Geography` holds the area and grid hierarchy, :func:`village_population` the
population per village, and the unit codes of every resident, claim and facility are
derived here once per level.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.indicator_columns import (
    _col,
    _county_from_code,
    _ids,
    _to_bool,
    _to_num,
    _town_from_code,
)
from geo.vocabulary import LEVELS

#: Unit id of the county when ``areas`` has no county row and no code allows deriving it.
COUNTY_FALLBACK_ID = "county"
_LEVEL_KIND = {
    "county": "county",
    "town": "town",
    "village": "village",
    "县": "county",
    "乡镇": "town",
    "村": "village",
}
_BAND = re.compile(r"^\s*(\d+)\s*(?:[-–~]\s*(\d+)|\+)\s*$")


def band_adult_fraction(band: str, adult_age: int = 18) -> tuple[float, bool]:
    """Share of an age band aged ``adult_age`` or more.

    RULES.md: adults from 5-year bands are every band from ``20-24`` up plus 2/5 of
    ``15-19``. The general form used here -- ages spread evenly over the band -- gives
    exactly that (``15-19``: ages 18 and 19 of five), and ``85+`` counts whole.

    Parameters
    ----------
    band : str
        ``"15-19"``, ``"85+"`` ...
    adult_age : int
        First adult age (18).

    Returns
    -------
    (float, bool)
        The adult fraction and whether the band could be parsed.
    """
    m = _BAND.match(str(band))
    if m is None:
        return 0.0, False
    lo = int(m.group(1))
    if m.group(2) is None:  # open band "85+"
        return (1.0 if lo >= adult_age else 0.0), True
    hi = int(m.group(2))
    if hi < lo:
        return 0.0, False
    if lo >= adult_age:
        return 1.0, True
    if hi < adult_age:
        return 0.0, True
    return (hi - adult_age + 1) / (hi - lo + 1), True


def select_population_year(population: pd.DataFrame, as_of: dt.date) -> int | None:
    """The population year used for ``as_of``.

    The latest year <= the year of ``as_of``; when every year is later (a historic as-of
    date before the first population row) the nearest, i.e. the earliest, available year.

    Parameters
    ----------
    population : DataFrame
        With a ``year`` column.
    as_of : date

    Returns
    -------
    int or None
        ``None`` when the frame holds no year.
    """
    years = pd.to_numeric(population["year"], errors="coerce").dropna().astype(int)
    if years.empty:
        return None
    y = pd.Timestamp(as_of).year
    before = years[years <= y]
    return int(before.max()) if not before.empty else int(years.min())


# --------------------------------------------------------------------------------------
# Geography: how villages, towns, grids and teams relate
# --------------------------------------------------------------------------------------
@dataclass
class Geography:
    """Administrative and service-area maps shared by the levels.

    Attributes
    ----------
    county_id : str
    village_town : dict
        village code -> town code (``areas.parent_code``, then what residents say).
    village_grid : dict
        village code -> grid id (``grids.village_codes``; grids are whole villages).
    grid_team : dict
        grid id -> responsible family-doctor team (``grids.team_id``).
    villages, towns, grids, teams : list of str
        Every known unit, listed even without data so that maps show "no data".
    """

    county_id: str
    village_town: dict[str, str] = field(default_factory=dict)
    village_grid: dict[str, str] = field(default_factory=dict)
    grid_team: dict[str, str] = field(default_factory=dict)
    villages: list[str] = field(default_factory=list)
    towns: list[str] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        grids: pd.DataFrame | None,
        areas: pd.DataFrame | None,
        village_town_hint: Mapping[str, str] | None = None,
    ) -> Geography:
        """Derive the maps from ``areas`` and ``grids``.

        Parameters
        ----------
        grids, areas : DataFrame or None
            Canonical frames (``docs/frames.md``).
        village_town_hint : mapping, optional
            village -> town pairs seen on residents, used where ``areas`` has no parent.

        Returns
        -------
        Geography
        """
        village_town: dict[str, str] = {}
        villages: list[str] = []
        towns: list[str] = []
        county_id: str | None = None
        if areas is not None and len(areas):
            code = _ids(areas["area_code"]).astype(object)
            kind = _col(areas, "level").map(
                lambda v: _LEVEL_KIND.get(str(v).strip().lower()) if isinstance(v, str) else None
            )
            parent = _ids(_col(areas, "parent_code")).astype(object)
            villages = sorted(code[kind == "village"].dropna().unique().tolist())
            towns = sorted(code[kind == "town"].dropna().unique().tolist())
            counties = code[kind == "county"].dropna()
            if not counties.empty:
                county_id = str(counties.iloc[0])
            is_v = (kind == "village") & code.notna() & parent.notna()
            village_town = dict(zip(code[is_v], parent[is_v], strict=True))
        for v, t in (village_town_hint or {}).items():
            village_town.setdefault(v, t)
        village_grid: dict[str, str] = {}
        grid_team: dict[str, str] = {}
        grid_ids: list[str] = []
        if grids is not None and len(grids):
            gid = _ids(grids["grid_id"]).astype(object)
            team = _ids(_col(grids, "team_id")).astype(object)
            grid_ids = sorted(gid.dropna().unique().tolist())
            ok = gid.notna() & team.notna()
            grid_team = dict(zip(gid[ok], team[ok], strict=True))
            for g, vc in zip(gid, _col(grids, "village_codes"), strict=True):
                if not isinstance(g, str):
                    continue
                codes: Iterable[object]
                if isinstance(vc, str):
                    codes = vc.split(";")
                elif isinstance(vc, Iterable):
                    codes = vc
                else:
                    codes = ()
                for c in codes:
                    c_s = str(c).strip()
                    if c_s:
                        village_grid[c_s] = g
        if county_id is None:
            for c in [*towns, *villages, *village_town.values()]:
                county_id = _county_from_code(c)
                if county_id:
                    break
        return cls(
            county_id=county_id or COUNTY_FALLBACK_ID,
            village_town=village_town,
            village_grid=village_grid,
            grid_team=grid_team,
            villages=villages,
            towns=towns,
            grids=grid_ids,
            teams=sorted(set(grid_team.values())),
        )

    def town(self, village: object) -> str | None:
        """Town of a village code (areas, residents, then the code's structure)."""
        if not isinstance(village, str):
            return None
        return self.village_town.get(village) or _town_from_code(village)

    def grid(self, village: object) -> str | None:
        """Grid of a village code."""
        return self.village_grid.get(village) if isinstance(village, str) else None

    def team(self, grid: object) -> str | None:
        """Team responsible for a grid."""
        return self.grid_team.get(grid) if isinstance(grid, str) else None

    def known_villages(self) -> set[str]:
        """Every village code the areas or grids know."""
        return set(self.villages) | set(self.village_town) | set(self.village_grid)

    def known_towns(self) -> set[str]:
        """Every town code the areas know (or villages point to)."""
        return set(self.towns) | set(self.village_town.values())


def _derive_codes(
    codes: np.ndarray, uniques: np.ndarray, fn: Callable[[object], str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``fn`` to each unique value (not each row) and re-factorize the result.

    Parameters
    ----------
    codes, uniques : ndarray
        Codes (-1 missing) and unique values, as from :func:`factor`.
    fn : callable
        value -> derived value or None (e.g. village -> town).

    Returns
    -------
    (ndarray, ndarray)
        Codes and uniques of the derived values.
    """
    mapped = np.array([fn(u) for u in uniques], dtype=object)
    m_codes, m_uniq = pd.factorize(pd.Series(mapped, dtype=object), use_na_sentinel=True)
    lut = np.append(np.asarray(m_codes, dtype=np.int64), -1)
    return lut[codes], np.asarray(m_uniq, dtype=object)


def _fallback_codes(
    primary: tuple[np.ndarray, np.ndarray], secondary: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``primary`` where known, else of ``secondary``, over merged uniques.

    Parameters
    ----------
    primary, secondary : (ndarray, ndarray)
        (codes, uniques) pairs over the same rows.

    Returns
    -------
    (ndarray, ndarray)
        Merged codes and uniques.
    """
    p_codes, p_uniq = primary
    s_codes, s_uniq = secondary
    merged = np.concatenate([p_uniq, s_uniq]).astype(object)
    m_codes, m_uniq = pd.factorize(pd.Series(merged, dtype=object), use_na_sentinel=True)
    m_codes = np.asarray(m_codes, dtype=np.int64)
    p_lut = np.append(m_codes[: len(p_uniq)], -1)
    s_lut = np.append(m_codes[len(p_uniq) :], -1)
    out = np.where(p_codes >= 0, p_lut[p_codes], s_lut[s_codes])
    return out, np.asarray(m_uniq, dtype=object)


# --------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------
def village_population(
    population: pd.DataFrame,
    as_of: dt.date,
    geography: Geography,
    active_per_village: Mapping[str, float],
    adult_age: int = 18,
) -> pd.DataFrame:
    """Total and adult (18+) population per village for ``as_of``.

    Uses the year of :func:`select_population_year`, summed over sex. Rows at a village
    code are used as they are. Rows at a town code (the contract allows village "or town")
    are used only for a town without any village row that year, and are spread over the
    town's villages in proportion to their active residents (equally over the town's
    villages when none has residents; kept at the town itself, with no village, grid or
    cell, when the town's villages are unknown). Rows of any other code are ignored.

    Parameters
    ----------
    population : DataFrame
        area_code, year, sex, age_band, count.
    as_of : date
    geography : Geography
    active_per_village : mapping
        Active residents per village code (the allocation weights).
    adult_age : int

    Returns
    -------
    DataFrame
        Columns village (missing for a town-only row), town, pop_total, pop_adults.
    """
    out_cols = ["village", "town", "pop_total", "pop_adults"]
    year = select_population_year(population, as_of)
    if year is None:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c in ("village", "town") else float) for c in out_cols}
        )
    p = population[pd.to_numeric(population["year"], errors="coerce") == year]
    bands = p["age_band"].astype(object)
    frac = {b: band_adult_fraction(str(b), adult_age)[0] for b in pd.unique(bands.dropna())}
    count = _to_num(p["count"])
    df = (
        pd.DataFrame(
            {
                "code": _ids(p["area_code"]).astype(object).to_numpy(),
                "pop_total": count,
                "pop_adults": count * bands.map(frac).fillna(0.0).to_numpy(dtype=float),
            }
        )
        .groupby("code", sort=True)[["pop_total", "pop_adults"]]
        .sum()
    )
    known_villages = geography.known_villages() | set(active_per_village)
    is_v = np.array([c in known_villages for c in df.index], dtype=bool)
    vil = df[is_v].rename_axis("village").reset_index()
    vil["town"] = [geography.town(v) for v in vil["village"]]
    towns_with_villages = set(vil["town"].dropna())
    village_lists: dict[str, list[str]] = {}
    for v in known_villages:
        t = geography.town(v)
        if t is not None:
            village_lists.setdefault(t, []).append(v)
    pieces = [vil]
    known_towns = geography.known_towns()
    for town, row in df[~is_v].iterrows():  # a handful of town rows, never per resident
        town = str(town)
        if town not in known_towns or town in towns_with_villages:
            continue
        vs = sorted(village_lists.get(town, []))
        if not vs:
            pieces.append(
                pd.DataFrame(
                    {
                        "village": [None],
                        "town": [town],
                        "pop_total": [row["pop_total"]],
                        "pop_adults": [row["pop_adults"]],
                    }
                )
            )
            continue
        w = np.array([active_per_village.get(v, 0.0) for v in vs], dtype=float)
        if w.sum() <= 0:
            w = np.ones(len(vs))
        share = w / w.sum()
        pieces.append(
            pd.DataFrame(
                {
                    "village": vs,
                    "town": town,
                    "pop_total": row["pop_total"] * share,
                    "pop_adults": row["pop_adults"] * share,
                }
            )
        )
    out = pd.concat(pieces, ignore_index=True)
    out["village"] = out["village"].astype(object)
    out["town"] = out["town"].astype(object)
    return out[out_cols]


# --------------------------------------------------------------------------------------
# Accumulating quantities per unit
# --------------------------------------------------------------------------------------
class _Units:
    """Quantities of one level, keyed by unit id, filled from several sources."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []

    def add_codes(
        self, codes: np.ndarray, uniques: np.ndarray, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """Sum per-row ``arrays`` over row ``codes`` (-1: in no unit of this level)."""
        keep = codes >= 0
        if keep.all():  # the common case: skip a copy of every array
            data = {
                k: np.bincount(codes, weights=v, minlength=len(uniques)) for k, v in arrays.items()
            }
        else:
            c = codes[keep]
            data = {
                k: np.bincount(c, weights=np.asarray(v)[keep], minlength=len(uniques))
                for k, v in arrays.items()
            }
        self._parts.append((np.asarray(uniques, dtype=object), data))

    def add_units(
        self, units: Sequence[object] | np.ndarray, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """Sum small per-row ``arrays`` keyed by unit id (missing id: in no unit)."""
        codes, uniq = pd.factorize(
            pd.Series(np.asarray(units, dtype=object), dtype=object), use_na_sentinel=True
        )
        self.add_codes(np.asarray(codes, dtype=np.int64), np.asarray(uniq, dtype=object), arrays)

    def add_empty(self, units: Sequence[str]) -> None:
        """List units that have no data."""
        self._parts.append((np.asarray(list(units), dtype=object), {}))

    def table(self, names: Iterable[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sorted unit ids and the summed arrays (0 where a source has no value)."""
        names = list(names)
        all_u = pd.unique(np.concatenate([u for u, _ in self._parts] or [np.array([], object)]))
        all_u = np.array(sorted(str(u) for u in all_u), dtype=object)
        index = pd.Index(all_u, dtype=object)
        out = {k: np.zeros(len(all_u)) for k in names}
        for uniq, data in self._parts:
            if not data or len(uniq) == 0:
                continue
            pos = index.get_indexer(pd.Index(uniq, dtype=object))
            for k, v in data.items():
                if k in out:
                    np.add.at(out[k], pos, v)
        return all_u, out


def _facility_table(
    facilities: pd.DataFrame | None, staff: pd.DataFrame | None, geo: Geography
) -> pd.DataFrame:
    """Licensed staff and beds of open facilities, with each facility's unit per level."""
    if facilities is None or facilities.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=object) for c in LEVELS}
            | {"doctors": pd.Series(dtype=float), "beds": pd.Series(dtype=float)}
        )
    f = facilities.drop_duplicates("facility_id").reset_index(drop=True)
    fid = _ids(f["facility_id"]).astype(object)
    is_open = _to_bool(_col(f, "open"), default=True)
    doctors: np.ndarray = np.zeros(len(f))
    if staff is not None and not staff.empty:
        lic = _to_bool(_col(staff, "licensed"), default=False)
        per = _ids(staff["facility_id"]).astype(object)[lic].value_counts()
        doctors = per.reindex(pd.Index(fid, dtype=object)).fillna(0.0).to_numpy(dtype=float)
    area = _ids(_col(f, "area_code")).astype(object)
    villages = geo.known_villages()
    towns = geo.known_towns()
    village = [a if a in villages else None for a in area]
    town_col = _ids(_col(f, "town_code")).astype(object)
    town = [
        t if isinstance(t, str) else (geo.town(v) if v else (a if a in towns else None))
        for t, v, a in zip(town_col, village, area, strict=True)
    ]
    grid_col = _ids(_col(f, "grid_id")).astype(object)
    grid = [
        g if isinstance(g, str) else geo.grid(v) for g, v in zip(grid_col, village, strict=True)
    ]
    out = pd.DataFrame(
        {
            "doctors": np.where(is_open, doctors, 0.0),
            "beds": np.where(is_open, _to_num(_col(f, "beds")), 0.0),
            "grid": pd.Series(grid, dtype=object),
            "village": pd.Series(village, dtype=object),
            "town": pd.Series(town, dtype=object),
            "county": pd.Series([geo.county_id] * len(f), dtype=object),
            "team": pd.Series([geo.team(g) for g in grid], dtype=object),
        }
    )
    for r in (7, 8, 9):
        out[f"h3:{r}"] = _ids(_col(f, f"h3_{r}")).astype(object).to_numpy()
    return out


def _add_population(
    acc: _Units,
    level: str,
    pop_villages: pd.DataFrame,
    geo: Geography,
    units: tuple[np.ndarray, np.ndarray],
    village: tuple[np.ndarray, np.ndarray],
    active: np.ndarray,
) -> None:
    """Add population (total, adults) of ``level``'s units from village populations."""
    vals = {
        "pop_total": pop_villages["pop_total"].to_numpy(dtype=float),
        "pop_adults": pop_villages["pop_adults"].to_numpy(dtype=float),
    }
    v = pop_villages["village"].to_numpy(dtype=object)
    if level == "village":
        acc.add_units(v, vals)
    elif level == "town":
        acc.add_units(pop_villages["town"].to_numpy(dtype=object), vals)
    elif level == "county":
        acc.add_units(np.full(len(v), geo.county_id, dtype=object), vals)
    elif level == "grid":
        acc.add_units(np.array([geo.grid(x) for x in v], dtype=object), vals)
    elif level == "team":
        acc.add_units(np.array([geo.team(geo.grid(x)) for x in v], dtype=object), vals)
    else:
        # H3: each village's population spread over its cells by active residents per cell.
        v_codes, v_uniq = village
        c_codes, c_uniq = units
        keep = active & (v_codes >= 0) & (c_codes >= 0)
        width = max(len(c_uniq), 1)
        combo, cnt = np.unique(v_codes[keep] * width + c_codes[keep], return_counts=True)
        cv, cc = combo // width, combo % width
        per_village = np.bincount(cv, weights=cnt, minlength=len(v_uniq))
        pv_pos = pd.Index(v_uniq, dtype=object).get_indexer(pd.Index(v, dtype=object))
        tot = np.zeros(len(v_uniq))
        adu = np.zeros(len(v_uniq))
        found = pv_pos >= 0
        np.add.at(tot, pv_pos[found], vals["pop_total"][found])
        np.add.at(adu, pv_pos[found], vals["pop_adults"][found])
        share = cnt / per_village[cv]
        acc.add_codes(cc, c_uniq, {"pop_total": tot[cv] * share, "pop_adults": adu[cv] * share})
