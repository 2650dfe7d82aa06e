"""The registration of the tile layers served from the store's build results and data.

Importing :mod:`service.tiles.sources` runs this; the early-warning layers register in
:mod:`service.tiles.warning`.
"""

from __future__ import annotations

from service.tiles.layers import ANALYST_ROLES, LayerSpec, register_layer
from service.tiles.sources import coverage as _coverage
from service.tiles.sources.hotspots import HotspotSource
from service.tiles.sources.indicators import IndicatorSource
from service.tiles.sources.mobility import MobilitySource
from service.tiles.sources.places import BoundarySource, FacilitySource

_UNIT_FIELDS = {
    "unit_id": "String",
    "level": "String",
    "period": "String",
}
_LONG_FIELDS = {
    "indicator": "String",
    "value": "Number",
    "numerator": "Number",
    "denominator": "Number",
    "suppressed": "Boolean",
    "suppression_reason": "String",
}
_IND_PARAMS = frozenset({"period", "indicator"})

register_layer(
    LayerSpec(
        name="indicators",
        description="Indicator choropleth on H3 cells (res 7 at z<=9, 8 at z10-11, 9 at z>=12)",
        geometry="polygon",
        fields={**_UNIT_FIELDS, **_LONG_FIELDS},
        minzoom=7,
        maxzoom=14,
        roles=ANALYST_ROLES,
        params=_IND_PARAMS | {"level"},
        per_indicator_fields=True,
        town_scoped=True,
        source=IndicatorSource(None),
    )
)
for _level, _minzoom in (("grid", 8), ("village", 8), ("town", 6)):
    register_layer(
        LayerSpec(
            name=f"{_level}_indicators",
            description=f"Indicator choropleth by {_level}",
            geometry="polygon",
            fields={**_UNIT_FIELDS, **_LONG_FIELDS},
            minzoom=_minzoom,
            maxzoom=14,
            roles=ANALYST_ROLES,
            params=_IND_PARAMS,
            per_indicator_fields=True,
            town_scoped=True,
            source=IndicatorSource(_level),
        )
    )
register_layer(
    LayerSpec(
        name="hotspots",
        description="Getis-Ord Gi* hotspot classes (H3 res 8 or grids)",
        geometry="polygon",
        fields={
            "unit_id": "String",
            "level": "String",
            "indicator": "String",
            "class": "String",
            "z": "Number",
            "p": "Number",
            "q": "Number",
            "p_sim": "Number",
            "smoothed_rate": "Number",
            "rate": "Number",
            "suppressed": "Boolean",
            "suppression_reason": "String",
        },
        minzoom=8,
        maxzoom=14,
        roles=ANALYST_ROLES,
        params=frozenset({"indicator", "level"}),
        town_scoped=True,
        source=HotspotSource(),
    )
)
register_layer(
    LayerSpec(
        name="facilities",
        description="Health facilities by type",
        geometry="point",
        fields={
            "facility_id": "String",
            "name": "String",
            "type": "String",
            "beds": "Number",
            "open": "Boolean",
        },
        minzoom=6,
        maxzoom=16,
        roles=ANALYST_ROLES | {"doctor"},
        source=FacilitySource(),
    )
)
register_layer(
    LayerSpec(
        name="boundaries",
        description="County, town, village and grid boundaries (villages, grids from z9)",
        geometry="polygon",
        fields={"kind": "String", "code": "String", "name": "String", "approximate": "Boolean"},
        minzoom=6,
        maxzoom=14,
        roles=ANALYST_ROLES | {"doctor"},
        source=BoundarySource(),
    )
)
register_layer(
    LayerSpec(
        name="mobility",
        description="Mean people per hour per H3 cell over 7 local days (optionally one hour)",
        geometry="polygon",
        fields={
            "unit_id": "String",
            "level": "String",
            "mean_count": "Number",
            "max_count": "Number",
            "hours": "Number",
            "window_start": "String",
            "window_end": "String",
            "hour": "Number",
        },
        minzoom=7,
        maxzoom=14,
        roles=frozenset({"bureau", "planner", "admin"}),
        params=frozenset({"period", "hour"}),
        source=MobilitySource(),
    )
)
_coverage.register()  # the planners' layers (service.tiles.sources.coverage)
