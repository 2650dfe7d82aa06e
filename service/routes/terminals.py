"""Smart terminals: a device's readings (``POST /api/v1/terminal/readings``), the registry.

The readings endpoint takes **only** a terminal's signed request (``service.terminal_auth``;
a user's token there is a 401, and terminal headers on any other endpoint are a 401 too:
``service.deps``). What happens to each reading is ``service.terminal_intake``; new
emergency readings are announced (``service.emergencies.announce``) in the transaction,
like every other path that records readings. Administrators register terminals, bind them
to a facility, rotate and revoke their keys and read the quarantine; a doctor (for the
team's patients) or an administrator prints a resident's card token. docs/terminals.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.vocabulary import TEAM_SCOPED_ROLE
from service.audit import record_audit
from service.auth import Principal, utcnow
from service.client import client_address
from service.deps import AdminUser, AuditDep, LimiterDep, SessionDep, SettingsDep, require_roles
from service.emergencies import announce
from service.errors import Conflict, Invalid, NotFound, TerminalUnauthorized, problem_doc
from service.schemas.common import Offset, fill_page, limit_query
from service.schemas.records import MAX_MEASUREMENTS
from service.schemas.terminals import (
    CardTokenOut,
    TerminalIn,
    TerminalKeyOut,
    TerminalOut,
    TerminalPage,
    TerminalPatch,
    TerminalQuarantineOut,
    TerminalQuarantinePage,
    TerminalReadingIn,
    TerminalReadingResult,
    TerminalReadingsOut,
)
from service.scope import ensure_resident_for_doctor
from service.settings import Settings
from service.shaping import invalid_field
from service.terminal_auth import (
    HEADER_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    NONCE_PATTERN,
    TERMINAL_ID_PATTERN,
    body_sha256,
    card_token,
    derive_key,
    master_secret,
    sign,
    signature_matches,
)
from service.terminal_intake import QUARANTINE_REASONS, quarantine_whole_body, take_readings
from store.models import Facility, Resident
from store.terminals import (
    Terminal,
    add_terminal,
    list_quarantine,
    list_terminals,
    prune_nonces,
    remember_nonce,
    revoke,
    rotate_key,
    touch_terminal,
)

router = APIRouter(prefix="/api/v1", tags=["terminals"])
logger = logging.getLogger("healthmap.service")

READINGS_PATH = "/api/v1/terminal/readings"
#: ``last_seen_at`` is written at most this often per terminal: a terminal posts about once
#: a minute, so a minute's resolution wrote it on nearly every post (an UPDATE each); five
#: minutes still tells an admin which devices went quiet today.
SEEN_RESOLUTION = dt.timedelta(minutes=5)
#: Old nonces are pruned at most this often per process.
PRUNE_EVERY_SECONDS = 60.0
_HEX = frozenset("0123456789abcdefABCDEF")


def settings_master(settings: Settings) -> bytes:
    """The master secret of device keys and card tokens under ``settings``."""
    return master_secret(settings.terminals.key_secret, settings.auth.secret)


# ----------------------------------------------------------------------------------------
# The device's request
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedRequest:
    """A terminal's request whose headers are well-formed and timely (not yet verified)."""

    terminal_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class TerminalCaller:
    """Who wrote, for the audit log: ``terminal:<id>``, role ``terminal``, no account."""

    username: str
    id: int | None = None
    role: str = "terminal"


async def signed_request(request: Request, settings: SettingsDep) -> SignedRequest:
    """The request's terminal headers and body, checked for shape and clock (no I/O but the
    body; the signature needs the store and is checked by the route)."""
    headers = request.headers
    values = [headers.get(h) for h in (HEADER_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)]
    if any(v is None for v in values):
        raise TerminalUnauthorized(
            "This endpoint takes a terminal's signed request: send X-Terminal-Id,"
            " X-Terminal-Timestamp, X-Terminal-Nonce and X-Terminal-Signature"
            " (docs/terminals.md); user tokens are not accepted here.",
            reason="missing_headers",
        )
    tid, ts, nonce, signature = (str(v).strip() for v in values)
    if not TERMINAL_ID_PATTERN.fullmatch(tid):
        raise TerminalUnauthorized("X-Terminal-Id is no terminal id.", reason="unknown_terminal")
    if not NONCE_PATTERN.fullmatch(nonce):
        raise TerminalUnauthorized(
            "X-Terminal-Nonce must be 8–64 of A-Z a-z 0-9 - _.", reason="missing_headers"
        )
    if len(signature) != 64 or not set(signature) <= _HEX:
        raise TerminalUnauthorized(
            "X-Terminal-Signature must be 64 hex digits (HMAC-SHA256).", reason="bad_signature"
        )
    window = settings.terminals.signature_window_seconds
    if not ts.isdigit() or abs(int(ts) - time.time()) > window:
        raise TerminalUnauthorized(
            f"X-Terminal-Timestamp must be the unix time in seconds within {window} s of the"
            f" server's ({int(time.time())}); set the device's clock"
            " (terminals.signature_window_seconds).",
            reason="stale_timestamp",
        )
    body = await request.body()
    return SignedRequest(tid, ts, nonce, signature, request.method, request.url.path, body)


def _authenticate(session: Session, signed: SignedRequest, master: bytes) -> Terminal:
    terminal = session.get(Terminal, signed.terminal_id)
    if terminal is None:
        raise TerminalUnauthorized(
            f"No terminal {signed.terminal_id} is registered.", reason="unknown_terminal"
        )
    key = derive_key(master, terminal.terminal_id, terminal.key_generation)
    expected = sign(
        key, signed.method, signed.path, signed.timestamp, signed.nonce, body_sha256(signed.body)
    )
    if not signature_matches(expected, signed.signature):
        raise TerminalUnauthorized(
            "The signature does not match: sign the canonical request with the terminal's"
            " current key (a rotated key is refused at once).",
            reason="bad_signature",
        )
    if terminal.status != "active":
        raise TerminalUnauthorized(f"Terminal {terminal.terminal_id} is revoked.", reason="revoked")
    return terminal


def _items(body: bytes) -> tuple[list[Any] | None, str | None]:
    """The readings of a body, or why it has none."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None, "the body is not JSON"
    if isinstance(doc, dict) and "readings" in doc:
        if set(doc) != {"readings"} or not isinstance(doc["readings"], list):
            return None, 'a batch is {"readings": [<reading>, ...]} and nothing else'
        return doc["readings"], None
    if isinstance(doc, dict):
        return [doc], None
    return None, 'the body must be one reading object or {"readings": [...]}'


def _maybe_prune(request: Request, session: Session, now: dt.datetime, window: int) -> None:
    state = request.app.state
    last = getattr(state, "terminal_nonces_pruned", 0.0)
    if time.monotonic() - last < PRUNE_EVERY_SECONDS:
        return
    state.terminal_nonces_pruned = time.monotonic()
    prune_nonces(session, now - dt.timedelta(seconds=window))


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    # The body is read by the route itself (per-reading outcomes), so FastAPI does not list
    # its models among the components: the documented schema carries its parts inline.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


_RAW_SCHEMA = TerminalReadingIn.model_json_schema()
_READING_SCHEMA = _inline(_RAW_SCHEMA, _RAW_SCHEMA.get("$defs", {}))


@router.post(
    "/terminal/readings",
    summary="A terminal posts readings (one or a batch)",
    status_code=201,
    response_model=TerminalReadingsOut,
    responses={
        200: {"description": "No reading was new.", "model": TerminalReadingsOut},
        401: problem_doc(
            "Not a valid terminal request: unknown terminal, revoked, bad signature,"
            " timestamp outside the window, replayed nonce (`reason` says which)."
        ),
        422: problem_doc("The body is no reading or batch at all (it is quarantined)."),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _READING_SCHEMA,
                            {
                                "type": "object",
                                "required": ["readings"],
                                "additionalProperties": False,
                                "properties": {
                                    "readings": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": MAX_MEASUREMENTS,
                                        "items": _READING_SCHEMA,
                                    }
                                },
                            },
                        ]
                    }
                }
            },
        }
    },
)
def post_terminal_readings(
    request: Request,
    signed: Annotated[SignedRequest, Depends(signed_request)],
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    response: Response,
) -> TerminalReadingsOut:
    """One reading or ``{"readings": [...]}`` (up to 500), signed with the terminal's key.

    Every reading has its own outcome: ``created``, ``unchanged`` (the same
    ``measurement_id`` and content again) or ``quarantined`` with a ``reason``
    (docs/terminals.md); good readings are stored whatever happens to the others. The
    reading's ``device_id`` is the terminal, its ``facility_id`` the terminal's facility.
    An emergency reading is a red task on the team's list at once (and is announced).
    201 when a reading was new, else 200."""
    master = settings_master(settings)
    terminal = _authenticate(session, signed, master)
    limiter.hit(f"terminal:{terminal.terminal_id}")
    request.state.terminal_id = terminal.terminal_id
    items, problem = _items(signed.body)
    if items is not None and len(items) > MAX_MEASUREMENTS:
        items, problem = None, f"a batch holds at most {MAX_MEASUREMENTS} readings; split it"
    if items is not None and not items:
        items, problem = None, "the batch is empty"
    for attempt in (1, 2):
        try:
            out = _take(request, session, settings, terminal, signed, master, items, problem)
            break
        except IntegrityError:
            # A concurrent request stored the same nonce or reading first: ask again (the
            # nonce is then a replay; the reading is then stored, unchanged or a conflict).
            session.rollback()
            if attempt == 2:
                raise Conflict("A reading was recorded concurrently; retry the request.") from None
    response.status_code = 201 if out.created else 200
    return out


def _take(
    request: Request,
    session: Session,
    settings: Settings,
    terminal: Terminal,
    signed: SignedRequest,
    master: bytes,
    items: list[Any] | None,
    problem: str | None,
) -> TerminalReadingsOut:
    now = utcnow()
    window = settings.terminals.signature_window_seconds
    if not remember_nonce(session, terminal.terminal_id, signed.nonce, now):
        raise TerminalUnauthorized(
            "This nonce was used already: a replayed request. Send a new nonce with every request.",
            reason="replayed_nonce",
        )
    _maybe_prune(request, session, now, window)
    if terminal.last_seen_at is None or now - terminal.last_seen_at >= SEEN_RESOLUTION:
        touch_terminal(session, terminal.terminal_id, now)
    caller = TerminalCaller(username=f"terminal:{terminal.terminal_id}")
    audit = {
        "action": "write",
        "endpoint": f"POST {READINGS_PATH}",
        "user": caller,
        "client": client_address(request),
    }
    if items is None:
        qid = quarantine_whole_body(session, terminal.terminal_id, signed.body, str(problem), now)
        record_audit(
            session,
            **audit,
            resource_type="terminal_quarantine",
            resource_id=str(qid),
            detail={"terminal_id": terminal.terminal_id, "quarantined": 1},
        )
        session.commit()
        raise Invalid(
            f"Nothing recorded: {problem}. The body is quarantined (id {qid}).",
            extra={"quarantine_id": qid},
        )
    intake = take_readings(session, items, terminal, settings, master, now)
    recorded = intake.recorded
    new = [r for r in recorded if r.created]
    quarantined = [o for o in intake.outcomes if o.status == "quarantined"]
    if new or quarantined:
        reasons: dict[str, int] = {}
        for o in quarantined:
            reasons[str(o.reason)] = reasons.get(str(o.reason), 0) + 1
        record_audit(
            session,
            **audit,
            resource_type="measurement",
            resource_id=new[0].row.measurement_id if len(new) == 1 else None,
            detail={
                "terminal_id": terminal.terminal_id,
                "measurement_ids": [r.row.measurement_id for r in new],
                "resident_ids": sorted({r.row.resident_id for r in new}),
                "quarantined": len(quarantined),
                "reasons": reasons,
            },
        )
    announce(session, recorded, webhook_url=request.app.state.emergency_webhook_url)
    session.commit()
    results = []
    for o in intake.outcomes:
        r = o.reading
        results.append(
            TerminalReadingResult(
                index=o.index,
                measurement_id=r.row.measurement_id if r is not None else o.measurement_id,
                status=o.status,
                resident_id=r.row.resident_id if r is not None else None,
                emergency=bool(r and r.emergency_diseases),
                emergency_diseases=r.emergency_diseases if r is not None else [],
                reason=o.reason,
                field=o.field,
                detail=o.detail,
                quarantine_id=o.quarantine_id,
            )
        )
    return TerminalReadingsOut(
        terminal_id=terminal.terminal_id,
        created=len(new),
        unchanged=len(recorded) - len(new),
        quarantined=len(quarantined),
        emergencies=sum(bool(r.emergency_diseases) for r in new),
        items=results,
    )


# ----------------------------------------------------------------------------------------
# The registry (admin)
# ----------------------------------------------------------------------------------------
def _terminal_or_404(session: Session, terminal_id: str) -> Terminal:
    terminal = session.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFound(f"No terminal {terminal_id}.")
    return terminal


def _check_facility(session: Session, facility_id: str | None) -> None:
    if facility_id is not None and session.get(Facility, facility_id) is None:
        raise invalid_field("body.facility_id", "unknown facility id")


def _with_key(terminal: Terminal, settings: Settings) -> TerminalKeyOut:
    key = derive_key(settings_master(settings), terminal.terminal_id, terminal.key_generation)
    return TerminalKeyOut(**TerminalOut.model_validate(terminal).model_dump(), key=key)


@router.post(
    "/admin/terminals",
    summary="Register a terminal (its key is returned this once)",
    status_code=201,
    responses={409: problem_doc("The terminal id is registered already.")},
)
def register_terminal(
    body: TerminalIn, user: AdminUser, session: SessionDep, settings: SettingsDep, audit: AuditDep
) -> TerminalKeyOut:
    """Register a device; the answer holds its key (``key``), to be put on the device. The
    key is never stored: it can only be replaced (rotate), not shown again."""
    _check_facility(session, body.facility_id)
    terminal = add_terminal(
        session, body.terminal_id, utcnow(), facility_id=body.facility_id, label=body.label
    )
    audit("admin", "terminal", body.terminal_id, detail={"op": "register"}, session=session)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"Terminal {body.terminal_id} is registered already.") from None
    return _with_key(terminal, settings)


@router.get("/admin/terminals", summary="List terminals")
def get_terminals(
    user: AdminUser,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(active|revoked)$")] = None,
    facility_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> TerminalPage:
    """Registered terminals by id, optionally of one status or facility (no keys)."""
    rows, total = list_terminals(
        session, status=status, facility_id=facility_id, limit=limit, offset=offset
    )
    return fill_page(
        TerminalPage,
        (TerminalOut.model_validate(r) for r in rows),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/admin/terminals/{terminal_id}", summary="One terminal")
def get_terminal(terminal_id: str, user: AdminUser, session: SessionDep) -> TerminalOut:
    """A terminal (no key)."""
    return TerminalOut.model_validate(_terminal_or_404(session, terminal_id))


@router.patch("/admin/terminals/{terminal_id}", summary="Bind a terminal to a facility")
def patch_terminal(
    terminal_id: str, body: TerminalPatch, user: AdminUser, session: SessionDep, audit: AuditDep
) -> TerminalOut:
    """Set the facility (``null`` unbinds) and/or the label; fields not sent are kept. The
    facility goes into every later reading of the terminal."""
    terminal = _terminal_or_404(session, terminal_id)
    sent = body.model_fields_set
    if "facility_id" in sent:
        _check_facility(session, body.facility_id)
        terminal.facility_id = body.facility_id
    if "label" in sent:
        terminal.label = body.label
    audit(
        "admin",
        "terminal",
        terminal_id,
        detail={"op": "update", "fields": sorted(sent)},
        session=session,
    )
    session.commit()
    return TerminalOut.model_validate(terminal)


@router.post(
    "/admin/terminals/{terminal_id}/rotate",
    summary="Rotate a terminal's key (the old key is refused at once)",
)
def rotate_terminal(
    terminal_id: str, user: AdminUser, session: SessionDep, settings: SettingsDep, audit: AuditDep
) -> TerminalKeyOut:
    """A new key (returned this once); requests signed with the old one are 401 from now
    on. A revoked terminal stays revoked (409): register a new id for a new device."""
    terminal = _terminal_or_404(session, terminal_id)
    rotate_key(session, terminal, utcnow())
    audit(
        "admin",
        "terminal",
        terminal_id,
        detail={"op": "rotate", "key_generation": terminal.key_generation},
        session=session,
    )
    session.commit()
    return _with_key(terminal, settings)


@router.post("/admin/terminals/{terminal_id}/revoke", summary="Revoke a terminal")
def revoke_terminal(
    terminal_id: str, user: AdminUser, session: SessionDep, audit: AuditDep
) -> TerminalOut:
    """Refuse the terminal's requests from now on (401). Idempotent; readings it posted
    stay."""
    terminal = _terminal_or_404(session, terminal_id)
    if revoke(session, terminal, utcnow()):
        audit("admin", "terminal", terminal_id, detail={"op": "revoke"}, session=session)
        session.commit()
    return TerminalOut.model_validate(terminal)


@router.get("/admin/terminal-quarantine", summary="Quarantined terminal readings")
def get_terminal_quarantine(
    user: AdminUser,
    session: SessionDep,
    audit: AuditDep,
    terminal_id: Annotated[str | None, Query(max_length=60)] = None,
    reason: Annotated[
        str | None, Query(description=f"One of {', '.join(QUARANTINE_REASONS)}.", max_length=30)
    ] = None,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> TerminalQuarantinePage:
    """Readings that could not be stored, newest first, with their reason and the reading
    as posted (an ID-card number only masked and hashed)."""
    if reason is not None and reason not in QUARANTINE_REASONS:
        raise invalid_field("query.reason", f"must be one of {', '.join(QUARANTINE_REASONS)}")
    rows, total = list_quarantine(
        session, terminal_id=terminal_id, reason=reason, limit=limit, offset=offset
    )
    page = fill_page(
        TerminalQuarantinePage,
        (TerminalQuarantineOut.model_validate(r) for r in rows),
        total=total,
        limit=limit,
        offset=offset,
    )
    audit(
        "read",
        "terminal_quarantine",
        detail={"terminal_id": terminal_id, "reason": reason, "returned": len(page.items)},
        session=session,
    )
    session.commit()
    return page


RecorderOfCards = Annotated[Principal, Depends(require_roles(TEAM_SCOPED_ROLE, "admin"))]


@router.get("/residents/{resident_id}/card-token", summary="A resident's card token")
def get_card_token(
    resident_id: str,
    user: RecorderOfCards,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> CardTokenOut:
    """The token to print on the resident's card (or as a QR code) so terminals can name the
    resident (docs/terminals.md). A doctor for the team's patients; an administrator for
    anyone."""
    if user.role == TEAM_SCOPED_ROLE:
        ensure_resident_for_doctor(user, session, resident_id)
    elif session.get(Resident, resident_id) is None:
        raise NotFound(f"No resident {resident_id}.")
    token = card_token(settings_master(settings), resident_id)
    audit("read", "resident", resident_id, detail={"card_token": True}, session=session)
    session.commit()
    return CardTokenOut(resident_id=resident_id, card_token=token)
