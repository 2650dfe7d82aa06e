"""The tile layer registry: what each layer is, who may see it, which parameters it takes.

A layer is a :class:`LayerSpec` (the public description the routes and TileJSON use) and a
source (``service.tiles.sources.base.LayerSource``) that knows how to produce its features
on each backend. New layers are added with :func:`register_layer` (as the early-warning ``alerts``
and ``risk`` layers are, in ``service.tiles.warning``); nothing else has to change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from geo.errors import BadParameterError, NotFoundError, UnknownLayerError

if TYPE_CHECKING:
    from service.tiles.sources.base import LayerSource

GeometryKind = Literal["polygon", "point", "line"]

#: Roles of ``store.accounts.ROLES`` that see county-wide aggregates.
ANALYST_ROLES = frozenset({"bureau", "planner", "chronic_center", "admin"})

#: Indicator ids become MVT attribute names and PostGIS column aliases: only these pass.
IDENT = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: ``indicators`` layer: H3 resolution by zoom. Each cell stays 15-30 pixels wide and a tile
#: a few hundred cells (res 7 to z10, res 8 to z12, res 9 from z13; docs/tiles.md).
H3_LEVEL_BY_ZOOM: tuple[tuple[int, str], ...] = ((10, "h3:7"), (12, "h3:8"), (99, "h3:9"))


# The tile errors are the product's domain errors (``geo.errors``), so the routes translate
# these classes, never a bare ``KeyError``/``LookupError`` that any bug could raise:
#
# * :class:`~geo.errors.UnknownLayerError` (a ``NotFoundError``): no such layer, HTTP 404;
# * :class:`~geo.errors.PeriodNotBuiltError`: a period the current build did not compute, 404;
# * :class:`IndicatorNotBuiltError`: an indicator the current build did not compute, 404;
# * :class:`TileParamError` (a ``BadParameterError``): a bad parameter or tile, HTTP 400.


class TileParamError(BadParameterError):
    """A tile parameter the layer does not take, or a value it cannot have (HTTP 400)."""


class IndicatorNotBuiltError(NotFoundError):
    """An indicator (or hotspot indicator) the current build has no values of (HTTP 404)."""


@dataclass(frozen=True)
class LayerSpec:
    """One vector-tile layer.

    Attributes
    ----------
    name : str
        Layer id: the URL segment and the MVT layer name inside the tile.
    description : str
        One line for TileJSON and the API docs.
    geometry : {"polygon", "point", "line"}
        Geometry kind of every feature.
    fields : dict of str to str
        Attribute name → TileJSON type/description ("Number", "String", "Boolean").
        Layers with ``per_indicator_fields`` also carry ``<indicator>``,
        ``<indicator>__suppressed`` and ``<indicator>__reason`` per built indicator.
    minzoom, maxzoom : int
        Zooms tiles are made for; outside them a tile is empty (clients overzoom).
    roles : frozenset of str
        Account roles allowed to fetch the layer (enforced by the route).
    params : frozenset of str
        Keyword parameters of :func:`service.tiles.tile` the layer accepts.
    per_indicator_fields : bool
        Whether the layer has the wide per-indicator attributes when no indicator is given.
    town_scoped : bool
        Whether a township scope (``town=`` of :func:`service.tiles.tile`) cuts the
        layer to that township's units; other layers are the same for every account.
    source : LayerSource
        The implementation; not part of the public description.
    """

    name: str
    description: str
    geometry: GeometryKind
    fields: Mapping[str, str]
    minzoom: int
    maxzoom: int
    roles: frozenset[str]
    params: frozenset[str] = frozenset()
    per_indicator_fields: bool = False
    town_scoped: bool = False
    source: LayerSource | None = field(default=None, repr=False, compare=False)

    def public(self) -> dict[str, Any]:
        """The spec as plain JSON-able data (for a layer listing route)."""
        return {
            "name": self.name,
            "description": self.description,
            "geometry": self.geometry,
            "fields": dict(self.fields),
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "roles": sorted(self.roles),
            "params": sorted(self.params),
            "town_scoped": self.town_scoped,
        }


#: Every served layer by name (filled on import by ``service.tiles.sources.registry`` and
#: ``service.tiles.warning``).
LAYERS: dict[str, LayerSpec] = {}


def register_layer(spec: LayerSpec) -> LayerSpec:
    """Add (or replace) a layer in :data:`LAYERS`.

    Parameters
    ----------
    spec : LayerSpec
        The layer; ``spec.source`` must be set.

    Returns
    -------
    LayerSpec
        ``spec``, so that registration can be used inline.
    """
    if spec.source is None:
        raise ValueError(f"layer {spec.name!r} has no source")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", spec.name):
        raise ValueError(f"bad layer name {spec.name!r}")
    LAYERS[spec.name] = spec
    return spec


def get_layer(name: str) -> LayerSpec:
    """The registered layer called ``name``.

    Parameters
    ----------
    name : str
        A layer name (the URL segment).

    Returns
    -------
    LayerSpec
        The layer.

    Raises
    ------
    UnknownLayerError
        When no layer has that name (HTTP 404).
    """
    try:
        return LAYERS[name]
    except KeyError:
        layers = ", ".join(sorted(LAYERS))
        raise UnknownLayerError(f"no tile layer {name!r}; layers: {layers}") from None


def h3_level_for_zoom(z: int) -> str:
    """The H3 level the ``indicators`` layer draws at zoom ``z`` (see docs/tiles.md)."""
    for top, level in H3_LEVEL_BY_ZOOM:
        if z <= top:
            return level
    return H3_LEVEL_BY_ZOOM[-1][1]


def normalise_params(spec: LayerSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters against the layer and bring them to one canonical form.

    ``None`` means "not given"; the canonical dict keeps only given parameters, so the cache
    key and the ETag do not depend on how a caller spelled the defaults.

    Raises
    ------
    TileParamError
        For a parameter the layer does not take or an impossible value.
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key not in spec.params:
            raise TileParamError(f"layer {spec.name!r} takes no {key!r} parameter")
        if key == "period":
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    raise TileParamError(f"period {value!r} is not YYYY-MM-DD") from None
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise TileParamError("period must be a date")
        elif key == "indicator":
            if not isinstance(value, str) or not IDENT.match(value):
                raise TileParamError(f"bad indicator {value!r}")
        elif key == "level":
            allowed = spec.source.levels if spec.source is not None else ()
            if value not in allowed:
                raise TileParamError(f"level must be one of {', '.join(allowed)}")
        elif key == "hour":
            if isinstance(value, str) and value.isdigit():
                value = int(value)  # query strings arrive as text
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
                raise TileParamError("hour must be an integer 0–23 (local time)")
        out[key] = value
    return out
