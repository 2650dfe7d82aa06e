"""Web-Mercator tile arithmetic (XYZ scheme, y down from the north), done in closed form.

``mercantile`` is not a dependency; the formulas are short and the vectorised versions
here project whole coordinate arrays at once, which the per-tile encoder needs.
Both encoders use the same constants so that a tile is identical on SQLite and PostGIS.
"""

from __future__ import annotations

import math

import numpy as np

#: Tile extent in pixel units (what ``ST_AsMVT`` and the Python encoder both use).
EXTENT = 4096
#: Pixels of geometry kept beyond each tile edge, so that strokes join across tiles.
BUFFER = 64
#: Half the Web-Mercator world width in metres (EPSG:3857).
ORIGIN = 20037508.342789244
#: Web Mercator is undefined at the poles; clamp like every tile server does.
MAX_LAT = 85.0511287798066


def tile_bounds_mercator(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's (minx, miny, maxx, maxy) in EPSG:3857 metres, as ``ST_TileEnvelope``.

    Parameters
    ----------
    z, x, y : int
        Tile address in the XYZ scheme.

    Returns
    -------
    tuple of float
        West, south, east, north in metres.
    """
    size = 2 * ORIGIN / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return minx, maxy - size, minx + size, maxy


def mercator_to_lnglat(mx: float, my: float) -> tuple[float, float]:
    """Inverse spherical Mercator of one point, in degrees."""
    lng = mx / ORIGIN * 180.0
    lat = math.degrees(2 * math.atan(math.exp(my / ORIGIN * math.pi)) - math.pi / 2)
    return lng, lat


def lnglat_to_mercator(coords: np.ndarray) -> np.ndarray:
    """Project an (n, 2) array of lng/lat degrees to EPSG:3857 metres.

    Parameters
    ----------
    coords : numpy.ndarray
        Longitudes in column 0, latitudes in column 1.

    Returns
    -------
    numpy.ndarray
        Same shape, in metres.
    """
    out = np.empty_like(coords, dtype=float)
    out[:, 0] = coords[:, 0] * (ORIGIN / 180.0)
    lat = np.clip(coords[:, 1], -MAX_LAT, MAX_LAT)
    out[:, 1] = np.log(np.tan(np.radians(90.0 + lat) / 2.0)) * (ORIGIN / math.pi)
    return out


def tile_bounds_lnglat(
    z: int, x: int, y: int, *, buffer: float = 0.0
) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in degrees, widened by ``buffer`` pixels.

    Mercator is separable (longitude from x only, latitude from y only), so the lng/lat
    image of the tile rectangle is itself a rectangle and a bbox query on it is exact.
    """
    minx, miny, maxx, maxy = tile_bounds_mercator(z, x, y)
    pad = (maxx - minx) * buffer / EXTENT
    west, south = mercator_to_lnglat(minx - pad, miny - pad)
    east, north = mercator_to_lnglat(maxx + pad, maxy + pad)
    return west, south, east, north


def valid_tile(z: int, x: int, y: int) -> bool:
    """Whether ``z/x/y`` addresses a tile of the XYZ pyramid (zoom 0–30)."""
    if not 0 <= z <= 30:
        return False
    n = 1 << z
    return 0 <= x < n and 0 <= y < n


def lnglat_to_tile(lng: float, lat: float, z: int) -> tuple[int, int]:
    """The x, y of the zoom-``z`` tile holding a point."""
    n = 1 << z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = int((lng + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_covering(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    """Every zoom-``z`` tile intersecting a lng/lat bbox (west, south, east, north)."""
    west, south, east, north = bounds
    x0, y0 = lnglat_to_tile(west, north, z)
    x1, y1 = lnglat_to_tile(east, south, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
