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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.rules import (
    DEFAULT_RULES,
    OUTPATIENT_VISIT_TYPES,
    PRIMARY_FACILITY_TYPES,
    RulesConfig,
    age_on,
    flu_season_start,
    meets_target,
)

#: Every level an indicator can be computed at (``h3:R`` is an H3 cell of resolution R).
LEVELS: tuple[str, ...] = ("h3:7", "h3:8", "h3:9", "grid", "village", "town", "county", "team")

#: Unit id of the county when ``areas`` has no county row and no code allows deriving it.
COUNTY_FALLBACK_ID = "county"

_DISEASE_CODE = {"htn": 0.0, "t2dm": 1.0}
_LEVEL_KIND = {
    "county": "county",
    "town": "town",
    "village": "village",
    "县": "county",
    "乡镇": "town",
    "村": "village",
}
_BAND = re.compile(r"^\s*(\d+)\s*(?:[-–~]\s*(\d+)|\+)\s*$")


@dataclass(frozen=True)
class IndicatorDef:
    """How one indicator is built from the per-unit quantities.

    Attributes
    ----------
    name : str
        Indicator code (``htn_management_rate`` ...).
    label_zh : str
        Chinese name shown in the product.
    numerator, denominator : str
        Quantity columns; ``value = numerator / denominator * scale``.
    numerator_people, denominator_people : str or None
        Quantities counting the distinct residents behind the numerator and the
        denominator, which the small-number rule (:func:`geo.suppression.suppress`) tests.
        ``None`` for the numerator of resource indicators (doctors, beds): they disclose
        nothing about residents, so only the population denominator is tested.
    scale : float
        1 for rates and shares, 1000 for "per 1000 population".
    """

    name: str
    label_zh: str
    numerator: str
    denominator: str
    numerator_people: str | None
    denominator_people: str | None
    scale: float = 1.0


INDICATORS: tuple[IndicatorDef, ...] = (
    IndicatorDef(
        "htn_management_rate",
        "高血压患者健康管理率",
        "htn_managed",
        "htn_expected",
        "htn_managed",
        "htn_expected",
    ),
    IndicatorDef(
        "htn_standard_rate",
        "高血压患者规范管理率",
        "htn_standard",
        "htn_managed",
        "htn_standard",
        "htn_managed",
    ),
    IndicatorDef(
        "htn_control_rate",
        "管理人群血压控制率",
        "htn_controlled",
        "htn_managed",
        "htn_controlled",
        "htn_managed",
    ),
    IndicatorDef(
        "t2dm_management_rate",
        "2型糖尿病患者健康管理率",
        "t2dm_managed",
        "t2dm_expected",
        "t2dm_managed",
        "t2dm_expected",
    ),
    IndicatorDef(
        "t2dm_standard_rate",
        "2型糖尿病患者规范管理率",
        "t2dm_standard",
        "t2dm_managed",
        "t2dm_standard",
        "t2dm_managed",
    ),
    IndicatorDef(
        "t2dm_control_rate",
        "管理人群血糖控制率",
        "t2dm_controlled",
        "t2dm_managed",
        "t2dm_controlled",
        "t2dm_managed",
    ),
    IndicatorDef(
        "followup_overdue_rate",
        "随访逾期率",
        "pairs_overdue",
        "pairs_managed",
        "people_overdue",
        "people_managed",
    ),
    IndicatorDef("signing_rate", "家庭医生签约率", "signed", "active", "signed", "active"),
    IndicatorDef(
        "key_pop_signing_rate",
        "重点人群签约率",
        "keypop_signed",
        "keypop",
        "keypop_signed",
        "keypop",
    ),
    IndicatorDef(
        "elderly_flu_vax_rate", "老年人流感疫苗接种率", "elder_vax", "elder", "elder_vax", "elder"
    ),
    IndicatorDef(
        "primary_care_visit_share",
        "基层就诊率",
        "out_primary",
        "out_all",
        "ppl_out_primary",
        "ppl_out_all",
    ),
    IndicatorDef(
        "in_county_visit_share",
        "县域内就诊率",
        "claims_in_county",
        "claims_all",
        "ppl_in_county",
        "ppl_claims",
    ),
    IndicatorDef(
        "primary_fund_share",
        "医保基金用于基层比例",
        "fund_primary",
        "fund_all",
        "ppl_fund_primary",
        "ppl_fund",
    ),
    IndicatorDef(
        "doctors_per_1000",
        "每千人口执业(助理)医师数",
        "doctors",
        "pop_total",
        None,
        "pop_total",
        1000.0,
    ),
    IndicatorDef(
        "beds_per_1000",
        "每千人口医疗卫生机构床位数",
        "beds",
        "pop_total",
        None,
        "pop_total",
        1000.0,
    ),
)

#: Indicator code -> definition.
INDICATOR_BY_NAME: dict[str, IndicatorDef] = {d.name: d for d in INDICATORS}

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

# Quantities that follow a managed patient (team level: the managing team).
_PATIENT_QTY = (
    "htn_managed",
    "htn_standard",
    "htn_controlled",
    "t2dm_managed",
    "t2dm_standard",
    "t2dm_controlled",
    "pairs_managed",
    "pairs_overdue",
    "people_managed",
    "people_overdue",
)
_CLAIM_QTY = (
    "out_all",
    "out_primary",
    "claims_all",
    "claims_in_county",
    "fund_all",
    "fund_primary",
    "ppl_out_all",
    "ppl_out_primary",
    "ppl_claims",
    "ppl_in_county",
    "ppl_fund",
    "ppl_fund_primary",
)


# --------------------------------------------------------------------------------------
# Array helpers (shared with geo.burden)
# --------------------------------------------------------------------------------------
def _col(df: pd.DataFrame | None, name: str) -> pd.Series:
    """Column ``name`` of ``df``, or an all-missing Series when the column is absent."""
    if df is None:
        return pd.Series([], dtype=object)
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype=object)


def _ids(s: pd.Series) -> pd.Series:
    """Codes and ids as strings with missing values kept missing (``1.0`` -> ``"1"``)."""
    if pd.api.types.is_float_dtype(s.dtype):
        whole = s.dropna()
        if (whole == np.floor(whole)).all():  # ids read as floats (1.0): back to "1"
            s = s.astype("Int64")
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype("string").astype(object)
        return out.where(s.notna(), np.nan)
    return s


def _to_arrow(s: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Strings as one Arrow ``large_string`` array (numbers become their decimal text)."""
    if isinstance(s, pd.Series):
        s = _ids(s)
        try:
            arr = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(s.astype("string"), from_pandas=True)
    else:
        arr = s
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    return arr


def _factor(s: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing or blank) and the unique values (object array)."""
    enc = pc.dictionary_encode(_to_arrow(s))
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniq = np.array(enc.dictionary.to_pylist(), dtype=object)
    blank = np.array([u is None or str(u).strip() == "" for u in uniq], dtype=bool)
    if blank.any():
        # An empty cell is "unknown" in the data contract: drop it from the uniques.
        remap = np.where(blank, -1, np.cumsum(~blank) - 1)
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        uniq = uniq[~blank]
    return codes, uniq


def _code_map(s: pd.Series | pa.Array, mapping: Mapping[str, float]) -> np.ndarray:
    """Map code values through ``mapping`` ignoring case and spaces; NaN when unmapped."""
    codes, uniq = _factor(s)
    lut = np.array(
        [mapping.get(str(u).strip().lower(), np.nan) for u in uniq] + [np.nan], dtype=float
    )
    return lut[codes]  # code -1 picks the trailing NaN


def _code_in(s: pd.Series | pa.Array, values: Iterable[str]) -> np.ndarray:
    """Whether code values are among ``values`` (ignoring case and spaces)."""
    return ~np.isnan(_code_map(s, dict.fromkeys(values, 1.0)))


def _days(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dates as integer day numbers (since 1970-01-01) and a validity mask."""
    d = pd.to_datetime(s, errors="coerce")
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)
    raw = d.to_numpy()
    valid = ~np.isnat(raw)
    out = raw.astype("datetime64[D]").view("int64")
    return out, valid


def _day_number(d: dt.date | pd.Timestamp) -> int:
    """Day number (since 1970-01-01) of a date."""
    return int((pd.Timestamp(d).normalize() - pd.Timestamp("1970-01-01")).days)


def _to_bool(s: pd.Series, default: bool) -> np.ndarray:
    """Booleans from the canonical frames (bool / boolean / 0-1 / text), missing -> default."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.fillna(default).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        return num.fillna(1.0 if default else 0.0).to_numpy() != 0
    words = {
        "1": 1.0,
        "true": 1.0,
        "t": 1.0,
        "y": 1.0,
        "yes": 1.0,
        "是": 1.0,
        "0": 0.0,
        "false": 0.0,
        "f": 0.0,
        "n": 0.0,
        "no": 0.0,
        "否": 0.0,
    }
    val = _code_map(s, words)
    return np.where(np.isnan(val), default, val == 1.0)


def _to_num(s: pd.Series) -> np.ndarray:
    """Numbers as float64, missing -> 0."""
    return pd.to_numeric(s, errors="coerce").fillna(0.0).to_numpy(dtype="float64")


def _resident_lookup(residents: pd.DataFrame) -> Callable[[pd.Series | pa.Array], np.ndarray]:
    """A function mapping resident ids to row positions in ``residents`` (-1: not on file).

    ``residents`` must have unique ``resident_id``. Lookups hash through Arrow, about
    ten times faster than a pandas object index at 8M claims.
    """
    value_set = _to_arrow(residents["resident_id"])

    def lookup(values: pd.Series | pa.Array) -> np.ndarray:
        found = pc.index_in(_to_arrow(values), value_set=value_set)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    return lookup


def _village_town_hint(
    village: tuple[np.ndarray, np.ndarray], town: tuple[np.ndarray, np.ndarray]
) -> dict[str, str]:
    """village -> town as the residents say (the first resident of a village with both)."""
    has_both = (village[0] >= 0) & (town[0] >= 0)
    first_v, first_i = np.unique(village[0][has_both], return_index=True)
    return dict(zip(village[1][first_v], town[1][town[0][has_both][first_i]], strict=True))


def _active(res: pd.DataFrame, d_day: int) -> np.ndarray:
    """Active residents on D: status ``active`` (missing = active) and born on or before D."""
    birth_day, birth_ok = _days(_col(res, "birth_date"))
    status = _col(res, "status")
    active = status.isna().to_numpy(dtype=bool) | _code_in(status, ["active"])
    return active & (~birth_ok | (birth_day <= d_day))


def _unique_residents(residents: pd.DataFrame) -> pd.DataFrame:
    """Residents with a unique ``resident_id`` (the first row of a duplicated id), 0..n-1."""
    ids = _to_arrow(residents["resident_id"])
    # The store keys residents by id, so duplicates are rare: test through Arrow (one hash)
    # before paying for pandas' drop_duplicates.
    if len(pc.unique(ids)) != len(ids):
        residents = residents.drop_duplicates("resident_id", keep="first")
    return residents.reset_index(drop=True)


def _town_from_code(code: object) -> str | None:
    """Town code of a 12-digit statistical division code (``370783001001`` -> ``...001000``)."""
    if isinstance(code, str) and len(code) == 12 and code.isdigit():
        return code[:9] + "000"
    return None


def _county_from_code(code: object) -> str | None:
    if isinstance(code, str) and len(code) == 12 and code.isdigit():
        return code[:6] + "000000"
    return None


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


def _managed_pairs(
    registry: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    active: np.ndarray,
    d_day: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted pair keys, enrolment day numbers and registry team (object, None) per pair."""
    if registry is None or registry.empty:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object))
    dis = _code_map(registry["disease"], _DISEASE_CODE)
    e_day, e_ok = _days(registry["enrolled_date"])
    c_day, c_ok = _days(_col(registry, "closed_date"))
    ok = ~np.isnan(dis) & e_ok & (e_day <= d_day) & (~c_ok | (c_day > d_day))
    mask = pa.array(ok)
    idx = lookup(_to_arrow(registry["resident_id"]).filter(mask))
    key = idx * 2 + dis[ok].astype(np.int64)
    team_codes, team_uniq = _factor(_to_arrow(_col(registry, "team_id")).filter(mask))
    keep = idx >= 0
    keep[keep] &= active[idx[keep]]
    key, enrolled, team_codes = key[keep], e_day[ok][keep], team_codes[keep]
    # Earliest open enrolment; the team of the latest enrolment that names one.
    order = np.lexsort((enrolled, key))
    key, enrolled, team_codes = key[order], enrolled[order], team_codes[order]
    u_key, first = np.unique(key, return_index=True)
    e_first = enrolled[first]
    named = np.flatnonzero(team_codes >= 0)
    last_team = np.full(len(u_key), -1, dtype=np.int64)
    if len(named):
        # Last named row of each key = first occurrence in the reversed order.
        rev = named[::-1]
        k_named, first_rev = np.unique(key[rev], return_index=True)
        last_team[np.searchsorted(u_key, k_named)] = team_codes[rev[first_rev]]
    team = np.array([*team_uniq, None], dtype=object)[last_team]
    return u_key.astype(np.int64), e_first.astype(np.int64), team


def _visit_stats(
    followups: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    birth_date: pd.Series,
    pair_key: np.ndarray,
    w_start: int,
    d_day: int,
    config: RulesConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct visit dates in W and "latest visit in W meets the target", per pair."""
    n_pairs = len(pair_key)
    if followups is None or followups.empty or n_pairs == 0:
        return np.zeros(n_pairs, dtype=np.int64), np.zeros(n_pairs, dtype=bool)
    v_day, v_ok = _days(followups["visit_date"])
    in_w = v_ok & (v_day >= w_start) & (v_day <= d_day)
    mask = pa.array(in_w)
    idx = lookup(_to_arrow(followups["resident_id"]).filter(mask))
    dis = _code_map(_to_arrow(followups["disease"]).filter(mask), _DISEASE_CODE)
    ok = (idx >= 0) & ~np.isnan(dis)
    key = np.where(ok, idx * 2 + np.nan_to_num(dis).astype(np.int64), -1)
    pos = np.clip(np.searchsorted(pair_key, key), 0, n_pairs - 1)
    is_pair = ok & (pair_key[pos] == key)
    rows = np.flatnonzero(in_w)[is_pair]  # positions in ``followups``
    pos = pos[is_pair]
    off = v_day[rows] - w_start
    # Distinct visit dates per pair: unique (pair, day) combinations.
    width = int(off.max(initial=0)) + 1  # days in W: 0 … window_days − 1
    combo = np.sort(pos.astype(np.int64) * width + off)
    combo = combo[np.r_[True, combo[1:] != combo[:-1]]] if len(combo) else combo
    n_visits = np.bincount(combo // width, minlength=n_pairs).astype(np.int64)
    # Latest visit date per pair, then every form dated that day.
    last_off = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(last_off, pos, off)
    on_last = off == last_off[pos]
    lrows, lpos = rows[on_last], pos[on_last]
    births = birth_date.iloc[pair_key[lpos] // 2].reset_index(drop=True)
    visit = pd.Series(pd.to_datetime(followups["visit_date"].iloc[lrows]).to_numpy())
    met = meets_target(
        pd.Series(np.where(pair_key[lpos] % 2 == 0, "htn", "t2dm")),
        age_on(births, visit),
        pd.Series(_col(followups, "sbp").iloc[lrows].to_numpy()),
        pd.Series(_col(followups, "dbp").iloc[lrows].to_numpy()),
        pd.Series(_col(followups, "fasting_glucose").iloc[lrows].to_numpy()),
        config.targets,
    ).to_numpy(dtype=bool)
    forms = np.bincount(lpos, minlength=n_pairs)
    meeting = np.bincount(lpos, weights=met.astype(float), minlength=n_pairs)
    return n_visits, (forms > 0) & (meeting == forms)


def _overdue_pairs(
    open_tasks: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    pair_key: np.ndarray,
    d_day: int,
    overdue_days: int,
) -> np.ndarray:
    """Whether each managed pair has an open task overdue by more than ``overdue_days``."""
    if open_tasks is None or open_tasks.empty or len(pair_key) == 0:
        return np.zeros(len(pair_key), dtype=bool)
    if "days_overdue" in open_tasks.columns:
        late = pd.to_numeric(open_tasks["days_overdue"], errors="coerce").to_numpy(dtype=float)
    else:
        due, due_ok = _days(open_tasks["due_date"])
        late = np.where(due_ok, d_day - due, np.nan).astype(float)
    sel = np.nan_to_num(late, nan=-1.0) > overdue_days
    mask = pa.array(sel)
    idx = lookup(_to_arrow(open_tasks["resident_id"]).filter(mask))
    dis = _code_map(_to_arrow(open_tasks["disease"]).filter(mask), _DISEASE_CODE)
    ok = (idx >= 0) & ~np.isnan(dis)
    return np.isin(pair_key, idx[ok] * 2 + dis[ok].astype(np.int64))


def _flu_vaccinated(
    vaccinations: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    n: int,
    as_of: dt.date,
    d_day: int,
    config: RulesConfig,
) -> np.ndarray:
    """Residents with an influenza vaccination from the season start to D."""
    out = np.zeros(n, dtype=bool)
    if vaccinations is None or vaccinations.empty:
        return out
    start = _day_number(flu_season_start(pd.Timestamp(as_of).date(), config.indicators))
    v_day, v_ok = _days(vaccinations["date"])
    ok = (
        _code_in(vaccinations["vaccine"], ["influenza"])
        & v_ok
        & (v_day >= start)
        & (v_day <= d_day)
    )
    idx = lookup(_to_arrow(vaccinations["resident_id"]).filter(pa.array(ok)))
    out[idx[idx >= 0]] = True
    return out


@dataclass(frozen=True)
class PreparedClaims:
    """Claims reduced once to what the indicators take, for many as-of dates.

    A build computes 13 as-of dates over the same 8M claims; hashing their resident ids,
    parsing their dates and mapping their facility types once instead of 13 times is most
    of a period's claim work. Rows with no valid visit date or a resident not on file are
    dropped here (no indicator counts them); the rest are sorted by day so a window is a
    slice. Make one with :func:`prepare_claims`.

    Attributes
    ----------
    resident_ids : pyarrow.Array
        The unique resident ids ``position`` refers to (checked against the residents a
        computation is given).
    day : ndarray of int64
        Visit date as a day number (since 1970-01-01), ascending.
    position : ndarray of int64
        Row of the resident among ``resident_ids``.
    primary, outpatient, in_county : ndarray of bool
        At a primary facility; an outpatient or chronic_outpatient visit; in the county.
    fund : ndarray of float64
        ``fund_paid`` (missing: 0).
    """

    resident_ids: pa.Array
    day: np.ndarray
    position: np.ndarray
    primary: np.ndarray
    outpatient: np.ndarray
    in_county: np.ndarray
    fund: np.ndarray

    def window(self, w_start: int, d_day: int) -> slice:
        """Rows with ``w_start <= day <= d_day``."""
        lo, hi = np.searchsorted(self.day, [w_start, d_day + 1], side="left")
        return slice(int(lo), int(hi))


def prepare_claims(
    claims: pd.DataFrame | None, residents: pd.DataFrame, facilities: pd.DataFrame | None
) -> PreparedClaims:
    """Reduce ``claims`` once for :func:`compute_indicators` over many as-of dates.

    Parameters
    ----------
    claims, residents, facilities : DataFrame
        Canonical frames; the same ``residents`` must be passed to every
        :func:`compute_indicators` call the result is used with.

    Returns
    -------
    PreparedClaims
    """
    res = _unique_residents(residents)
    ids = _to_arrow(res["resident_id"])
    if claims is None or claims.empty:
        empty_i, empty_b = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return PreparedClaims(ids, empty_i, empty_i, empty_b, empty_b, empty_b, np.zeros(0))
    day, ok = _days(claims["visit_date"])
    position = _resident_lookup(res)(claims["resident_id"])
    keep = ok & (position >= 0)
    order = np.argsort(day[keep], kind="stable")
    rows = np.flatnonzero(keep)[order]
    return PreparedClaims(
        resident_ids=ids,
        day=day[rows],
        position=position[rows],
        primary=_primary_claims(claims, facilities)[rows],
        outpatient=_code_in(claims["visit_type"], OUTPATIENT_VISIT_TYPES)[rows],
        in_county=_to_bool(_col(claims, "in_county"), default=False)[rows],
        fund=_to_num(_col(claims, "fund_paid"))[rows],
    )


def _primary_claims(claims: pd.DataFrame, facilities: pd.DataFrame | None) -> np.ndarray:
    """Whether each claim is at a primary facility (its own type, else the facility's)."""
    if "facility_type" in claims.columns:
        return _code_in(claims["facility_type"], PRIMARY_FACILITY_TYPES)
    if facilities is not None and "type" in facilities.columns:
        types = dict(zip(_ids(facilities["facility_id"]), facilities["type"], strict=True))
        return _code_in(_ids(claims["facility_id"]).map(types), PRIMARY_FACILITY_TYPES)
    return np.zeros(len(claims), dtype=bool)


def _claim_quantities(
    claims: pd.DataFrame | PreparedClaims | None,
    facilities: pd.DataFrame | None,
    res: pd.DataFrame,
    w_start: int,
    d_day: int,
) -> dict[str, np.ndarray]:
    """Per-resident claim counts, fund sums and "has any" flags over W."""
    n = len(res)
    if claims is None or (isinstance(claims, pd.DataFrame) and claims.empty):
        return {k: np.zeros(n) for k in _CLAIM_QTY}
    if isinstance(claims, pd.DataFrame):
        claims = prepare_claims(claims, res, facilities)
    elif not claims.resident_ids.equals(_to_arrow(res["resident_id"])):
        raise ValueError(
            "prepared claims were made for other residents; call prepare_claims with the "
            "residents frame passed to compute_indicators"
        )
    w = claims.window(w_start, d_day)
    idx = claims.position[w]
    primary, outpatient = claims.primary[w], claims.outpatient[w]
    in_county, fund = claims.in_county[w], claims.fund[w]

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=weights, minlength=n)

    q = {
        "out_all": total(outpatient),
        "out_primary": total(outpatient & primary),
        "claims_all": np.bincount(idx, minlength=n).astype(float),
        "claims_in_county": total(in_county),
        "fund_all": total(fund),
        "fund_primary": total(np.where(primary, fund, 0.0)),
    }
    q["ppl_out_all"] = (q["out_all"] > 0).astype(float)
    q["ppl_out_primary"] = (q["out_primary"] > 0).astype(float)
    q["ppl_claims"] = (q["claims_all"] > 0).astype(float)
    q["ppl_in_county"] = (q["claims_in_county"] > 0).astype(float)
    q["ppl_fund"] = (total(fund > 0) > 0).astype(float)
    q["ppl_fund_primary"] = (total(primary & (fund > 0)) > 0).astype(float)
    return q


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


def _pair_quantities(
    pair_idx: np.ndarray,
    is_htn: np.ndarray,
    standard: np.ndarray,
    controlled: np.ndarray,
    overdue: np.ndarray,
    team: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-pair patient quantities; people counted once per (team, resident)."""
    t_codes, _ = pd.factorize(pd.Series(team, dtype=object), use_na_sentinel=True)
    t_codes = np.asarray(t_codes, dtype=np.int64)
    combo = t_codes * (int(pair_idx.max(initial=0)) + 1) + pair_idx
    first = np.zeros(len(pair_idx), dtype=bool)
    first[np.unique(combo, return_index=True)[1]] = True
    late_combo = combo[overdue]
    late_first = np.zeros(len(pair_idx), dtype=bool)
    late_first[np.flatnonzero(overdue)[np.unique(late_combo, return_index=True)[1]]] = True
    is_t2 = ~is_htn
    return {
        "htn_managed": is_htn.astype(float),
        "htn_standard": (is_htn & standard).astype(float),
        "htn_controlled": (is_htn & controlled).astype(float),
        "t2dm_managed": is_t2.astype(float),
        "t2dm_standard": (is_t2 & standard).astype(float),
        "t2dm_controlled": (is_t2 & controlled).astype(float),
        "pairs_managed": np.ones(len(pair_idx)),
        "pairs_overdue": overdue.astype(float),
        "people_managed": first.astype(float),
        "people_overdue": late_first.astype(float),
    }


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
