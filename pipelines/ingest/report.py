"""What an ingest reports: per file, per table and for the whole delivery."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class FileReport(BaseModel):
    """What happened to one delivered file."""

    file: str
    table: str
    sha256: str | None = None
    status: Literal["loaded", "already_loaded", "rejected", "failed"] = "loaded"
    encoding: str | None = None
    read: int = 0
    loaded: int = Field(0, description="Rows inserted (keys new to the store).")
    updated: int = Field(0, description="Existing rows whose content changed.")
    unchanged: int = Field(0, description="Good rows identical to the stored ones.")
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class RejectedFile(BaseModel):
    """A file that was not loaded: rejected as a whole, or failed while loading."""

    file: str
    status: Literal["rejected", "failed"]
    reason: str


class TableSummary(BaseModel):
    """The files of one table: rows read, loaded, updated, unchanged and quarantined."""

    files: int = 0
    read: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = Field(default_factory=dict)
    already_loaded_files: int = 0
    rejected_files: list[RejectedFile] = Field(default_factory=list)
    seconds: float = 0.0


class SkippedReport(BaseModel):
    """A file in the folder that is not part of the delivery, and why."""

    file: str
    reason: str


class IngestSummary(BaseModel):
    """The result of one ingest (JSON-able: ``summary.model_dump(mode='json')``)."""

    batch_id: int
    folder: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    seconds: float = 0.0
    tables: dict[str, TableSummary] = Field(default_factory=dict)
    files: list[FileReport] = Field(default_factory=list)
    skipped: list[SkippedReport] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def read(self) -> int:
        """Rows read, all tables."""
        return sum(t.read for t in self.tables.values())

    @property
    def loaded(self) -> int:
        """Rows inserted, all tables."""
        return sum(t.loaded for t in self.tables.values())

    @property
    def updated(self) -> int:
        """Rows updated, all tables."""
        return sum(t.updated for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        """Rows quarantined, all tables."""
        return sum(t.quarantined for t in self.tables.values())

    @property
    def rejected(self) -> list[RejectedFile]:
        """The files rejected or failed, all tables."""
        return [r for t in self.tables.values() for r in t.rejected_files]
