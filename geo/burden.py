"""Disease burden per town from claims (一院一专科: which specialty does a town's area need).

For each town, the conditions of the claims in the window ``W`` (the 365 days ending ``D``),
grouped by WHO ICD-10 block, ranked by visits, patients (distinct residents) and cost, with
the patient rate per 1000 population and its ratio to the county rate. A township hospital
reads "our area has 1.8 × the county rate of dorsopathies" as a case for a rehabilitation /
pain clinic.

Conventions (RULES.md is silent on this view):

* Claims of every visit type count (a visit = a claim row; the admission date places an
  inpatient stay); claims without an ICD-10 code, or whose resident is not on file, are left
  out. A claim is placed in the town of the resident's household, like the indicators.
* Blocks: the WHO ICD-10 blocks of :data:`ICD10_BLOCKS`, matched on the first three
  characters of the main diagnosis. Two WHO block *groups* are kept whole because county
  practice reads them as one specialty: C00–C97 malignant neoplasms and M40–M54
  dorsopathies. A category in no block (U-codes outside U00–U49/U82–U85, typos) is
  ``other``.
* Population: the town's population from ``population`` (latest year <= D's year, as the
  indicators) when given, else its active residents on D.
* "Top": a block is listed for a town when it is among the town's ``top`` by visits, by
  patients or by cost (ranks with ties sharing the best rank), so all three rankings can
  be read from the rows.
* Small numbers: a row with 1–9 patients is flagged ``suppressed`` and its counts, cost and
  rates are blanked (the ranks are kept), as the indicators' rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.geography import (
    Geography,
    _derive_codes,
    _fallback_codes,
    village_population,
)
from geo.indicator_columns import (
    _active,
    _col,
    _day_number,
    _days,
    _factor,
    _ids,
    _resident_lookup,
    _to_arrow,
    _to_num,
    _unique_residents,
    _village_town_hint,
)
from geo.rules import DEFAULT_RULES, RulesConfig


@dataclass(frozen=True)
class Icd10Block:
    """One ICD-10 block: inclusive 3-character category range and its names."""

    start: str
    end: str
    name_en: str
    name_zh: str
    chapter: str

    @property
    def code(self) -> str:
        """``I10-I15`` (``C50`` for a one-category block)."""
        return self.start if self.start == self.end else f"{self.start}-{self.end}"


@cache
def icd10_blocks() -> tuple[Icd10Block, ...]:
    """The WHO ICD-10 blocks, in chapter order, read once from ``geo/data/icd10_blocks.csv``.

    Returns
    -------
    tuple of Icd10Block
        One per row of the package data file (``block,chapter,name_en,name_zh``; a block
        is ``A00-A09``, or ``C50`` for a one-category block).
    """
    text = resources.files("geo").joinpath("data/icd10_blocks.csv").read_text(encoding="utf-8")
    blocks = []
    for row in csv.DictReader(io.StringIO(text)):
        lo, _, hi = row["block"].partition("-")
        blocks.append(Icd10Block(lo, hi or lo, row["name_en"], row["name_zh"], row["chapter"]))
    return tuple(blocks)


def __getattr__(name: str) -> tuple[Icd10Block, ...]:
    # ``ICD10_BLOCKS`` is read on first use (:func:`icd10_blocks`), not on import.
    if name == "ICD10_BLOCKS":
        return icd10_blocks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Block code of claims whose category is in no block.
OTHER_BLOCK = "other"


@cache
def _category_block() -> dict[str, Icd10Block]:
    """3-character category (``E11``) -> its block (a later block wins on overlap)."""
    out: dict[str, Icd10Block] = {}
    for blk in icd10_blocks():
        for letter in range(ord(blk.start[0]), ord(blk.end[0]) + 1):
            lo = int(blk.start[1:]) if chr(letter) == blk.start[0] else 0
            hi = int(blk.end[1:]) if chr(letter) == blk.end[0] else 99
            for num in range(lo, hi + 1):
                out[f"{chr(letter)}{num:02d}"] = blk
    return out


@cache
def _block_by_code() -> dict[str, Icd10Block]:
    """Block code (``I10-I15``) -> block."""
    return {b.code: b for b in icd10_blocks()}


def _block_codes(codes: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Block codes (-1: no diagnosis) and their block ids, mapping each distinct code once."""
    c, uniq = _factor(codes)
    blocks = []
    category_block = _category_block()
    for u in uniq:
        blk = category_block.get(str(u).strip().upper()[:3])
        blocks.append(blk.code if blk else OTHER_BLOCK)
    b_codes, b_uniq = pd.factorize(pd.Series(blocks, dtype=object))
    lut = np.append(np.asarray(b_codes, dtype=np.int64), -1)
    return lut[c], np.asarray(b_uniq, dtype=object)


def icd10_block(codes: pd.Series) -> pd.Series:
    """ICD-10 block code of each main diagnosis (``E11.9`` -> ``E10-E14``).

    Parameters
    ----------
    codes : Series of str
        ICD-10 codes; case, spaces and a missing dot are tolerated (``e119``).

    Returns
    -------
    Series of object
        Block code, :data:`OTHER_BLOCK` for a category in no block, None when missing.
    """
    c, uniq = _block_codes(codes)
    with_none = np.array([*uniq, None], dtype=object)
    return pd.Series(with_none[c], index=codes.index, dtype=object)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Unique values of an int array by sorting (numpy's hash unique is slow on 5M ints)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def disease_burden(
    as_of: dt.date,
    claims: pd.DataFrame,
    residents: pd.DataFrame,
    population: pd.DataFrame | None = None,
    towns: pd.DataFrame | Iterable[str] | None = None,
    top: int = 10,
    *,
    areas: pd.DataFrame | None = None,
    k: int | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Top ICD-10 blocks per town over the window, with rates and ratios to the county.

    For each (town, block): visits (claims), patients (distinct residents), cost
    (``total_cost``) and fund (``fund_paid``) in ``W``; ``rate_per_1000`` = patients / town
    population × 1000; ``county_rate_per_1000`` = county patients of the block / county
    population × 1000; ``ratio_to_county`` = rate / county rate.

    Parameters
    ----------
    as_of : date
        ``D``; the window is the ``config.indicators.window_days`` days ending D.
    claims, residents : DataFrame
        Canonical frames (``docs/frames.md``).
    population : DataFrame, optional
        Village (or town) × sex × age band counts; without it, active residents.
    towns : DataFrame or iterable of str, optional
        Towns to report (default: every town with claims). A DataFrame with ``area_code``
        (and ``name``) also names them; an ``areas`` frame works as is (non-town rows are
        ignored).
    top : int
        Blocks per town: those ranked within ``top`` by visits, patients or cost.
    areas : DataFrame, optional
        Village -> town parents, for population rows at village codes.
    k : int, optional
        Small-number threshold (default ``config.indicators.suppression_k``); 0 disables.
    config : RulesConfig

    Returns
    -------
    DataFrame
        town_code, [town_name], block, block_name, block_name_zh, chapter, visits, patients,
        cost, fund_paid, population, rate_per_1000, county_rate_per_1000, ratio_to_county,
        rank_visits, rank_patients, rank_cost (1 = highest), suppressed; sorted by town,
        rank_patients, block.
    """
    k = config.indicators.suppression_k if k is None else k
    d_day = _day_number(as_of)
    w_start = d_day - config.indicators.window_days + 1
    res = _unique_residents(residents)
    n = len(res)
    lookup = _resident_lookup(res)

    # Town of each resident: town_code, else the village's parent (mapped per village).
    village = _factor(_col(res, "area_code"))
    town0 = _factor(_col(res, "town_code"))
    geo = Geography.build(None, areas, _village_town_hint(village, town0))
    t_codes, t_uniq = _fallback_codes(town0, _derive_codes(village[0], village[1], geo.town))

    # Claims in W with a diagnosis, of a resident on file who has a town.
    c_day, c_ok = _days(claims["visit_date"])
    in_w = c_ok & (c_day >= w_start) & (c_day <= d_day)
    mask = pa.array(in_w)
    idx = lookup(_to_arrow(claims["resident_id"]).filter(mask))
    b_codes, b_uniq = _block_codes(_to_arrow(_col(claims, "icd10")).filter(mask))
    town_of_claim = np.where(idx >= 0, t_codes[np.maximum(idx, 0)], -1)
    keep = (idx >= 0) & (b_codes >= 0) & (town_of_claim >= 0)
    idx, tc, bc = idx[keep], town_of_claim[keep], b_codes[keep]
    cost = _to_num(_col(claims, "total_cost"))[in_w][keep]
    fund = _to_num(_col(claims, "fund_paid"))[in_w][keep]
    nt, nb = len(t_uniq), len(b_uniq)
    cell = tc * nb + bc  # (town, block)
    size = nt * nb
    visits = np.bincount(cell, minlength=size)
    # Distinct residents per (town, block) and per block county-wide: sort unique pairs.
    patients = np.bincount(_sorted_unique(cell * (n + 1) + idx) // (n + 1), minlength=size)
    county_patients = np.bincount(_sorted_unique(bc * (n + 1) + idx) // (n + 1), minlength=nb)

    # Population per town (the county: all towns).
    active = _active(res, d_day)
    if population is None:
        ok_t = t_codes >= 0
        pop = np.bincount(t_codes[ok_t], weights=active[ok_t].astype(float), minlength=nt)
        pop_town = pd.Series(pop, index=pd.Index(t_uniq, dtype=object))
    else:
        ok_v = village[0] >= 0
        act_v = np.bincount(
            village[0][ok_v], weights=active[ok_v].astype(float), minlength=len(village[1])
        )
        pv = village_population(population, as_of, geo, dict(zip(village[1], act_v, strict=True)))
        pop_town = pv.groupby("town")["pop_total"].sum()
    county_pop = float(pop_town.sum())

    nz = np.flatnonzero(visits)
    out = pd.DataFrame(
        {
            "town_code": t_uniq[nz // nb] if nb else np.array([], dtype=object),
            "block": b_uniq[nz % nb] if nb else np.array([], dtype=object),
            "visits": visits[nz].astype(float),
            "patients": patients[nz].astype(float),
            "cost": np.bincount(cell, weights=cost, minlength=size)[nz],
            "fund_paid": np.bincount(cell, weights=fund, minlength=size)[nz],
        }
    )
    out["population"] = out["town_code"].map(pop_town).astype(float)
    county_rate = pd.Series(
        county_patients / county_pop * 1000 if county_pop > 0 else np.full(nb, np.nan),
        index=pd.Index(b_uniq, dtype=object),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_per_1000"] = np.where(
            out["population"] > 0, out["patients"] / out["population"] * 1000, np.nan
        )
        out["county_rate_per_1000"] = out["block"].map(county_rate).astype(float)
        out["ratio_to_county"] = np.where(
            out["county_rate_per_1000"] > 0,
            out["rate_per_1000"] / out["county_rate_per_1000"],
            np.nan,
        )
    by_town = out.groupby("town_code")
    for what, col_name in (
        ("visits", "rank_visits"),
        ("patients", "rank_patients"),
        ("cost", "rank_cost"),
    ):
        out[col_name] = by_town[what].rank(method="min", ascending=False).astype(int)
    listed = (out[["rank_visits", "rank_patients", "rank_cost"]] <= top).any(axis=1)
    out = out[listed]

    names: dict[str, str] = {}
    if towns is not None:
        if isinstance(towns, pd.DataFrame):
            t = towns
            if "level" in t.columns:
                t = t[t["level"].astype(str).str.strip().str.lower().isin(["town", "乡镇"])]
            codes = _ids(t["area_code"]).astype(object)
            if "name" in t.columns:
                names = dict(zip(codes, t["name"].astype(object), strict=True))
            wanted = set(codes.dropna())
        else:
            wanted = {str(x) for x in towns}
        out = out[out["town_code"].isin(list(wanted))]
    by_code = _block_by_code()
    out = out.assign(
        block_name=out["block"].map(
            lambda b: by_code[b].name_en if b in by_code else "Other / unclassified"
        ),
        block_name_zh=out["block"].map(
            lambda b: by_code[b].name_zh if b in by_code else "其他/未归类"
        ),
        chapter=out["block"].map(lambda b: by_code[b].chapter if b in by_code else None),
    )
    small = (out["patients"] > 0) & (out["patients"] < k)  # 0 patients never listed
    out["suppressed"] = small
    for c_name in ("visits", "patients", "cost", "fund_paid", "rate_per_1000", "ratio_to_county"):
        out[c_name] = out[c_name].astype(float).mask(small)
    cols = [
        "town_code",
        "block",
        "block_name",
        "block_name_zh",
        "chapter",
        "visits",
        "patients",
        "cost",
        "fund_paid",
        "population",
        "rate_per_1000",
        "county_rate_per_1000",
        "ratio_to_county",
        "rank_visits",
        "rank_patients",
        "rank_cost",
        "suppressed",
    ]
    if names:
        out["town_name"] = out["town_code"].map(names)
        cols.insert(1, "town_name")
    out = out.sort_values(["town_code", "rank_patients", "block"], kind="stable")
    return out[cols].reset_index(drop=True)
