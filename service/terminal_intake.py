"""A terminal's readings: each stored, found stored, or quarantined with its reason.

Not all or nothing: a device that was offline uploads what it kept, and one bad reading
must not hold back the good ones, nor be lost. Every reading is checked on its own:

1. its shape (:class:`~service.schemas.terminals.TerminalReadingIn`): ``malformed``, or
   ``out_of_range`` naming the field (the data contract's ranges; ``dbp`` not below
   ``sbp`` too);
2. its time: more than ``terminals.max_future_seconds`` ahead of the server clock is
   ``future_timestamp``, older than ``terminals.max_age_days`` is ``too_old``; anything in
   between is accepted in any order (devices that were offline);
3. its resident, named by ``resident_id``, ``id_card`` (the keyed hash ingestion stores in
   ``residents.id_hash``; the number itself is never stored or logged) or ``card_token``
   (:func:`service.terminal_auth.check_card_token`): ``unknown_resident``, or
   ``ambiguous_resident`` when an ID-card hash matches several residents;
4. the recording rules of every reading (:func:`service.recording.record_measurement`:
   idempotency, local time, emergencies): the same ``measurement_id`` with the same content
   is ``unchanged``, with different content ``duplicate_conflict``; any other refusal of
   the rules is ``invalid``.

A quarantined reading is a row of ``terminal_quarantine`` with the reading as posted
(``raw``; an ID-card number replaced by its masked form and keyed hash), in the same
transaction as the stored ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InvalidInputError
from pipelines.ingest.ids import mask_id
from service.recording import RecordedReading, bump_reading_teams, record_measurement, to_utc
from service.schemas import MeasurementIn
from service.schemas.terminals import TerminalReadingIn
from service.settings import Settings
from service.terminal_auth import check_card_token
from store.models import Resident
from store.terminals import Terminal, TerminalQuarantine

#: Every reason a reading is quarantined for, and what it means (docs/terminals.md).
QUARANTINE_REASONS: dict[str, str] = {
    "malformed": "Not a reading object, a missing or mistyped field, an unknown field, or"
    " not exactly one of resident_id, id_card, card_token.",
    "out_of_range": "A value outside the data contract's range, or dbp not below sbp"
    " (`field` names it).",
    "future_timestamp": "measured_at is more than terminals.max_future_seconds ahead of the"
    " server clock.",
    "too_old": "measured_at is older than terminals.max_age_days.",
    "unknown_resident": "No resident has this resident_id or ID-card number, or the card"
    " token does not verify.",
    "ambiguous_resident": "The ID-card number matches more than one resident.",
    "duplicate_conflict": "The measurement_id was stored before with different content.",
    "invalid": "Refused by the recording rules for another reason (`detail` says which).",
}
#: An ID-card number (GB 11643) anywhere in a text.
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
#: pydantic's error types that mean "a number outside its range".
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@dataclass
class Outcome:
    """What became of one reading."""

    index: int
    measurement_id: str | None
    status: str  # created | unchanged | quarantined
    reading: RecordedReading | None = None
    reason: str | None = None
    field: str | None = None
    detail: str | None = None
    quarantine: dict[str, Any] | None = None
    quarantine_id: int | None = None


@dataclass
class Intake:
    """The outcomes of one request, and the readings recorded (for announce and audit)."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def recorded(self) -> list[RecordedReading]:
        return [o.reading for o in self.outcomes if o.reading is not None]


class _Quarantined(Exception):
    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.field = reason, detail, field


def id_card_hash(number: str, key: str) -> str:
    """The keyed hash of an ID-card number, exactly as ingestion stores ``residents.id_hash``
    (the number normalised like ``pipelines.ingest.parse.normalise_id_number``: NFKC,
    stripped, upper-case; then ``pipelines.ingest.ids.hash_ids``'s HMAC-SHA256)."""
    normal = unicodedata.normalize("NFKC", number).strip().upper()
    return hmac.digest(key.encode("utf-8"), normal.encode("utf-8"), hashlib.sha256).hex()


def _safe_raw(item: Any, settings: Settings) -> Any:
    """The reading as posted, with an ID-card number only masked and hashed."""
    if not isinstance(item, dict) or "id_card" not in item:
        return item
    raw = dict(item)
    number = raw.pop("id_card")
    if isinstance(number, str):
        raw["id_card_masked"] = mask_id(number)
        raw["id_card_hash"] = id_card_hash(number, settings.ingest.id_hash_key)
    else:
        raw["id_card_masked"] = None
    return raw


def _shape(item: Any) -> TerminalReadingIn:
    if not isinstance(item, dict):
        raise _Quarantined("malformed", "a reading must be a JSON object")
    try:
        return TerminalReadingIn.model_validate(item)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        for e in errors:
            loc = [str(p) for p in e["loc"]]
            if loc[:1] == ["values"] and len(loc) == 2:
                name = loc[1]
                ranged = e["type"] in _RANGE_ERRORS
                if ranged or (name == "dbp" and "lower than sbp" in e["msg"]):
                    raise _Quarantined("out_of_range", f"values.{name}: {e['msg']}", name) from None
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'reading'}: {e['msg']}" for e in errors[:5]
        )
        first = errors[0]["loc"] if errors else ()
        raise _Quarantined("malformed", where, ".".join(str(p) for p in first) or None) from None


def _resident(
    session: Session, reading: TerminalReadingIn, settings: Settings, master: bytes
) -> str:
    if reading.resident_id is not None:
        # The entity, not its id: the emergency check reads it again from the session.
        found = session.get(Resident, reading.resident_id)
        if found is None:
            raise _Quarantined(
                "unknown_resident", "no resident has this resident_id", "resident_id"
            )
        return found.resident_id
    if reading.id_card is not None:
        digest = id_card_hash(reading.id_card, settings.ingest.id_hash_key)
        matches = session.scalars(select(Resident).where(Resident.id_hash == digest).limit(2)).all()
        if not matches:
            raise _Quarantined("unknown_resident", "no resident has this ID-card number", "id_card")
        if len(matches) > 1:
            raise _Quarantined(
                "ambiguous_resident", "the ID-card number matches several residents", "id_card"
            )
        return matches[0].resident_id
    token = reading.card_token or ""
    check = check_card_token(master, token)
    if check.resident_id is None:
        raise _Quarantined("unknown_resident", str(check.problem), "card_token")
    card_holder = session.get(Resident, check.resident_id)
    if card_holder is None:
        raise _Quarantined(
            "unknown_resident", "no resident has this card's resident_id", "card_token"
        )
    return card_holder.resident_id


def take_readings(
    session: Session,
    items: Sequence[Any],
    terminal: Terminal,
    settings: Settings,
    master: bytes,
    now: dt.datetime,
) -> Intake:
    """Check and record every reading of ``items`` (the JSON objects as posted).

    Leaves the commit to the caller (the readings, the quarantine rows and the caller's
    audit record commit together). The quarantine rows are added here.
    """
    cfg = settings.terminals
    future = dt.timedelta(seconds=cfg.max_future_seconds)
    oldest = now - dt.timedelta(days=cfg.max_age_days)
    intake = Intake()
    seen: dict[str, RecordedReading] = {}
    for index, item in enumerate(items):
        raw_id = item.get("measurement_id") if isinstance(item, dict) else None
        mid = raw_id[:100] if isinstance(raw_id, str) else None
        try:
            reading = _shape(item)
            try:
                at = to_utc(reading.measured_at, settings.rules.timezone)
            except (OverflowError, ValueError):
                raise _Quarantined(
                    "malformed", "measured_at is out of range", "measured_at"
                ) from None
            if at > now + future:
                raise _Quarantined(
                    "future_timestamp",
                    f"measured_at is more than {cfg.max_future_seconds} s ahead of the server"
                    " clock (terminals.max_future_seconds): check the device's clock",
                    "measured_at",
                )
            if at < oldest:
                raise _Quarantined(
                    "too_old",
                    f"measured_at is more than {cfg.max_age_days} days old"
                    " (terminals.max_age_days)",
                    "measured_at",
                )
            resident_id = _resident(session, reading, settings, master)
            body = MeasurementIn(
                measurement_id=reading.measurement_id,
                resident_id=resident_id,
                measured_at=reading.measured_at,
                device_id=terminal.terminal_id,
                facility_id=terminal.facility_id,
                **reading.values.model_dump(),
            )
            try:
                recorded = record_measurement(
                    session, body, f"readings.{index}", settings.rules, now, seen, skew=future
                )
            except ConflictError as exc:
                raise _Quarantined(
                    "duplicate_conflict", str(exc.detail), "measurement_id"
                ) from None
            except InvalidInputError as exc:
                raise _Quarantined("invalid", str(exc.detail or exc)) from None
        except _Quarantined as q:
            intake.outcomes.append(
                Outcome(
                    index,
                    mid,
                    "quarantined",
                    reason=q.reason,
                    field=q.field,
                    detail=q.detail,
                    quarantine={
                        "terminal_id": terminal.terminal_id,
                        "received_at": now,
                        "measurement_id": mid,
                        "reason": q.reason,
                        "field": q.field,
                        "detail": q.detail,
                        "raw": _safe_raw(item, settings),
                    },
                )
            )
            continue
        status = "created" if recorded.created else "unchanged"
        intake.outcomes.append(Outcome(index, mid, status, reading=recorded))
    bump_reading_teams(session, seen)
    quarantined = [o for o in intake.outcomes if o.quarantine is not None]
    rows = [o.quarantine for o in quarantined if o.quarantine is not None]
    if rows:
        ids = session.scalars(
            insert(TerminalQuarantine).returning(
                TerminalQuarantine.id, sort_by_parameter_order=True
            ),
            rows,
        ).all()
        for o, qid in zip(quarantined, ids, strict=True):
            o.quarantine_id = int(qid)
    return intake


def quarantine_whole_body(
    session: Session, terminal_id: str, body: bytes, detail: str, now: dt.datetime
) -> int:
    """Quarantine a body that is no JSON reading or batch at all (``malformed``); its id.

    The body is kept as text (at most 64 KiB): it may hold readings someone must look at.
    """
    text = body[: 64 * 1024].decode("utf-8", errors="replace")
    # Whatever looks like an ID-card number is kept only masked (never in clear).
    text = _ID_NUMBER.sub(lambda m: str(mask_id(m.group(0))), text)
    row = TerminalQuarantine(
        terminal_id=terminal_id,
        received_at=now,
        measurement_id=None,
        reason="malformed",
        field=None,
        detail=detail,
        raw={"body": text},
    )
    session.add(row)
    session.flush()
    return int(row.id)
