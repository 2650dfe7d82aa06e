"""Roads from an OpenStreetMap ``.osm.pbf`` extract (the contract's other form of ``roads``).

Read with pyosmium (``osmium``, the maintained binding of libosmium): one pass over the
file with node locations cached, keeping the ways tagged ``highway`` that vehicles or
people can travel on. Each way is one road: ``road_id`` is the OSM way id, ``highway`` the
tag, ``speed_kmh`` the ``maxspeed`` tag in km/h when it is a number (``60``, ``60 km/h``,
``30 mph``; zone codes such as ``CN:urban`` leave it empty, and travel then uses the
class's default speed), ``name`` the ``name`` tag. OpenStreetMap coordinates are WGS84.

The rows come out as the other readers' text chunks, so validation and loading are the
same as for ``roads.geojson``. A way whose nodes are missing from the extract (cut at its
border) has no geometry and is left out. An extract should be clipped to the county
(``osmium extract -p county.geojson``): a province's extract would be read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from pipelines.ingest.files import DeliveryFile, FileRejected
from pipelines.ingest.read import Aliases, RawChunk, _chunk
from pipelines.ingest.schema import TableSpec

__all__ = ["NOT_ROADS", "parse_maxspeed", "read_osm_chunks"]

#: ``highway`` values that are no road one can travel (yet, or any more).
NOT_ROADS = frozenset(
    {
        "proposed",
        "construction",
        "abandoned",
        "disused",
        "razed",
        "platform",
        "bus_stop",
        "raceway",
        "rest_area",
        "services",
        "elevator",
        "corridor",
        "emergency_bay",
    }
)
_HEADERS = ["road_id", "highway", "speed_kmh", "name", "geometry_wkt"]
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_MPH = 1.609344


def parse_maxspeed(value: str | None) -> str:
    """The km/h of an OSM ``maxspeed`` value as text, or ``""`` when it gives no number.

    Parameters
    ----------
    value : str or None
        E.g. ``"60"``, ``"60 km/h"``, ``"30 mph"``, ``"50;70"`` (the first is taken),
        ``"CN:urban"`` (a zone code: no number).

    Returns
    -------
    str
    """
    if not value:
        return ""
    m = _SPEED.match(value.split(";")[0])
    if m is None:
        return ""
    speed = float(m.group(1))
    unit = (m.group(2) or "").lower()
    if unit == "mph":
        speed *= _MPH
    elif unit == "knots":
        speed *= 1.852
    return f"{speed:g}" if unit in ("", "km/h", "kmh", "kph") else f"{speed:.1f}"


def read_osm_chunks(
    f: DeliveryFile, spec: TableSpec, aliases: Aliases, chunk_rows: int
) -> Iterator[RawChunk]:
    """Chunks of the roads of an ``.osm.pbf`` extract, as text rows.

    Parameters
    ----------
    f : DeliveryFile
        The extract (its table is ``roads``).
    spec : TableSpec
        The ``roads`` spec.
    aliases : Aliases
    chunk_rows : int

    Yields
    ------
    RawChunk
        Columns road_id, highway, speed_kmh, name, geometry_wkt (WKT, WGS84).

    Raises
    ------
    FileRejected
        When osmium cannot read the file.
    """
    import osmium
    import shapely

    mapping = aliases.resolve(spec.name, _HEADERS, f.name)
    wkb = osmium.geom.WKBFactory()
    try:
        ways = (
            osmium.FileProcessor(str(f.path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        rows: list[list[str]] = []
        start = 0
        for way in ways:
            if not isinstance(way, osmium.osm.Way):  # the filters let only ways through
                continue
            highway = way.tags.get("highway") or ""
            if highway in NOT_ROADS:
                continue
            try:
                line = shapely.from_wkb(wkb.create_linestring(way))
            except (osmium.InvalidLocationError, RuntimeError):
                continue  # nodes outside the extract, or fewer than two distinct ones
            rows.append(
                [
                    str(way.id),
                    highway,
                    parse_maxspeed(way.tags.get("maxspeed")),
                    way.tags.get("name") or "",
                    shapely.to_wkt(line, rounding_precision=-1),
                ]
            )
            if len(rows) >= chunk_rows:
                yield _chunk(pd.DataFrame(rows, columns=_HEADERS, dtype=str), mapping, start, False)
                start += len(rows)
                rows = []
    except RuntimeError as exc:
        raise FileRejected(f"{f.name}: unreadable as an OpenStreetMap extract: {exc}") from exc
    if rows:
        yield _chunk(pd.DataFrame(rows, columns=_HEADERS, dtype=str), mapping, start, False)
