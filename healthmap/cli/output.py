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
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    elif fmt == "table":
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(str(col))
        # pandas 3 keeps missing values as NaN floats through astype(str); rich needs text.
        text = frame.astype(object).where(frame.notna(), "").astype(str)
        for row in text.itertuples(index=False):
            table.add_row(*row)
        out.print(table)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}; use csv, json or table")
