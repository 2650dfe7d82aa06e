"""The pure-Python tile encoder used on SQLite (PostGIS encodes with ``ST_AsMVT``).

Geometry: the steps of ``ST_AsMVTGeom(geom, ST_TileEnvelope(z, x, y), 4096, 64, true)``
in its order (see ``_snap``), vectorised with shapely; geometry commands for all vertices
of a tile at once with numpy.

Attributes are columnar (:class:`Column`): sources cache one array per attribute and data
version, and a tile's key and value tables are built with ``numpy.unique`` over the
tile's rows. The tile is written with ``mapbox_vector_tile``'s protobuf schema; the value
table is appended as pre-encoded bytes (doubles vectorised).

Why not ``mapbox_vector_tile.encode`` itself: its per-vertex Python loops (re-rounding,
re-orienting and re-validating every polygon) took ~2 ms per hexagon, i.e. seconds for a
county tile; and per-feature property dicts for 30,000 res-9 cells cost 400 MB and
200 ms garbage-collector pauses. The output decodes with ``mapbox_vector_tile.decode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2

from service.tiles.tilemath import BUFFER, EXTENT, lnglat_to_mercator, tile_bounds_mercator

_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_POINT, _LINESTRING, _POLYGON = 1, 2, 3
# Plain ints of shapely.GeometryType: enum members are slow to compare in per-feature loops.
_POLYGONAL = frozenset({int(shapely.GeometryType.POLYGON), int(shapely.GeometryType.MULTIPOLYGON)})
_COLLECTION = int(shapely.GeometryType.GEOMETRYCOLLECTION)
#: MVT geometry type of each shapely type id (what must survive clipping unchanged).
_BASIC = {
    int(shapely.GeometryType.POINT): _POINT,
    int(shapely.GeometryType.MULTIPOINT): _POINT,
    int(shapely.GeometryType.LINESTRING): _LINESTRING,
    int(shapely.GeometryType.MULTILINESTRING): _LINESTRING,
    int(shapely.GeometryType.POLYGON): _POLYGON,
    int(shapely.GeometryType.MULTIPOLYGON): _POLYGON,
}

Kind = Literal["bool", "int", "float", "str"]
_DTYPES: dict[str, Any] = {"bool": bool, "int": np.int64, "float": np.float64, "str": object}
_FILLER: dict[str, Any] = {"bool": False, "int": 0, "float": 0.0, "str": ""}
#: Order of the value table by type (any order decodes the same; this one is stable).
_KIND_ORDER: tuple[Kind, ...] = ("bool", "int", "float", "str")


@dataclass
class Column:
    """One attribute over a set of rows; ``present`` is False where a feature lacks it.

    Attributes
    ----------
    name : str
        Attribute name in the tile.
    kind : {"bool", "int", "float", "str"}
        MVT value type (bool, uint/sint, double, string), as ST_AsMVT types the column.
    values : numpy.ndarray
        One value per row (a filler where not present).
    present : numpy.ndarray of bool
        Whether the row has the attribute (MVT has no null: absent is the null).
    """

    name: str
    kind: Kind
    values: np.ndarray
    present: np.ndarray

    @classmethod
    def of(cls, name: str, kind: Kind, values: Sequence[Any]) -> Column:
        """A column from Python values; ``None`` and NaN mean absent."""
        present = np.array(
            [v is not None and not (isinstance(v, float) and v != v) for v in values], dtype=bool
        )
        filler = _FILLER[kind]
        arr = np.array(
            [v if p else filler for v, p in zip(values, present.tolist(), strict=True)],
            dtype=_DTYPES[kind],
        )
        return cls(name, kind, arr, present)

    @classmethod
    def constant(cls, name: str, kind: Kind, value: Any, n: int) -> Column:
        """The same value on every row (``None``: absent everywhere)."""
        arr = np.full(n, _FILLER[kind] if value is None else value, dtype=_DTYPES[kind])
        return cls(name, kind, arr, np.full(n, value is not None, dtype=bool))

    def take(self, rows: np.ndarray) -> Column:
        """The column restricted to ``rows`` (positions), in that order."""
        return Column(self.name, self.kind, self.values[rows], self.present[rows])


@dataclass
class FeatureBatch:
    """Candidate features of one tile, before clipping.

    Attributes
    ----------
    geoms : numpy.ndarray of shapely.Geometry
        In EPSG:3857 metres (sources keep projected copies so tiles only scale them).
    columns : list of Column
        Attributes, one value per geometry.
    ids : numpy.ndarray of uint64, optional
        Feature ids.
    """

    geoms: np.ndarray
    columns: list[Column] = field(default_factory=list)
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.geoms)

    def take(self, rows: np.ndarray) -> FeatureBatch:
        """The features at ``rows`` (positions), in that order."""
        return FeatureBatch(
            self.geoms[rows],
            [c.take(rows) for c in self.columns],
            None if self.ids is None else self.ids[rows],
        )

    def properties(self) -> list[dict[str, Any]]:
        """Each feature's attributes as a dict (static maps, tests, debugging)."""
        out: list[dict[str, Any]] = [{} for _ in range(len(self))]
        for col in self.columns:
            values = col.values.tolist()
            for i in np.flatnonzero(col.present).tolist():
                out[i][col.name] = values[i]
        return out


def to_mercator(geoms: Any) -> Any:
    """Project shapely geometries (scalar or array) from lng/lat degrees to EPSG:3857."""
    return shapely.transform(geoms, lnglat_to_mercator)


def to_tile_pixels(geoms: np.ndarray, z: int, x: int, y: int) -> np.ndarray:
    """Clip and quantise EPSG:3857 geometries into the tile's pixel grid.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely.Geometry
        Candidate geometries in metres.
    z, x, y : int
        The tile.

    Returns
    -------
    numpy.ndarray of shapely.Geometry
        Integer-coordinate geometries, y down, polygons oriented as MVT wants them;
        empty where nothing is left in the tile.
    """
    minx, _, maxx, maxy = tile_bounds_mercator(z, x, y)
    scale = EXTENT / (maxx - minx)

    def affine(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - minx) * scale
        out[:, 1] = (maxy - coords[:, 1]) * scale
        return out

    pixels = shapely.transform(geoms, affine)
    lo, hi = -BUFFER, EXTENT + BUFFER
    kinds = shapely.get_type_id(pixels)
    out = np.full(len(pixels), shapely.Point(), dtype=object)
    is_point = kinds == shapely.GeometryType.POINT
    if is_point.any():
        pts = pixels[is_point]
        px, py = np.round(shapely.get_x(pts)), np.round(shapely.get_y(pts))
        inside = (px >= lo) & (px <= hi) & (py >= lo) & (py <= hi)
        snapped = shapely.points(px, py)
        snapped[~inside] = shapely.Point()
        out[is_point] = snapped
    rest = ~is_point
    if rest.any():
        out[rest] = _snap(pixels[rest], lo, hi)
    return out


def _snap(geoms: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Lines/polygons to whole tile pixels, clipped to the buffered tile, valid, oriented.

    The steps and their order are ST_AsMVTGeom's (PostGIS 3 ``mvt_geom``, GEOS path):
    drop vertices closer than half a pixel and simplify with that tolerance, snap to the
    integer grid, clip with the buffered box (only what crosses it: most cells are
    inside), snap again, and repair with make-valid + snap (at most three rounds) what
    snapping made invalid. Doing them in the same order keeps clipped edges within a
    pixel of PostGIS's (clipping before snapping put sliver vertices 3 px apart).
    """
    half = 0.5
    geoms = shapely.simplify(
        shapely.remove_repeated_points(geoms, half), half, preserve_topology=False
    )
    snapped = shapely.transform(geoms, np.rint)
    xmin, ymin, xmax, ymax = shapely.bounds(snapped).T
    with np.errstate(invalid="ignore"):  # empty geometries have NaN bounds
        crossing = (xmin < lo) | (ymin < lo) | (xmax > hi) | (ymax > hi)
    if crossing.any():
        box = shapely.box(lo, lo, hi, hi)
        snapped[crossing] = shapely.transform(shapely.intersection(snapped[crossing], box), np.rint)
    for _ in range(3):
        invalid = ~shapely.is_valid(snapped) & ~shapely.is_empty(snapped)
        if not invalid.any():
            break
        snapped[invalid] = shapely.transform(shapely.make_valid(snapped[invalid]), np.rint)
    # MVT exterior rings have positive shoelace area in tile coordinates (y down):
    # counter-clockwise in shapely's y-up sense.
    oriented: np.ndarray = shapely.orient_polygons(snapped, exterior_cw=False)
    return oriented


def _polygonal(geom: Any) -> Any:
    """The polygon parts of what snapping produced (it can yield collections)."""
    kind = int(shapely.get_type_id(geom))
    if kind in _POLYGONAL:
        return geom if geom.area > 0 else None
    if kind == shapely.GeometryType.GEOMETRYCOLLECTION:
        parts = [g for g in geom.geoms if int(shapely.get_type_id(g)) in _POLYGONAL and g.area > 0]
        if not parts:
            return None
        polys = [p for g in parts for p in shapely.get_parts(g)]
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return None


def _zigzag(values: np.ndarray) -> np.ndarray:
    return (values << 1) ^ (values >> 63)


class _Cursor:
    """MVT geometry commands of one point or line feature (polygons: ``polygon_commands``)."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.out: list[int] = []

    def path(self, coords: np.ndarray) -> None:
        pts = np.rint(coords).astype(np.int64)
        if len(pts) > 1:
            # Repeated points would be zero-length LineTo segments: drop them.
            keep = np.ones(len(pts), dtype=bool)
            keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
            pts = pts[keep]
        if len(pts) < 2:
            return
        deltas = np.diff(pts, axis=0, prepend=np.array([[self.x, self.y]], dtype=np.int64))
        zz = _zigzag(deltas).ravel().tolist()
        self.out += [(1 << 3) | _MOVE_TO, zz[0], zz[1], ((len(pts) - 1) << 3) | _LINE_TO]
        self.out += zz[2:]
        self.x, self.y = int(pts[-1, 0]), int(pts[-1, 1])

    def points(self, coords: np.ndarray) -> None:
        pts = np.rint(coords).astype(np.int64)
        deltas = np.diff(pts, axis=0, prepend=np.array([[self.x, self.y]], dtype=np.int64))
        self.out += [(len(pts) << 3) | _MOVE_TO, *_zigzag(deltas).ravel().tolist()]


def point_line_commands(geom: Any) -> tuple[int, list[int]]:
    """The MVT geometry type and command integers of a tile-pixel point or line."""
    cursor = _Cursor()
    kind = int(shapely.get_type_id(geom))
    if kind in (shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT):
        cursor.points(shapely.get_coordinates(geom))
        return _POINT, cursor.out
    for part in shapely.get_parts(geom):
        cursor.path(shapely.get_coordinates(part))
    return _LINESTRING, cursor.out


def polygon_commands(geoms: np.ndarray) -> list[list[int]]:
    """MVT command integers of many tile-pixel (multi)polygons at once.

    Per ring: ``MoveTo(1) dx dy, LineTo(n-1) dx dy …, ClosePath``; deltas run on from the
    previous ring and part of the same feature and start from (0, 0) for each feature.
    Done with numpy over all vertices of the tile, which is what makes the encoder fast.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely.Geometry
        Valid, oriented polygons or multipolygons with integer coordinates.

    Returns
    -------
    list of list of int
        The commands of each geometry, in order.
    """
    parts, part_feature = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, point_ring = shapely.get_coordinates(rings, return_index=True)
    pts = np.rint(coords).astype(np.int64)
    ring_feature = part_feature[ring_part]
    # Drop each ring's closing vertex (ClosePath implies it) and repeated vertices.
    last = np.ones(len(pts), dtype=bool)
    last[:-1] = point_ring[1:] != point_ring[:-1]
    repeat = np.zeros(len(pts), dtype=bool)
    repeat[1:] = (point_ring[1:] == point_ring[:-1]) & np.all(pts[1:] == pts[:-1], axis=1)
    keep = ~last & ~repeat
    pts, point_ring = pts[keep], point_ring[keep]
    sizes = np.bincount(point_ring, minlength=len(rings))
    good = sizes >= 3  # a ring needs three distinct vertices to enclose anything
    if not good.all():
        mask = good[point_ring]
        pts, point_ring = pts[mask], point_ring[mask]
    point_feature = ring_feature[point_ring]
    # Cursor: the previous vertex of the same feature, (0, 0) at a feature's first.
    prev = np.zeros_like(pts)
    prev[1:] = pts[:-1]
    first = np.ones(len(pts), dtype=bool)
    first[1:] = point_feature[1:] != point_feature[:-1]
    prev[first] = 0
    zz = _zigzag(pts - prev)
    # Output layout: ring r of n vertices takes 2n + 3 integers from offset o_r.
    n = np.where(good, sizes, 0)
    length = np.where(good, 2 * n + 3, 0)
    offset = np.concatenate(([0], np.cumsum(length)[:-1]))
    out = np.empty(int(length.sum()), dtype=np.int64)
    o = offset[good]
    out[o] = (1 << 3) | _MOVE_TO
    out[o + 3] = ((n[good] - 1) << 3) | _LINE_TO
    out[o + 2 * n[good] + 2] = (1 << 3) | _CLOSE_PATH
    ring_start = np.concatenate(([0], np.cumsum(n)[:-1]))
    k = np.arange(len(pts)) - ring_start[point_ring]
    pos = offset[point_ring] + 2 * k + 1 + (k > 0)
    out[pos] = zz[:, 0]
    out[pos + 1] = zz[:, 1]
    # Slice the flat command array back into features.
    feature_len = np.bincount(ring_feature, weights=length, minlength=len(geoms)).astype(int)
    bounds = np.concatenate(([0], np.cumsum(feature_len))).tolist()
    flat = out.tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(geoms))]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _value_message(kind: str, value: Any) -> bytes:
    """One encoded ``layer.values`` entry (layer field 4, a ``tile.value`` message)."""
    if kind == "bool":
        inner = b"\x38" + (b"\x01" if value else b"\x00")
    elif kind == "int":
        v = int(value)
        # uint_value (5) when v >= 0, else zig-zag sint_value (6): what ST_AsMVT writes.
        inner = b"\x28" + _varint(v) if v >= 0 else b"\x30" + _varint((v << 1) ^ (v >> 63))
    elif kind == "str":
        raw = str(value).encode()
        inner = b"\x0a" + _varint(len(raw)) + raw
    else:
        inner = b"\x19" + np.float64(value).tobytes()
    return b"\x22" + _varint(len(inner)) + inner


def _double_messages(values: np.ndarray) -> bytes:
    """Many double ``layer.values`` entries at once: ``22 09 19`` + 8 little-endian bytes."""
    packed = np.empty(len(values), dtype=[("head", "S3"), ("value", "<f8")])
    packed["head"] = b"\x22\x09\x19"
    packed["value"] = values
    return packed.tobytes()


def _tags(layer: Any, columns: list[Column], n: int) -> list[list[int]]:
    """Fill the layer's keys and values; return each row's tag list.

    Values are deduplicated per type (``1``, ``1.0`` and ``True`` stay distinct entries,
    as in ST_AsMVT) with ``numpy.unique`` over all rows of the tile at once.
    """
    used = [c for c in columns if c.present.any()]
    if not used:
        return [[] for _ in range(n)]
    layer.keys.extend([c.name for c in used])
    value_index: dict[int, np.ndarray] = {}
    encoded: list[bytes] = []
    offset = 0
    for kind in _KIND_ORDER:
        members = [j for j, c in enumerate(used) if c.kind == kind]
        if not members:
            continue
        pooled = np.concatenate([used[j].values[used[j].present] for j in members])
        uniq, inverse = np.unique(
            pooled.astype(str) if kind == "str" else pooled, return_inverse=True
        )
        if kind == "float":
            encoded.append(_double_messages(uniq))
        else:
            encoded.append(b"".join(_value_message(kind, v) for v in uniq.tolist()))
        start = 0
        for j in members:
            present = used[j].present
            count = int(present.sum())
            index = np.zeros(n, dtype=np.int64)
            index[present] = inverse[start : start + count] + offset
            value_index[j] = index
            start += count
        offset += len(uniq)
    # Appending encoded entries to a repeated field is what merging a message does.
    layer.MergeFromString(b"".join(encoded))
    tags = np.empty((n, 2 * len(used)), dtype=np.int64)
    mask = np.empty((n, 2 * len(used)), dtype=bool)
    for j, col in enumerate(used):
        tags[:, 2 * j] = j
        tags[:, 2 * j + 1] = value_index[j]
        mask[:, 2 * j] = mask[:, 2 * j + 1] = col.present
    flat = tags[mask].tolist()
    bounds = np.concatenate(([0], np.cumsum(mask.sum(axis=1)))).tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(n)]


def _distinct_objects(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct geometry objects of ``geoms`` (by identity) and each row's position
    among them."""
    n = len(geoms)
    ids = np.fromiter((id(g) for g in geoms), dtype=np.int64, count=n)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    if len(first) == n:
        return geoms, np.arange(n)
    return geoms[first], inverse.reshape(-1)


def encode_layer(name: str, batch: FeatureBatch, z: int, x: int, y: int) -> bytes:
    """Encode ``batch`` as a one-layer MVT tile ``z/x/y``; ``b""`` when none is left.

    Parameters
    ----------
    name : str
        The MVT layer name.
    batch : FeatureBatch
        Candidates in EPSG:3857; those that end up outside the buffered tile are dropped.
    z, x, y : int
        The tile.

    Returns
    -------
    bytes
        The tile, or ``b""`` when it would hold no feature.
    """
    if not len(batch):
        return b""
    # Features sharing one geometry object (a hotspot cell's indicators, a unit's rows)
    # are clipped and encoded once.
    shapes, shape_of = _distinct_objects(batch.geoms)
    source_kinds = shapely.get_type_id(shapes).tolist()
    geoms = to_tile_pixels(shapes, z, x, y)
    kinds = shapely.get_type_id(geoms).tolist()
    empty = shapely.is_empty(geoms).tolist()
    areas = shapely.area(geoms).tolist()
    good = np.zeros(len(shapes), dtype=bool)
    for i, (source_kind, kind) in enumerate(zip(source_kinds, kinds, strict=True)):
        if empty[i]:
            continue
        if source_kind in _POLYGONAL:
            # A polygon that only touches the buffered box leaves a point or a line:
            # dropped, as ST_AsMVTGeom drops geometries whose type changed.
            if kind in _POLYGONAL:
                if areas[i] <= 0:
                    continue
            elif kind == _COLLECTION:
                geom = _polygonal(geoms[i])  # what snapping left: keep its polygons
                if geom is None:
                    continue
                geoms[i] = geom
            else:
                continue
        elif _BASIC.get(kind) != _BASIC.get(source_kind):
            continue
        good[i] = True
    rows = np.flatnonzero(good[shape_of])
    if not len(rows):
        return b""
    keep = rows.tolist()
    kept = batch.take(rows)
    used = np.flatnonzero(good)  # the kept shapes, each encoded once
    pixels = geoms[used]
    shape_basic = [_BASIC[k] for k in shapely.get_type_id(pixels).tolist()]
    shape_commands: list[list[int]] = [[] for _ in range(len(used))]
    polygonal = [i for i, b in enumerate(shape_basic) if b == _POLYGON]
    if polygonal:
        for i, cmds in zip(polygonal, polygon_commands(pixels[polygonal]), strict=True):
            shape_commands[i] = cmds
    for i, b in enumerate(shape_basic):
        if b != _POLYGON:
            shape_commands[i] = point_line_commands(pixels[i])[1]
    slot = np.full(len(shapes), -1, dtype=np.int64)
    slot[used] = np.arange(len(used))
    at = slot[shape_of[rows]].tolist()
    basic = [shape_basic[j] for j in at]
    commands = [shape_commands[j] for j in at]
    tile = vector_tile_pb2.tile()
    layer = tile.layers.add()
    layer.name = name
    layer.version = 2
    layer.extent = EXTENT
    tags = _tags(layer, kept.columns, len(keep))
    ids = None if kept.ids is None else kept.ids.tolist()
    count = 0
    for i, cmds in enumerate(commands):
        if not cmds:
            continue
        f = layer.features.add()
        if ids is not None:
            f.id = ids[i]
        f.tags.extend(tags[i])
        f.type = basic[i]
        f.geometry.extend(cmds)
        count += 1
    if not count:
        return b""
    data: bytes = tile.SerializeToString()
    return data
