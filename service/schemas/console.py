"""The chronic-disease centre's console: its township's grids, changes, teams and runs."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from service.schemas.common import _Out


class ChangeRow(_Out):
    """One indicator of one unit: last month-end against D (RULES.md "Change monitoring")."""

    indicator: str = Field(description="A rate indicator (vocabulary `indicators`).")
    prev_numerator: float | None
    prev_denominator: float | None
    prev_rate: float | None = Field(description="Fraction (0–1) at the previous month-end.")
    numerator: float | None
    denominator: float | None
    rate: float | None = Field(description="Fraction (0–1) at D.")
    difference: float | None = Field(description="rate − prev_rate.")
    z: float | None = Field(description="Pooled two-proportion z (null: not tested).")
    p: float | None = Field(description="Two-sided p-value.")
    q: float | None = Field(description="Benjamini–Hochberg q over the township's family.")
    tested: bool = Field(description="Both denominators ≥ k and both numerators shown.")
    flag: str = Field(description="`up`, `down` or `none` (vocabulary `change_flags`).")
    suppression_reason: str | None = Field(
        description="Why D's rate is withheld (small numbers), if it is."
    )


class ConsoleGrid(_Out):
    grid_id: str
    name: str | None
    team_id: str | None
    health_index: float | None = Field(description="Grid health index at D (0–100).")
    health_index_prev: float | None = Field(description="At the previous month-end.")
    changes: list[ChangeRow]
    flagged: int = Field(description="Rows flagged up or down.")


class ConsoleGrids(_Out):
    """The township's grids with their indicators' change since last month."""

    town_code: str
    town_name: str | None
    center: list[float] | None = Field(description="[lng, lat] of the township's seat.")
    as_of: dt.date = Field(description="D, the current build's as-of date.")
    previous: dt.date | None = Field(description="The previous month-end compared against.")
    suppression_k: int
    fdr: float
    town: list[ChangeRow] = Field(description="The township's own indicators (own family).")
    grids: list[ConsoleGrid]


class HealthIndexPoint(_Out):
    period: dt.date
    value: float | None
    components: dict[str, float | None] = Field(
        description="The seven parts, each 0–100 (`1-followup_overdue_rate` is the complement)."
    )


class GridHealthTrend(_Out):
    """A grid's health index and its seven parts, every built period (oldest first)."""

    grid_id: str
    name: str | None
    components: list[str] = Field(description="The parts, in the configured order.")
    points: list[HealthIndexPoint]


class Backlog(_Out):
    """Open tasks of today's list by days overdue."""

    d0_7: int = Field(description="0–7 days overdue.")
    d8_30: int = Field(description="8–30 days.")
    d31_90: int = Field(description="31–90 days.")
    d91_plus: int = Field(description="More than 90 days.")


class MorningRun(_Out):
    generated: bool = Field(description="The day's 06:00 lists were generated.")
    generated_at: dt.datetime | None
    entries: int = Field(description="The team's entries in the day's snapshot.")
    opened: bool = Field(description="A doctor of the team has fetched its list that day.")
    opened_at: dt.datetime | None


class ConsoleTeam(_Out):
    team_id: str
    name: str
    max_daily_visits: int
    source: str = Field(description="`snapshot` (the 06:00 lists) or `live` (computed now).")
    red: int
    yellow: int
    green: int
    total: int
    visits_yesterday: int = Field(description="Follow-ups dated yesterday of its patients.")
    closed_yesterday: int | None = Field(
        description="Tasks of yesterday's morning list closed yesterday (a follow-up or a"
        " dismissal); null when no list was generated yesterday."
    )
    backlog: Backlog
    run: MorningRun


class ConsoleTeams(_Out):
    town_code: str
    date: dt.date
    teams: list[ConsoleTeam]
