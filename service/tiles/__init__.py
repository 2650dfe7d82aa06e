"""Vector tiles of the health map: store → Mapbox Vector Tile bytes (no HTTP here).

``tile`` encodes with ``ST_AsMVT`` on PostGIS and with ``mapbox_vector_tile`` on SQLite;
both give the same layer names, attributes and (to the pixel) geometries. ``docs/tiles.md``
lists the layers, their attributes and the decisions behind them.
"""

from __future__ import annotations

from typing import Any

from service.tiles import sources as _sources  # noqa: F401  (registers the layers)
from service.tiles import warning as _warning  # noqa: F401  (alerts, risk)
from service.tiles.api import county_bounds, layer_tilejson, tile, tile_etag, tilejson
from service.tiles.cache import clear_caches, data_version
from service.tiles.layers import (
    LAYERS,
    IndicatorNotBuiltError,
    LayerSpec,
    TileParamError,
    UnknownLayerError,
    get_layer,
    h3_level_for_zoom,
    register_layer,
)


def render_png(*args: Any, **kwargs: Any) -> bytes:
    """Static county map as PNG; see :func:`service.tiles.static_map.render_png`.

    Imported lazily: matplotlib is slow to import and the tile routes do not need it.
    """
    from service.tiles.static_map import render_png as _render

    return _render(*args, **kwargs)


__all__ = [
    "LAYERS",
    "IndicatorNotBuiltError",
    "LayerSpec",
    "TileParamError",
    "UnknownLayerError",
    "clear_caches",
    "county_bounds",
    "data_version",
    "get_layer",
    "h3_level_for_zoom",
    "layer_tilejson",
    "register_layer",
    "render_png",
    "tile",
    "tile_etag",
    "tilejson",
]
