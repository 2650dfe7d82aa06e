"""Vector tiles of the map: ``/tiles/{layer}.json`` (TileJSON) and ``…/{z}/{x}/{y}.mvt``.

The tiles come from ``service.tiles`` (no HTTP there); this module adds what HTTP needs:

* **roles per layer** (``LayerSpec.roles``): a role the layer is not for gets 403;
* **conditional requests**: a strong ``ETag`` (it changes when a build becomes current or an
  ingest loads a file) and ``Last-Modified``; ``If-None-Match`` (or, without it,
  ``If-Modified-Since``) that still matches answers **304** with no body;
* ``204`` for an empty tile (outside the county or the layer's zooms, nothing built yet);
* ``Cache-Control: private``: tiles sit behind the login, so no shared cache may keep them
  (the browser may, and revalidates after five minutes);
* **township scope**: a ``chronic_center`` account's tiles of the indicator and hotspot
  layers hold only its township's units (filtered where the tile is made, and part of the
  tile's cache key and ETag); the other roles see the county.

A tile request is cheap by design (a map view fetches dozens): the caller is resolved by
:func:`tile_caller`, an async dependency that checks the token's signature and the tile
rate limit on the event loop and re-reads the account at most every
:data:`ACCOUNT_RECHECK_SECONDS` per token (a disabled account, or one whose role or
scope changed, loses its tiles within that time; the other routes re-read it on every
request); the handler then makes one store query, the data version and the last change
together (``service.tiles.cache.data_state``), and on a cache hit nothing else.

Tiles have their own rate-limit bucket (ten times the API's): one map view fetches dozens.
"""

from __future__ import annotations

import datetime as dt
import time
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from geo.errors import PeriodNotBuiltError
from service import tiles
from service.auth import Principal, decode_token, principal_from_claims
from service.client import public_base_url
from service.deps import TokenDep
from service.errors import BadRequest, Forbidden, NotFound, Unauthorized, problem_doc
from service.ratelimit import TokenBucketLimiter
from service.schemas.common import DateParam, TileX, TileY, TileZ
from service.settings import Settings
from service.tiles import IndicatorNotBuiltError, LayerSpec, TileParamError, UnknownLayerError
from service.tiles.cache import LRU, data_state

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "private, max-age=300"

LayerName = Annotated[
    str, Path(max_length=40, pattern=r"^[a-z][a-z0-9_]*$", examples=["town_indicators"])
]
PeriodQ = Annotated[DateParam, Query(description="Indicator layers: a built period.")]
IndicatorQ = Annotated[
    str | None, Query(max_length=40, description="Only this indicator (long-form features).")
]
LevelQ = Annotated[str | None, Query(max_length=10, description="`hotspots`: `h3:8` or `grid`.")]
HourQ = Annotated[int | None, Query(ge=0, le=23, description="`mobility`: one local hour.")]


#: What the tile functions raise for a period or indicator the current build did not compute
#: (404). Only these: any other ``LookupError`` is a bug and must not pass for a 404.
NOT_BUILT = (PeriodNotBuiltError, IndicatorNotBuiltError)

#: Seconds a tile caller's account check is reused for the same token.
ACCOUNT_RECHECK_SECONDS = 10.0
#: Accounts checked recently, by access token: (principal, monotonic time of the check).
_CHECKED: LRU[tuple[Principal, float]] = LRU(max_items=4096)


async def tile_caller(request: Request, token: TokenDep) -> Principal:
    """The caller of a tile route (as ``service.deps.TileUser``, but cheaper).

    The token's signature, expiry and type are checked on every request, and the caller
    is counted against the tile rate limit before anything else; the account itself
    (enabled, same role and scope) is re-read from the store when this token's last check
    is older than :data:`ACCOUNT_RECHECK_SECONDS`, in the thread pool. No thread hop and
    no store query otherwise.
    """
    if not token:
        raise Unauthorized("Log in first: send `Authorization: Bearer <access token>`.", error=None)
    settings: Settings = request.app.state.settings
    limiter: TokenBucketLimiter = request.app.state.tile_rate_limiter
    claims = decode_token(token, settings.token_auth, "access")
    limiter.hit(f"tiles:{claims['sub']}")
    now = time.monotonic()
    checked = _CHECKED.get(token)
    if checked is None or now - checked[1] > ACCOUNT_RECHECK_SECONDS:
        principal = await run_in_threadpool(principal_from_claims, request.app.state.reads, claims)
        _CHECKED.put(token, (principal, now))
    else:
        principal = checked[0]
    # The access log reads this: it logs the numeric id, never the username.
    request.state.user_id = principal.id
    return principal


TileCaller = Annotated[Principal, Depends(tile_caller)]


def layer_for(user: Principal, name: str) -> LayerSpec:
    """The layer, if the caller's role may see it (404 unknown, 403 not for this role)."""
    try:
        spec = tiles.get_layer(name)
    except UnknownLayerError:
        raise NotFound(f"No tile layer {name!r}.") from None
    if user.role not in spec.roles:
        raise Forbidden(f"Role {user.role} may not see the {name} layer.")
    return spec


def town_scope(user: Principal) -> str | None:
    """The township a caller's tiles are cut to: a centre's own; None (the county) else."""
    return user.town_code if user.role == "chronic_center" else None


def _params(
    period: dt.date | None, indicator: str | None, level: str | None, hour: int | None
) -> dict[str, Any]:
    return {
        k: v
        for k, v in {"period": period, "indicator": indicator, "level": level, "hour": hour}.items()
        if v is not None
    }


def _not_modified(request: Request, etag: str, modified: dt.datetime | None) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request.headers.get("if-modified-since")
    if ims and modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return modified.replace(microsecond=0) <= since
    return False


ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem_doc("A parameter the layer does not take, or an impossible tile."),
    403: problem_doc("The layer is not for the caller's role."),
    404: problem_doc("No such layer, or a period or indicator that was not built."),
}
TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A Mapbox Vector Tile with one layer named like the URL's layer.",
        "content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    204: {"description": "An empty tile (outside the county or the layer's zooms)."},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)."},
    **ERRORS,
}


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    summary="One vector tile",
    response_class=Response,
    responses=TILE_RESPONSES,
)
def tile(
    request: Request,
    user: TileCaller,
    layer: LayerName,
    z: TileZ,
    x: TileX,
    y: TileY,
    period: PeriodQ = None,
    indicator: IndicatorQ = None,
    level: LevelQ = None,
    hour: HourQ = None,
) -> Response:
    """A tile of ``layer`` (XYZ scheme). Parameters a layer does not take are 400; a period
    or indicator that was not built is 404. Roles per layer: see ``/api/v1/meta``."""
    layer_for(user, layer)
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    params = _params(period, indicator, level, hour)
    town = town_scope(user)
    # The tiles' local time (``mobility`` days and hours) is the service's rules config's.
    rules = settings.rules
    try:
        state = data_state(engine)
        etag = tiles.tile_etag(
            engine, layer, z, x, y, town=town, version=state.version, rules=rules, **params
        )
        modified = state.modified
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization"}
        if modified is not None:
            headers["Last-Modified"] = format_datetime(modified.astimezone(dt.UTC), usegmt=True)
        if _not_modified(request, etag, modified):
            return Response(status_code=304, headers=headers)
        data = tiles.tile(
            engine, layer, z, x, y, town=town, version=state.version, rules=rules, **params
        )
    except TileParamError as exc:
        raise BadRequest(str(exc)) from None
    except UnknownLayerError:
        raise NotFound(f"No tile layer {layer!r}.") from None
    except NOT_BUILT as exc:
        raise NotFound(str(exc)) from None
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get("/{layer}.json", summary="TileJSON of a layer", responses=ERRORS)
def tilejson(
    request: Request,
    user: TileCaller,
    layer: LayerName,
    period: PeriodQ = None,
    indicator: IndicatorQ = None,
    level: LevelQ = None,
    hour: HourQ = None,
) -> dict[str, Any]:
    """TileJSON 3.0.0: the tile URL template (with the given parameters), zooms, the
    county's bounds and centre (a chronic-disease centre's: its township's), and the
    layer's fields (per built indicator for the indicator layers)."""
    layer_for(user, layer)
    engine: Engine = request.app.state.engine
    base = public_base_url(request)  # service.public_url, or the checked Host
    try:
        return tiles.layer_tilejson(
            engine, layer, base, town=town_scope(user), **_params(period, indicator, level, hour)
        )
    except TileParamError as exc:
        raise BadRequest(str(exc)) from None
    except UnknownLayerError:
        raise NotFound(f"No tile layer {layer!r}.") from None
    except NOT_BUILT as exc:
        raise NotFound(str(exc)) from None
