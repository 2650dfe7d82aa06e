"""Smart terminals: a device's readings and their outcomes, the registry, the quarantine.

A terminal's reading is checked one by one (``service.terminal_intake``): a reading that
fails :class:`TerminalReadingIn` is quarantined with its reason, it does not fail the
request. Ranges come from the data contract's table, as for every other recorded value.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from service.schemas.common import Id40, Id60, Moment, Page, _Out, _Strict
from service.schemas.records import ReadingValues
from service.terminal_auth import TERMINAL_ID_PATTERN

TerminalId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=f"^{TERMINAL_ID_PATTERN.pattern}$")
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


#: The ways a reading may name its resident (exactly one per reading).
RESIDENT_KEYS = ("resident_id", "id_card", "card_token")


class TerminalReadingIn(_Strict):
    """One reading of a terminal. The resident is named by exactly one of ``resident_id``,
    ``id_card`` (the ID-card number, matched by its keyed hash, never stored) or
    ``card_token`` (printed on the resident's card, docs/terminals.md)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "measurement_id": "TM0001-20261207-0001",
                    "measured_at": "2026-12-07T09:30:00+08:00",
                    "card_token": "R000123.3kq0m2v9xZfA1b_c",
                    "values": {"sbp": 142, "dbp": 88, "heart_rate": 72},
                }
            ]
        }
    )

    measurement_id: Id60 = Field(description="The terminal's id of the reading (idempotency).")
    measured_at: Moment = Field(
        description="ISO 8601; without an offset it is local time (Asia/Shanghai)."
    )
    resident_id: Id40 | None = None
    id_card: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    card_token: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    values: ReadingValues

    @model_validator(mode="after")
    def _one_resident_key(self) -> TerminalReadingIn:
        given = [k for k in RESIDENT_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "name the resident by exactly one of resident_id, id_card, card_token"
                f" (got {len(given)})"
            )
        return self


class TerminalBatchIn(_Strict):
    """A batch of readings (at most 500)."""

    readings: list[TerminalReadingIn]


Outcome = Literal["created", "unchanged", "quarantined"]


class TerminalReadingResult(_Out):
    """What became of one posted reading (in the order posted)."""

    index: int = Field(description="Position in the batch (0 for a single reading).")
    measurement_id: str | None
    status: Outcome
    resident_id: str | None = Field(None, description="The resident matched (not quarantined).")
    emergency: bool = False
    emergency_diseases: list[str] = Field(default_factory=list)
    reason: str | None = Field(None, description="Why it was quarantined (docs/terminals.md).")
    field: str | None = Field(None, description="The field at fault, when one is.")
    detail: str | None = None
    quarantine_id: int | None = None


class TerminalReadingsOut(_Out):
    """The outcome of every reading: stored, stored before, or quarantined with a reason."""

    terminal_id: str
    created: int
    unchanged: int
    quarantined: int
    emergencies: int
    items: list[TerminalReadingResult]


# ----------------------------------------------------------------------------------------
# The registry (admin)
# ----------------------------------------------------------------------------------------
class TerminalIn(_Strict):
    """A terminal to register."""

    terminal_id: TerminalId = Field(
        description="1–60 of A-Z a-z 0-9 . _ - (first: a letter or digit)."
    )
    facility_id: Id40 | None = Field(None, description="The facility it stands in (or serves).")
    label: Label | None = None


class TerminalPatch(_Strict):
    """Bind a terminal to a facility (``null`` unbinds) and/or change its label."""

    facility_id: Id40 | None = None
    label: Label | None = None


class TerminalOut(_Out):
    terminal_id: str
    facility_id: str | None
    label: str | None
    status: Literal["active", "revoked"]
    key_generation: int
    created_at: dt.datetime
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_seen_at: dt.datetime | None


class TerminalKeyOut(TerminalOut):
    """A terminal and its current key: shown this once (it can be derived again only by
    rotating, which also replaces it)."""

    key: str


class TerminalPage(Page[TerminalOut]):
    """A page of terminals, by id."""


class TerminalQuarantineOut(_Out):
    id: int
    terminal_id: str
    received_at: dt.datetime
    measurement_id: str | None
    reason: str
    field: str | None
    detail: str | None
    raw: Any = Field(
        description="The reading as posted (an ID-card number only masked and hashed)."
    )


class TerminalQuarantinePage(Page[TerminalQuarantineOut]):
    """A page of quarantined terminal readings, newest first."""


class CardTokenOut(_Out):
    resident_id: str
    card_token: str = Field(description="Print it on the resident's card or as a QR code.")
