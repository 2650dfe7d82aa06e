"""What happens when a new emergency reading is recorded, wherever it came from.

Every path that records readings (a doctor's or service account's ``POST
/api/v1/measurements``, a terminal's ``POST /api/v1/terminal/readings``) calls
:func:`announce` inside its transaction, before the commit, with the readings it newly
stored. The red ``emergency_reading`` task needs nothing here (push lists are computed
live from the committed reading); what is announced is for the people and systems that
must hear of it at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from geo.vocabulary import EMERGENCY_READING
from service.live import publish_emergency
from service.outbox import wake_after_commit
from service.recording import RecordedReading
from service.scope import managing_team
from store.outbox import enqueue

#: The outbox kind (and key prefix) of an emergency reading's webhook call.
WEBHOOK_KIND = EMERGENCY_READING


def _utc(t: dt.datetime) -> dt.datetime:
    # SQLite keeps no offset; what it holds is UTC.
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def webhook_payload(session: Session, r: RecordedReading) -> dict[str, Any]:
    """The webhook's JSON for one emergency reading: ids and values, nothing personal
    (no name, phone or address: the receiver looks the patient up in its own system)."""
    m = r.row
    return {
        "event": EMERGENCY_READING,
        "measurement_id": m.measurement_id,
        "resident_id": m.resident_id,
        "diseases": r.emergency_diseases,
        "teams": sorted(
            {t for d in r.emergency_diseases if (t := managing_team(session, m.resident_id, d))}
        ),
        "measured_at": _utc(m.measured_at).isoformat(),
        "measured_date": m.measured_date.isoformat(),
        "sbp": m.sbp,
        "dbp": m.dbp,
        "heart_rate": m.heart_rate,
        "glucose": m.glucose,
        "glucose_type": m.glucose_type,
    }


def announce(
    session: Session, recorded: Sequence[RecordedReading], *, webhook_url: str | None = None
) -> list[dict[str, Any]]:
    """Announce the newly recorded emergency readings among ``recorded`` (call before the
    commit, in the recording transaction). Returns the webhook payloads.

    With a ``webhook_url`` (``service.emergency_webhook_url``) each reading's payload is
    also put in the outbox (``store.outbox``), in this transaction: a committed reading is
    a committed message, delivered by ``service.outbox`` once per reading (key
    ``emergency_reading:<measurement_id>``). Without one nothing is queued: a URL set later
    applies to readings recorded after it.
    """
    payloads = [webhook_payload(session, r) for r in recorded if r.created and r.emergency_diseases]
    for payload in payloads:
        publish_emergency(session, payload)  # the open pages (service.live)
    if webhook_url and payloads:
        now = dt.datetime.now(dt.UTC)
        for payload in payloads:
            enqueue(
                session,
                key=f"{WEBHOOK_KIND}:{payload['measurement_id']}",
                kind=WEBHOOK_KIND,
                target=webhook_url,
                payload=payload,
                now=now,
            )
        wake_after_commit(session)  # this process's delivery worker, at once
    return payloads
