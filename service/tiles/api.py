"""The tile layer's public functions: tiles, their ETags, TileJSON, the county extent.

No HTTP here: the routes (``/tiles/{layer}/{z}/{x}/{y}.mvt``, ``/tiles/{layer}.json``)
call these and map ``b""`` to 204, ``UnknownLayerError``, ``PeriodNotBuiltError`` and
``IndicatorNotBuiltError`` to 404 and ``TileParamError`` to 400.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import shapely
from sqlalchemy import Engine, select

from geo.rules import DEFAULT_RULES, RulesConfig
from service.tiles.cache import DATA, TILES, data_version
from service.tiles.layers import TileParamError, get_layer, normalise_params
from service.tiles.sources import TileContext, build_info
from service.tiles.tilemath import BUFFER, tile_bounds_lnglat, valid_tile
from store.models import Area, Facility
from store.shared_answers import stored_or_made

Bounds = tuple[float, float, float, float]

#: Degrees added around the county extent before a tile counts as outside: H3 cells and
#: mobility cells reach up to a few km past the boundary.
COUNTY_MARGIN = 0.1


def _params(
    period: dt.date | str | None,
    indicator: str | None,
    level: str | None,
    hour: int | str | None,
) -> dict[str, Any]:
    return {"period": period, "indicator": indicator, "level": level, "hour": hour}


def _key_params(
    params: Mapping[str, Any], town: str | None = None, rules: RulesConfig = DEFAULT_RULES
) -> tuple[tuple[str, str], ...]:
    """The parameters in one canonical form for cache keys and ETags; the township scope
    is part of it (a centre's tile and the county's tile are different tiles), and so is
    a time zone other than the default one (``mobility`` windows are local days); the
    default adds nothing, so keys and ETags stay those of a service without the setting."""
    items = [(k, str(v)) for k, v in params.items()]
    if town is not None:
        items.append(("@town", town))
    if rules.timezone != DEFAULT_RULES.timezone:
        items.append(("@tz", rules.timezone))
    return tuple(sorted(items))


def _bounds_of(engine: Engine) -> Bounds | None:
    with engine.connect() as conn:
        geoms = [g for (g,) in conn.execute(select(Area.geom).where(Area.level == "county")) if g]
        if not geoms:
            geoms = [g for (g,) in conn.execute(select(Area.geom)) if g]
        if not geoms:
            points = conn.execute(select(Facility.lng, Facility.lat)).all()
            geoms = [shapely.Point(lng, lat) for lng, lat in points if lng is not None]
    if not geoms:
        return None
    west, south, east, north = shapely.total_bounds(geoms)
    return float(west), float(south), float(east), float(north)


def county_bounds(engine: Engine) -> Bounds | None:
    """The county's extent (west, south, east, north) in degrees; None for an empty store.

    From the county polygon, else every area polygon, else the facilities.
    """
    return _county_bounds(engine, data_version(engine))


def _county_bounds(engine: Engine, version: tuple[str, ...]) -> Bounds | None:
    # Cached per data version; wrapped in a tuple because the cache cannot hold None.
    bounds: tuple[Bounds | None] = DATA.get_or_make(
        (version, "county_bounds"), lambda: (_bounds_of(engine),)
    )
    return bounds[0]


def town_bounds(engine: Engine, town: str) -> Bounds | None:
    """A township's extent (west, south, east, north) in degrees; None when it has no polygon.

    What a chronic-disease centre's map opens on: its tiles hold only its township.
    """

    def make() -> tuple[Bounds | None]:
        with engine.connect() as conn:
            geom = conn.execute(
                select(Area.geom).where(Area.level == "town", Area.area_code == town)
            ).scalar()
        if not geom:
            return (None,)
        west, south, east, north = shapely.bounds(geom)
        return ((float(west), float(south), float(east), float(north)),)

    bounds: tuple[Bounds | None] = DATA.get_or_make(
        (data_version(engine), "town_bounds", town), make
    )
    return bounds[0]


def _extent(bounds: Bounds | None) -> Bounds | None:
    """The county's extent grown by ``COUNTY_MARGIN``: no unit with data lies beyond."""
    if bounds is None:
        return None
    m = COUNTY_MARGIN
    return bounds[0] - m, bounds[1] - m, bounds[2] + m, bounds[3] + m


def _outside(bounds: Bounds | None, z: int, x: int, y: int) -> bool:
    if bounds is None:
        return False  # no extent known: let the sources decide
    west, south, east, north = tile_bounds_lnglat(z, x, y, buffer=BUFFER)
    m = COUNTY_MARGIN
    return (
        east < bounds[0] - m
        or west > bounds[2] + m
        or north < bounds[1] - m
        or south > bounds[3] + m
    )


def tile(
    engine: Engine,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    period: dt.date | str | None = None,
    indicator: str | None = None,
    level: str | None = None,
    hour: int | str | None = None,
    town: str | None = None,
    version: tuple[str, ...] | None = None,
    rules: RulesConfig | None = None,
) -> bytes:
    """One Mapbox Vector Tile of ``layer``: ST_AsMVT on PostGIS, Python on SQLite.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    layer : str
        A name in :data:`service.tiles.LAYERS`.
    z, x, y : int
        Tile address (XYZ, y from the north).
    period : datetime.date or str, optional
        Indicator layers: a built period (default the build's as-of date). ``mobility``:
        the last local day of the 7-day window (default the last day with data).
    indicator : str, optional
        Indicator layers: only this indicator, long form (``value``, ``numerator`` …).
        ``hotspots``: only this indicator (default every hotspot indicator).
    level : str, optional
        ``hotspots``: ``h3:8`` (default) or ``grid``. ``indicators``: force an H3
        level instead of the zoom's.
    hour : int, optional
        ``mobility``: average only this local hour of day (0–23).
    town : str, optional
        Only the units of this township (its 12-digit code): what a ``chronic_center``
        account sees (``service.tiles.towns`` says which units lie in which township).
        Layers without units of a township (``facilities``, ``boundaries``,
        ``mobility``) ignore it. None: the whole county.
    version : tuple of str, optional
        The store's :func:`~service.tiles.cache.data_version` when the caller has just
        read it (the tile route reads it once per request); read here otherwise.
    rules : RulesConfig, optional
        The domain rules of the caller (the service's ``settings.rules``; default
        ``geo.rules.DEFAULT_RULES``). Its ``timezone`` sets the local days and hours of
        ``mobility``.

    Returns
    -------
    bytes
        The tile (one MVT layer named ``layer``); ``b""`` when it holds nothing: outside
        the county, outside the layer's zooms, or before the first build.

    Raises
    ------
    UnknownLayerError
        Unknown layer.
    TileParamError
        A parameter the layer does not take, or a bad value, or an impossible tile.
    PeriodNotBuiltError, IndicatorNotBuiltError
        A period or indicator that was not built.
    """
    spec = get_layer(layer)
    params = normalise_params(spec, _params(period, indicator, level, hour))
    if not valid_tile(z, x, y):
        raise TileParamError(f"no tile {z}/{x}/{y}")
    if not spec.minzoom <= z <= spec.maxzoom:
        return b""
    town = town if spec.town_scoped else None
    version = version if version is not None else data_version(engine)
    rules = rules if rules is not None else DEFAULT_RULES
    key = (version, layer, z, x, y, _key_params(params, town, rules))
    cached = TILES.get(key)
    if cached is not None:
        return cached
    bounds = _county_bounds(engine, version)
    if _outside(bounds, z, x, y):
        data = b""
    else:
        assert spec.source is not None  # register_layer guarantees it
        source = spec.source
        ctx = TileContext(engine, spec, z, x, y, params, version, town, _extent(bounds), rules)
        # Another worker may have rendered it (store.shared_answers): tiles are aggregates.
        data, _ = stored_or_made(engine, key, lambda: source.render(ctx))
    TILES.put(key, data)
    return data


def tile_etag(
    engine: Engine,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    town: str | None = None,
    version: tuple[str, ...] | None = None,
    rules: RulesConfig | None = None,
    **params: Any,
) -> str:
    """A strong ETag (quoted, ready for the header) for one tile with its parameters.

    It changes whenever a build becomes current or an ingest loads a file (see
    ``service.tiles.cache.data_version``), and differs between parameter sets.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    layer : str
        Layer name.
    z, x, y : int
        Tile address.
    town, version, rules
        As for :func:`tile`.
    **params
        The same keyword parameters as :func:`tile`.

    Returns
    -------
    str
        ``"<40 hex digits>"`` including the double quotes.
    """
    spec = get_layer(layer)
    canonical = normalise_params(spec, params)
    town = town if spec.town_scoped else None
    version = version if version is not None else data_version(engine)
    key_params = _key_params(canonical, town, rules if rules is not None else DEFAULT_RULES)
    raw = repr((version, layer, z, x, y, key_params)).encode()
    return '"' + hashlib.sha1(raw).hexdigest() + '"'


def tilejson(
    layer: str,
    base_url: str,
    *,
    bounds: Sequence[float] | None,
    indicators: Sequence[str] = (),
    query: Mapping[str, Any] | None = None,
    center_zoom: int | None = None,
    name: str | None = None,
    attribution: str | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The TileJSON 3.0.0 document of a layer.

    Parameters
    ----------
    layer : str
        Layer name.
    base_url : str
        Service root the tile route hangs from; the template is
        ``{base_url}/tiles/{layer}/{z}/{x}/{y}.mvt``.
    bounds : sequence of float or None
        West, south, east, north in degrees (the county's extent, see
        :func:`county_bounds`); None gives the whole world.
    indicators : sequence of str
        Indicators that get ``<indicator>``, ``<indicator>__suppressed`` and
        ``<indicator>__reason`` fields (wide-form layers only).
    query : mapping, optional
        Tile parameters to put in the URL template's query string (``indicator`` …).
    center_zoom : int, optional
        Zoom of ``center`` (default the layer's minzoom + 3, within its range).
    name, attribution, version : str, optional
        Passed through.

    Returns
    -------
    dict
        TileJSON with ``tiles``, ``minzoom``, ``maxzoom``, ``bounds``, ``center`` and
        ``vector_layers`` (id, fields, minzoom, maxzoom, description).
    """
    spec = get_layer(layer)
    given = {k: v for k, v in (query or {}).items() if v is not None}
    normalise_params(spec, given)  # reject what the tile route would reject
    url = f"{base_url.rstrip('/')}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
    if given:
        url += "?" + urlencode(sorted((k, str(v)) for k, v in given.items()))
    fields = dict(spec.fields)
    if spec.per_indicator_fields and "indicator" not in given:
        # Wide form: one feature per unit, each indicator its own attributes.
        fields = {k: v for k, v in fields.items() if k in ("unit_id", "level", "period")}
        for ind in indicators:
            fields[ind] = "Number"
            fields[f"{ind}__suppressed"] = "Boolean"
            fields[f"{ind}__reason"] = "String"
    west, south, east, north = (
        (-180.0, -85.0511, 180.0, 85.0511) if bounds is None else tuple(bounds)
    )
    zoom = center_zoom if center_zoom is not None else min(spec.minzoom + 3, spec.maxzoom)
    return {
        "tilejson": "3.0.0",
        "name": name or layer,
        "description": spec.description,
        "version": version,
        "attribution": attribution or "",
        "scheme": "xyz",
        "tiles": [url],
        "minzoom": spec.minzoom,
        "maxzoom": spec.maxzoom,
        "bounds": [west, south, east, north],
        "center": [round((west + east) / 2, 6), round((south + north) / 2, 6), zoom],
        "vector_layers": [
            {
                "id": layer,
                "description": spec.description,
                "minzoom": spec.minzoom,
                "maxzoom": spec.maxzoom,
                "fields": fields,
            }
        ],
    }


def layer_tilejson(
    engine: Engine, layer: str, base_url: str, town: str | None = None, **query: Any
) -> dict[str, Any]:
    """:func:`tilejson` with the bounds and the built indicators read from the store.

    ``town`` (a chronic-disease centre's scope): the township's bounds, not the county's,
    where the township has a polygon.
    """
    spec = get_layer(layer)
    assert spec.source is not None
    period = normalise_params(spec, query).get("period") if "period" in spec.params else None
    indicators: list[str] = []
    if spec.per_indicator_fields:
        version = data_version(engine)
        ctx = TileContext(engine, spec, 0, 0, 0, {}, version)
        if build_info(ctx)["build_id"] is not None:
            indicators = spec.source.indicators(engine, period)
    bounds = (town_bounds(engine, town) if town is not None else None) or county_bounds(engine)
    doc = tilejson(layer, base_url, bounds=bounds, indicators=indicators, query=query)
    # Outlines derived from village seats (store.shapes.approximate_polygons): say so.
    doc["approximate"] = _approximate(engine)
    return doc


def _approximate(engine: Engine) -> bool:
    from store.shapes import approximate_polygons

    made: tuple[bool] = DATA.get_or_make(
        (data_version(engine), "approximate"),
        lambda: (bool(approximate_polygons(engine)),),
    )
    return made[0]
