"""Turning frames and store values into JSON-ready Python, and the service's date rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi import Query
from sqlalchemy import Engine

from geo.vocabulary import TEAM_SCOPED_ROLE
from service.errors import Conflict, Invalid

# The bounds' home is service.schemas.common (the request types use them).
from service.schemas.common import MAX_DATE, MIN_DATE


def clean(value: Any) -> Any:
    """One cell as plain JSON-able Python: NaN/NA/NaT → None, numpy scalars → Python."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame, date_columns: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts of plain values; ``date_columns`` become ``date``s.

    Converted a column at a time (:func:`column_values`): ``DataFrame.to_dict`` boxes
    every cell and :func:`clean` then inspects it, ~16 ms for a team's list of 500 rows
    that a doctor's page rereads after every visit; by column it is ~4 ms.
    """
    dates = set(date_columns)
    names = [str(c) for c in frame.columns]
    columns = [
        column_values(frame.iloc[:, i], as_dates=name in dates) for i, name in enumerate(names)
    ]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def column_values(column: pd.Series, *, as_dates: bool = False) -> list[Any]:
    """One column as plain Python values, as :func:`clean` makes each cell.

    ``as_dates``: datetimes become ``date``s (a tz-naive datetime64 column is cut to days
    by numpy, which also turns NaT into None).
    """
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return [None if v != v else v for v in column.to_numpy().tolist()]  # NaN → None
        if dtype.kind in "iub":
            return column.to_numpy().tolist()
        if dtype.kind == "M" and as_dates:
            return column.to_numpy().astype("datetime64[D]").tolist()
    values = [clean(v) for v in column.tolist()]
    if as_dates:
        return [v.date() if isinstance(v, dt.datetime) else v for v in values]
    return values


def local_today(timezone: str) -> dt.date:
    """Today in the county's time zone (the default day D)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


def check_date(value: dt.date, field: str) -> dt.date:
    """422 (naming ``field``) for a date outside :data:`MIN_DATE` … :data:`MAX_DATE`."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise Invalid(
            f"{field}: must be between {MIN_DATE} and {MAX_DATE}.",
            extra={"errors": [{"loc": field, "msg": "date out of range", "type": "date_range"}]},
        )
    return value


#: How far before the current build's D a new build may go without ``force``: a month's
#: correction is routine; a build years back (a typo such as 1999) would replace every
#: map and list with stale figures.
MAX_BUILD_REWIND_DAYS = 31


def check_build_date(engine: Engine, when: dt.date, *, force: bool = False) -> None:
    """Refuse (409) a build for ``when`` far older than the current build's D.

    Building makes the new build current for every reader, so an admin who builds for a
    D more than :data:`MAX_BUILD_REWIND_DAYS` before the current one must say so
    (``force``: ``?force=true`` on the API, ``--force`` on the command line). The first
    build, and any later D, need nothing.
    """
    from store.queries import NoBuildError, current_build

    if force:
        return
    try:
        current: dt.date = current_build(engine)["as_of"]
    except NoBuildError:
        return
    if (current - when).days > MAX_BUILD_REWIND_DAYS:
        raise Conflict(
            f"The current build is for {current}; a build for {when} would replace it with"
            f" one {(current - when).days} days older. Repeat with force to do it anyway."
        )


def invalid_field(field: str, message: str, kind: str = "value_error") -> Invalid:
    """A 422 problem naming the field, shaped like FastAPI's own validation problems."""
    return Invalid(
        f"{field}: {message}", extra={"errors": [{"loc": field, "msg": message, "type": kind}]}
    )


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a UTF-8 byte-order mark, so Excel (as used in Chinese offices) reads it."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_value(row.get(c)) for c in columns])
    return buf.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return neutralise_cell(value)


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV
#: injection"): ``=HYPERLINK(…)`` in a resident's name would run when the export opens.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with one of
    :data:`FORMULA_STARTS` gets a leading ``'`` (``=HYPERLINK(…)`` → ``'=HYPERLINK(…)``).

    The one function of every CSV export, the API's (:func:`csv_text`) and the command
    line's (``healthmap.cli.output.emit_frame``). Numbers are left alone (``-3`` is a
    number, not a formula); full-width ``＝＋－＠`` count, as Chinese input methods type them
    and Excel reads them as formulas in some locales.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`neutralise_cell` applied to every text cell (a copy)."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    out = frame.copy()
    for column in text:
        out[column] = frame[column].map(neutralise_cell, na_action="ignore")
    return out


#: Longest reason a centre may give to unmask names and phones.
MAX_REASON = 200

#: ``unmask`` and ``reason`` of the lists a chronic-disease centre may unmask (push lists,
#: vaccination targets): one wording and one rule for both.
UnmaskQuery = Annotated[
    bool,
    Query(
        description="Chronic-disease centre only: names and phones in full, for a reason"
        " (required; audited with the listed resident ids). A doctor always sees them."
    ),
]
ReasonQuery = Annotated[
    str | None,
    Query(
        min_length=4,
        max_length=MAX_REASON,
        description="Why the centre needs the names and phones (with `unmask=true`).",
        examples=["电话随访失访患者"],
    ),
]


def masking(role: str, unmask: bool, reason: str | None) -> tuple[bool, bool]:
    """``(masked, unmasked_by_centre)`` for a caller of a personal list.

    A doctor sees its own team's names and phones; anyone else sees them masked unless it
    asks with ``unmask`` and a non-blank ``reason`` (422 without one).
    """
    masked = role != TEAM_SCOPED_ROLE
    unmasked_by_centre = masked and unmask
    if unmasked_by_centre:
        if reason is None or not reason.strip():
            raise invalid_field("query.reason", "a reason is required to unmask", "missing")
        masked = False
    return masked, unmasked_by_centre
