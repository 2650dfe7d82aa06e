"""Vectorised parsing and validation of one chunk of a delivered table.

A chunk of text cells (:class:`pipelines.ingest.read.RawChunk`) becomes typed good rows plus
quarantine rows. Each bad row is quarantined once, with the first failing check in the
order of :data:`pipelines.ingest.schema.REASONS`:

``bad_encoding`` → ``missing_required`` → ``unparseable`` → ``out_of_range`` →
``id_checksum`` → ``id_mismatch`` → ``outside_county`` → ``unknown_fk`` → ``duplicate_key``.

Within a stage the columns are checked in the contract's column order. Everything is
column-at-a-time pandas/numpy; values are parsed once per distinct value (``factorize``),
which makes dates, enums and timestamps cheap on millions of rows. Python loops only run
over rows already known bad (to build their quarantine records) and over ID numbers (HMAC).

The stages are named steps: :mod:`pipelines.ingest.row_checks` (1–6, what a row says by
itself: encoding, required cells, parsing, ranges, ID numbers) and
:mod:`pipelines.ingest.cross_checks` (7–9, the row against the county, the store and its
file); the parsers are in :mod:`pipelines.ingest.parse`, ID numbers in
:mod:`pipelines.ingest.ids`, keys in :mod:`pipelines.ingest.keys`, the flags and the
quarantine rows in :mod:`pipelines.ingest.flags`. This module assembles them and is where
the rest of the ingestion imports them from.

Typed output columns: codes and text ``object`` (None when empty), ``int`` ``Int64``,
``float`` ``float64``, ``date`` naive ``datetime64[ns]`` (local date), ``timestamp``
``datetime64[ns, UTC]``, ``bool`` ``boolean``, sex ``Int64``, ``wkt`` shapely geometries.
Coordinates come out in WGS84 (converted from ``coord_sys``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from geo.geocode import GeoContext
from pipelines.ingest.cross_checks import (
    flag_duplicate_keys,
    flag_outside_county,
    flag_unknown_references,
    place_rows,
)
from pipelines.ingest.flags import QUARANTINE_COLUMNS, Flags, quarantine_frame
from pipelines.ingest.ids import hash_ids, id_number_valid, mask_id, mask_ids
from pipelines.ingest.keys import KeySet, key_strings
from pipelines.ingest.parse import (
    normalise_id_number,
    parse_bool,
    parse_date,
    parse_enum,
    parse_float,
    parse_h3,
    parse_int,
    parse_str,
    parse_timestamp,
    parse_wkt,
)
from pipelines.ingest.read import RawChunk
from pipelines.ingest.row_checks import (
    clean_cells,
    flag_bad_encoding,
    flag_id_numbers,
    flag_missing_required,
    flag_out_of_range,
    parse_columns,
)
from pipelines.ingest.schema import TableSpec

__all__ = [
    "QUARANTINE_COLUMNS",
    "Context",
    "Flags",
    "KeySet",
    "Outcome",
    "RowChecks",
    "RowContext",
    "check_against",
    "check_rows",
    "hash_ids",
    "id_number_valid",
    "key_strings",
    "local_date",
    "mask_id",
    "mask_ids",
    "normalise_id_number",
    "parse_bool",
    "parse_date",
    "parse_enum",
    "parse_float",
    "parse_h3",
    "parse_int",
    "parse_str",
    "parse_timestamp",
    "parse_wkt",
    "today",
    "validate_chunk",
]


class RowsContext(Protocol):
    """What stages 1–7 need: the time zone and the county's outline."""

    @property
    def timezone(self) -> str:
        """The county's time zone (local dates)."""
        ...

    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        """Which points lie farther outside the county than allowed (None: no county yet)."""
        ...


class Context(RowsContext, Protocol):
    """What validation needs from the store and the delivery so far."""

    id_hash_key: bytes

    @property
    def geo(self) -> GeoContext:
        """The county's areas and outline (built from the store on first use)."""
        ...

    def known(self, ref: str) -> pd.Index:
        """The keys of table ``ref`` known so far (store and delivery)."""
        ...

    def resident_for_hash(self, hashes: pd.Series) -> pd.Series:
        """The resident_id of each ID-number hash (missing where none)."""
        ...


@dataclass
class Outcome:
    """What validating a chunk gives: typed good rows, quarantine rows, the good keys."""

    good: pd.DataFrame
    quarantine: pd.DataFrame
    keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


@dataclass
class RowChecks:
    """What stages 1–7 make of a chunk: its typed columns and the flags so far."""

    df: pd.DataFrame
    flags: Flags


@dataclass(frozen=True)
class RowContext:
    """What stages 1–7 need of the context, and nothing else.

    Picklable, so that a Dask worker can check rows (``healthmap ingest --engine dask``)
    while this process loads.
    """

    timezone: str
    geo: GeoContext | None = None

    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        """As :meth:`Context.outside` (None: no county geometry yet)."""
        return None if self.geo is None else self.geo.outside(lng, lat)


def check_rows(spec: TableSpec, chunk: RawChunk, ctx: RowsContext) -> RowChecks:
    """Stages 1–7: what each row says by itself, and the row against the county's outline.

    Needs only ``ctx.timezone`` and ``ctx.outside``: it runs in this process or on a Dask
    worker (:class:`RowContext`), the same code either way.
    """
    raw = chunk.data
    flags = Flags(len(raw))
    flag_bad_encoding(chunk, flags)
    clean, empty = clean_cells(raw)
    flag_missing_required(spec, raw, empty, flags)
    df = parse_columns(spec, raw, clean, empty, flags, ctx.timezone)
    flag_out_of_range(spec, raw, df, flags)
    flag_id_numbers(spec, raw, df, flags)
    place_rows(spec, raw, df)
    flag_outside_county(raw, df, flags, ctx)
    return RowChecks(df, flags)


def check_against(
    spec: TableSpec,
    chunk: RawChunk,
    rows: RowChecks,
    ctx: Context,
    seen_keys: KeySet,
    file_keys: KeySet | None = None,
) -> Outcome:
    """Stages 8–9 (the row against the store and the rest of its file), then the outcome.

    Runs in this process, chunk after chunk in file order: the keys seen so far are
    state.
    """
    raw, df, flags = chunk.data, rows.df, rows.flags
    flag_unknown_references(spec, raw, df, flags, ctx, file_keys)
    keys = flag_duplicate_keys(spec, raw, df, flags, seen_keys)
    # The outcome: good rows typed, bad rows as quarantine rows.
    ok = flags.ok
    quarantine = quarantine_frame(chunk, flags, np.flatnonzero(~ok))
    return Outcome(good=df[ok], quarantine=quarantine, keys=keys[ok])


def validate_chunk(
    spec: TableSpec,
    chunk: RawChunk,
    ctx: Context,
    seen_keys: KeySet,
    file_keys: KeySet | None = None,
) -> Outcome:
    """Parse and validate one chunk.

    The stages run in the order of :data:`pipelines.ingest.schema.REASONS`; a row is
    quarantined for the first one it fails (:func:`check_rows`, then
    :func:`check_against`).

    Parameters
    ----------
    spec : TableSpec
        The table's contract.
    chunk : RawChunk
        The chunk's text cells, as read.
    ctx : Context
        Known keys (store + this delivery), the county geometry, the ID-hash resolver.
    seen_keys : KeySet
        Keys of this file's earlier chunks (duplicate detection); the chunk's good keys are
        added to it.
    file_keys : KeySet, optional
        Keys of this file seen so far (any row that passed the checks before the foreign-key
        stage), for self-references such as ``areas.parent_code``; kept only for a table
        that has one.

    Returns
    -------
    Outcome
        The good rows, typed, with their keys; the quarantine rows of the others.
    """
    return check_against(spec, chunk, check_rows(spec, chunk, ctx), ctx, seen_keys, file_keys)


def local_date(ts: pd.Series, tz: str) -> pd.Series:
    """Local calendar date (naive midnight) of UTC timestamps."""
    return ts.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


def today() -> dt.date:  # pragma: no cover - convenience
    """Today's date (the machine's)."""
    return dt.date.today()
