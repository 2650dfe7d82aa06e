"""Recording follow-up visits and terminal readings through the API.

The same rules as a delivered file (``shared/DATA_CONTRACT.md``; the ranges are checked
by the request models in ``service.schemas``), plus what only a live write needs:

* **idempotency** — a client id (``followup_id``, ``measurement_id``) sent again with the
  same content answers with the stored record; with different content it is a 409
  conflict. Without an id the service makes one (then retries create duplicates: clients
  that retry should send their own ids);
* **time** — a reading's ``measured_at`` without an offset is local time (RULES.md time
  zone); it is stored in UTC and ``measured_date`` is its local date. Nothing may be dated
  in the future (a few minutes of clock skew are tolerated);
* **emergencies** — a reading that is an emergency reading (``geo.rules.is_emergency``) for
  one of the patient's managed diseases is flagged; the push lists are computed live, so
  it is a red ``emergency_reading`` task the moment it is committed;
* **the team versions** — a new record bumps the counters of the resident's teams
  (:func:`store.version.bump_team_versions`) in the same transaction, so every
  worker's cached push lists are stale from the commit on (``service.worklists``).

Functions take an open ``Session`` and leave the commit to the caller, so the write and its
audit record commit together.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.rules import RulesConfig, age_on_scalar, classify_visit, is_emergency
from service.errors import Conflict
from service.schemas import FollowupIn, MeasurementIn
from service.shaping import invalid_field
from store.models import ChronicRegistry, Facility, Followup, Measurement, Resident, Staff
from store.types import as_utc
from store.version import bump_team_versions

#: Readings dated up to this far ahead of the server clock are accepted (terminal clocks).
CLOCK_SKEW = dt.timedelta(minutes=10)
#: Nothing is recorded before this date.
EARLIEST = dt.date(2000, 1, 1)

FOLLOWUP_FIELDS = (
    "resident_id",
    "disease",
    "visit_date",
    "method",
    "sbp",
    "dbp",
    "fasting_glucose",
    "heart_rate",
    "weight_kg",
    "height_cm",
    "adherence",
    "adverse_reaction",
    "symptoms",
    "classification",
    "referred",
    "next_visit_date",
    "staff_id",
)
MEASUREMENT_FIELDS = (
    "resident_id",
    "measured_at",
    "device_id",
    "facility_id",
    "sbp",
    "dbp",
    "heart_rate",
    "glucose",
    "glucose_type",
)


def new_id(prefix: str) -> str:
    """A fresh record id for a client that sent none."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
    return bool(a == b)


# ----------------------------------------------------------------------------------------
# Follow-ups
# ----------------------------------------------------------------------------------------
def followup_values(
    body: FollowupIn, resident: Resident, session: Session, rules: RulesConfig, today: dt.date
) -> dict[str, Any]:
    """The row to store for ``body``: checked dates and staff, the classification filled in.

    Raises
    ------
    Invalid
        A visit in the future or before 2000, an unknown ``staff_id`` (422 naming the field).
    """
    if body.visit_date > today:
        raise invalid_field("body.visit_date", "is in the future")
    if body.visit_date < EARLIEST:
        raise invalid_field("body.visit_date", f"is before {EARLIEST}")
    if body.staff_id is not None and session.get(Staff, body.staff_id) is None:
        raise invalid_field("body.staff_id", "unknown staff id")
    values = body.model_dump(exclude={"followup_id"})
    if body.classification is None:
        age = age_on_scalar(resident.birth_date, body.visit_date)
        computed = classify_visit(
            pd.Series([body.disease]),
            pd.Series([age]),
            pd.Series([body.sbp], dtype="float64"),
            pd.Series([body.dbp], dtype="float64"),
            pd.Series([body.fasting_glucose], dtype="float64"),
            pd.Series([bool(body.adverse_reaction)]),
            targets=rules.targets,
        )
        values["classification"] = str(computed.iloc[0])
        values["classification_source"] = "computed"
    else:
        values["classification_source"] = "source"
    return values


def record_followup(
    session: Session,
    body: FollowupIn,
    resident: Resident,
    rules: RulesConfig,
    today: dt.date,
) -> tuple[Followup, bool]:
    """Store a follow-up visit; return it and whether it is new.

    Raises
    ------
    Conflict
        The ``followup_id`` exists with different content.
    """
    values = followup_values(body, resident, session, rules, today)
    followup_id = body.followup_id or new_id("FU")
    existing = session.get(Followup, followup_id)
    if existing is not None:
        if all(_same(getattr(existing, k), values[k]) for k in FOLLOWUP_FIELDS):
            return existing, False
        raise Conflict(f"Follow-up {followup_id} exists with different content.")
    row = Followup(followup_id=followup_id, **values)
    session.add(row)
    session.flush()
    # The resident's teams' cached lists are stale once this commits (no other team's).
    bump_team_versions(session, [row.resident_id])
    return row, True


# ----------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------
@dataclass
class RecordedReading:
    """One posted reading after recording."""

    row: Measurement
    created: bool
    emergency_diseases: list[str] = field(default_factory=list)


def to_utc(value: dt.datetime, timezone: str) -> dt.datetime:
    """An aware UTC instant; a naive value is local time in ``timezone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(dt.UTC)


def measurement_values(
    body: MeasurementIn,
    loc: str,
    session: Session,
    rules: RulesConfig,
    now: dt.datetime,
    skew: dt.timedelta = CLOCK_SKEW,
) -> dict[str, Any]:
    """The row to store for ``body`` (``loc`` names it in errors, e.g. ``body.items.3``);
    ``skew``: how far ahead of ``now`` a reading may be dated."""
    try:
        at = to_utc(body.measured_at, rules.timezone)
    except (OverflowError, ValueError):
        raise invalid_field(f"{loc}.measured_at", "out of range") from None
    if at > now + skew:
        raise invalid_field(f"{loc}.measured_at", "is in the future")
    local = at.astimezone(ZoneInfo(rules.timezone))
    if local.date() < EARLIEST:
        raise invalid_field(f"{loc}.measured_at", f"is before {EARLIEST}")
    if body.facility_id is not None and session.get(Facility, body.facility_id) is None:
        raise invalid_field(f"{loc}.facility_id", "unknown facility id")
    values = body.model_dump(exclude={"measurement_id", "measured_at"})
    values["measured_at"] = at
    values["measured_date"] = local.date()
    return values


def managed_diseases(session: Session, resident_id: str, on: dt.date) -> list[str]:
    """Diseases the resident is a managed patient of on ``on`` (RULES.md)."""
    resident = session.get(Resident, resident_id)
    if resident is None or (resident.status or "active") != "active":
        return []
    rows = session.execute(
        select(
            ChronicRegistry.disease, ChronicRegistry.enrolled_date, ChronicRegistry.closed_date
        ).where(ChronicRegistry.resident_id == resident_id)
    ).all()
    return sorted(
        d for d, enrolled, closed in rows if enrolled <= on and (closed is None or closed > on)
    )


def emergency_diseases(session: Session, row: Measurement, rules: RulesConfig) -> list[str]:
    """The managed diseases for which ``row`` is an emergency reading."""
    diseases = managed_diseases(session, row.resident_id, row.measured_date)
    if not diseases:
        return []
    n = len(diseases)
    flags = is_emergency(
        pd.Series(diseases),
        pd.Series([row.sbp] * n, dtype="float64"),
        pd.Series([row.dbp] * n, dtype="float64"),
        pd.Series([row.glucose] * n, dtype="float64"),
        rules.emergency,
    )
    return [d for d, f in zip(diseases, flags, strict=True) if f]


def record_measurement(
    session: Session,
    body: MeasurementIn,
    loc: str,
    rules: RulesConfig,
    now: dt.datetime,
    seen: dict[str, RecordedReading],
    *,
    skew: dt.timedelta = CLOCK_SKEW,
) -> RecordedReading:
    """Store one reading (or find it stored); nothing is written when it raises.

    ``seen`` holds the readings created so far in this transaction, by id (this adds to
    it); the caller bumps their teams' versions (:func:`bump_reading_teams`).

    Raises
    ------
    Invalid
        A reading in the future (beyond ``skew``), before 2000, or with an unknown facility.
    Conflict
        The ``measurement_id`` exists (or repeats in the request) with different content.
    """
    values = measurement_values(body, loc, session, rules, now, skew)
    mid = body.measurement_id or new_id("MS")
    previous = seen.get(mid)
    existing = previous.row if previous is not None else session.get(Measurement, mid)
    if existing is not None:
        stored = {k: getattr(existing, k) for k in MEASUREMENT_FIELDS}
        stored["measured_at"] = as_utc(stored["measured_at"])
        if not all(_same(stored[k], values[k]) for k in MEASUREMENT_FIELDS):
            raise Conflict(f"Measurement {mid} exists with different content.")
        reading = RecordedReading(existing, created=False)
    else:
        row = Measurement(measurement_id=mid, **values)
        session.add(row)
        session.flush()
        reading = RecordedReading(row, created=True)
        seen[mid] = reading
    reading.emergency_diseases = emergency_diseases(session, reading.row, rules)
    return reading


def bump_reading_teams(session: Session, seen: dict[str, RecordedReading]) -> None:
    """Bump the versions of the teams of the residents of the readings created (``seen``)."""
    if seen:
        # The cached lists of the readings' residents' teams are stale once this commits.
        bump_team_versions(session, sorted({r.row.resident_id for r in seen.values()}))


def record_measurements(
    session: Session,
    items: Sequence[MeasurementIn],
    rules: RulesConfig,
    *,
    locs: Sequence[str],
    now: dt.datetime | None = None,
) -> list[RecordedReading]:
    """Store readings (all or, on any error, none: the caller rolls back).

    Raises
    ------
    Invalid
        A reading in the future, before 2000, or with an unknown facility.
    Conflict
        A ``measurement_id`` exists (or repeats in the request) with different content.
    """
    now = now or dt.datetime.now(dt.UTC)
    seen: dict[str, RecordedReading] = {}
    out = [
        record_measurement(session, body, loc, rules, now, seen)
        for body, loc in zip(items, locs, strict=True)
    ]
    bump_reading_teams(session, seen)
    return out
