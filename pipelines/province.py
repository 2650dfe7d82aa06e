"""A county publishes its aggregates for the province; the province reads and ranks them.

``healthmap build`` ends by publishing the new build's county and town indicator rows and
the county's and towns' outlines into the root store of the deployment
(:mod:`store.province`): the county's own store when it is deployed alone, the root of the
province otherwise (:mod:`store.counties`). Only aggregates leave the county, after its
small-number suppression: a suppressed town row is published without its value and
without the counts the rule hides.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import Engine, select

from geo.province import above_county, rank_counties
from geo.suppression import DENOMINATOR_BELOW_K
from geo.vocabulary import PUBLISHED_LEVELS, city_code_of
from store.models import Area
from store.province import (
    ProvinceValue,
    counties,
    published_shapes,
    published_values,
    register_county,
    replace_publication,
)
from store.results import Build, IndicatorValue, current_build_id
from store.shapes import unit_geometries

#: Outlines are simplified to this many degrees (~100 m) for the province's map.
SIMPLIFY_DEGREES = 0.001


def county_of_store(engine: Engine) -> tuple[str, str]:
    """The code and name of the county a county store holds (its ``areas`` row).

    Raises
    ------
    LookupError
        When the store holds no county, or several (then it is not one county's store).
    """
    with engine.connect() as conn:
        rows = conn.execute(select(Area.area_code, Area.name).where(Area.level == "county")).all()
    if len(rows) != 1:
        raise LookupError(
            f"the store holds {len(rows)} counties in `areas`; a county publishes from its own"
            " store after ingesting its delivery (one area of level county)"
        )
    return rows[0][0], rows[0][1]


def publish_county(county: Engine, root: Engine, city_name: str | None = None) -> dict[str, Any]:
    """Publish ``county``'s current build into ``root`` (which may be the same store).

    Parameters
    ----------
    county : Engine
        The county's store (or partition), with a current build.
    root : Engine
        The deployment's root store.
    city_name : str, optional
        The city's name, kept when the county is registered here for the first time.

    Returns
    -------
    dict
        ``county_code``, ``build_id``, ``rows`` (values published), ``shapes``.
    """
    code, name = county_of_store(county)
    with county.connect() as conn:
        build = conn.execute(
            select(Build.build_id, Build.as_of).where(Build.build_id == current_build_id())
        ).first()
        if build is None:
            raise LookupError(f"county {code} has no current build to publish; run a build first")
        # The published columns are the store's, but for the build and county keys.
        cols = [c for c in ProvinceValue.__table__.columns if c.key != "county_code"]
        t = IndicatorValue.__table__.c
        rows = conn.execute(
            select(*(t[c.key] for c in cols)).where(
                t.build_id == build.build_id, t.level.in_(PUBLISHED_LEVELS)
            )
        ).all()
    values = pd.DataFrame([tuple(r) for r in rows], columns=[c.key for c in cols])
    values = _hide_suppressed(values)
    values.insert(0, "county_code", code)
    shapes = _shapes(county, code)
    known = counties(root)
    if code not in set(known["county_code"]):
        # Publishing into its own store: a county deployed alone, not a partition of it.
        alone = county.url.render_as_string(hide_password=False) == root.url.render_as_string(
            hide_password=False
        )
        register_county(root, code, name, city_code_of(code), city_name, partitioned=not alone)
    written = replace_publication(root, code, build.build_id, build.as_of, values, shapes)
    return {"county_code": code, "build_id": build.build_id, "rows": written, "shapes": len(shapes)}


def _hide_suppressed(values: pd.DataFrame) -> pd.DataFrame:
    # What the small-number rule hides never leaves the county, whatever the build stored.
    out = values.copy()
    hidden = out["suppressed"].astype(bool)
    out.loc[hidden, ["value", "numerator"]] = None
    den_hidden = hidden & (out["suppression_reason"] == DENOMINATOR_BELOW_K)
    out.loc[den_hidden, "denominator"] = None
    return out


def _shapes(county: Engine, code: str) -> pd.DataFrame:
    with county.connect() as conn:
        names = dict(
            conn.execute(
                select(Area.area_code, Area.name).where(Area.level.in_(PUBLISHED_LEVELS))
            ).all()
        )
    rows = []
    for level in PUBLISHED_LEVELS:
        for unit_id, geom in unit_geometries(county, level).items():
            simple = shapely.simplify(geom, SIMPLIFY_DEGREES, preserve_topology=True)
            rows.append(
                {
                    "county_code": code,
                    "level": level,
                    "unit_id": unit_id,
                    "name": names.get(unit_id, unit_id),
                    "geojson": json.dumps(shapely.geometry.mapping(simple), separators=(",", ":")),
                }
            )
    return pd.DataFrame(rows, columns=["county_code", "level", "unit_id", "name", "geojson"])


def ranking(root: Engine, indicator: str, period: dt.date) -> dict[str, Any]:
    """Counties ranked on ``indicator`` at ``period``, with their cities and province.

    A city's and the province's values are ratios of the counties' sums.

    Returns
    -------
    dict
        ``counties``: rows of county code and name, city, numerator, denominator,
        value, rank; ``above``: the city and province rows of
        :func:`geo.province.above_county`, with names where the registry has them.
    """
    registry = counties(root)
    rows = published_values(root, indicator, period, "county")
    rows = rows.merge(
        registry[["county_code", "name", "city_code", "city_name"]], on="county_code", how="left"
    )
    ranked = rank_counties(rows) if not rows.empty else rows.assign(rank=[])
    above = above_county(rows, indicator) if not rows.empty else pd.DataFrame()
    if not above.empty:
        city_names = dict(zip(registry["city_code"], registry["city_name"], strict=True))
        above["name"] = [
            city_names.get(u) if lvl == "city" else None
            for lvl, u in zip(above["level"], above["unit_id"], strict=True)
        ]
    return {"counties": ranked, "above": above}


def map_features(
    root: Engine, indicator: str, period: dt.date, county_code: str | None = None
) -> list[dict[str, Any]]:
    """GeoJSON features of every county (or of one county's towns) with their values."""
    level = "county" if county_code is None else "town"
    values = published_values(root, indicator, period, level, county_code)
    shapes = published_shapes(root, level, county_code)
    by_unit = {(r.county_code, r.unit_id): r for r in values.itertuples(index=False)}
    features = []
    for s in shapes.itertuples(index=False):
        v = by_unit.get((s.county_code, s.unit_id))
        features.append(
            {
                "type": "Feature",
                "id": s.unit_id,
                "geometry": json.loads(str(s.geojson)) if s.geojson else None,
                "properties": {
                    "unit_id": s.unit_id,
                    "county_code": s.county_code,
                    "name": s.name,
                    "level": level,
                    "value": _num(v.value) if v is not None else None,
                    "numerator": _num(v.numerator) if v is not None else None,
                    "denominator": _num(v.denominator) if v is not None else None,
                    "suppressed": bool(v.suppressed) if v is not None else False,
                    "suppression_reason": v.suppression_reason if v is not None else None,
                },
            }
        )
    return features


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)
