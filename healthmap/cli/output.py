"""Where the commands write: ``console`` (messages, stderr) and ``out`` (results, stdout)."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console(soft_wrap=True)


def emit_frame(frame: Any, fmt: str, *, title: str | None = None) -> None:
    """Print a DataFrame as csv, json (records) or a rich table."""
    if fmt == "csv":
        # Cells a spreadsheet would run as formulas are neutralised, as in the API's exports.
        from service.shaping import neutralise_frame

        sys.stdout.write(neutralise_frame(typed_frame(frame)).to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    elif fmt == "table":
        print_table(typed_frame(frame), title=title)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}; use csv, json or table")


#: Decimals coordinates keep: 5 ≈ 1 m, as precise as a delivered point needs.
COORD_DECIMALS = 5
_COORD_COLUMNS = ("lat", "lng", "lon", "latitude", "longitude")


def is_coordinate(column: object) -> bool:
    """Whether a column holds latitudes or longitudes (``lat``, ``home_lng``, …)."""
    name = str(column).lower()
    return any(name == c or name.endswith(f"_{c}") for c in _COORD_COLUMNS)


def typed_frame(frame: Any, *, coord_decimals: int = COORD_DECIMALS) -> Any:
    """``frame`` as a reader expects its types: whole numbers as integers (sex ``1``, not
    ``1.0``; pandas turns an integer column with a gap into floats), dates as ISO dates
    (no ``00:00:00``), coordinates rounded to ``coord_decimals``."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if is_coordinate(column) and pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype(float).round(coord_decimals)
        elif pd.api.types.is_float_dtype(values):
            present = values.dropna()
            if len(present) and (present == present.round()).all() and present.abs().max() < 2**53:
                out[column] = values.astype("Int64")
        elif pd.api.types.is_datetime64_any_dtype(values):
            present = values.dropna()
            if len(present) and (present == present.dt.normalize()).all():
                out[column] = values.dt.strftime("%Y-%m-%d").where(values.notna(), None)
    return out


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def print_table(frame: Any, *, title: str | None = None) -> None:
    """A rich table that wraps rather than cuts: codes and numbers are never broken or
    shortened; text wraps at its spaces; when the columns cannot fit the terminal side by
    side, each row is printed as a block of ``column  value`` lines instead."""
    from rich.box import SIMPLE
    from rich.cells import cell_len

    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    table = Table(title=title, box=SIMPLE)
    needed = 2  # the table's edges
    for i, col in enumerate(frame.columns):
        # A cell without spaces (a code, a number, a date, a Chinese name) stays whole; a
        # cell with spaces may wrap at them, so its longest word is what it needs.
        whole = all(" " not in r[i] for r in rows)
        words = [str(col)] + [w for r in rows for w in (r[i].split() if not whole else [r[i]])]
        longest = max(cell_len(w) for w in words)
        table.add_column(
            str(col), no_wrap=whole, overflow="fold", min_width=longest if whole else None
        )
        needed += longest + 2  # cell padding and the column separator
    for row in rows:
        table.add_row(*row)
    if needed <= out.width:
        out.print(table, soft_wrap=False)
        return
    if title:
        out.print(f"[bold]{title}[/bold]", soft_wrap=False)
    for n, row in enumerate(rows, start=1):
        block = Table(box=None, show_header=False, padding=(0, 1), title=f"#{n}")
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for col, value in zip(frame.columns, row, strict=True):
            block.add_row(str(col), value)
        out.print(block, soft_wrap=False)
