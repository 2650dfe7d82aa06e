"""Validated chunks of a file, here or with the row checks on a Dask cluster.

``healthmap ingest --engine dask`` (issue 16 item 2): while this process loads a file's
chunk *n* into the store, Dask workers check the rows of the next chunks — stages 1–7 of
:mod:`pipelines.ingest.validate` (:func:`~pipelines.ingest.validate.check_rows`: encoding,
required cells, parsing, ranges, ID numbers, placement, the county's outline), which need
nothing but the chunk, the time zone and the county's geometry. Stages 8–9 (foreign keys
against the store and the delivery so far, duplicate keys within the file) keep state
from chunk to chunk and run here, in file order, followed by the load. The functions are
the local path's own (``validate_chunk`` is ``check_against(check_rows(...))``), so both
paths give the same rows and the same quarantine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pipelines.ingest.keys import KeySet
from pipelines.ingest.read import RawChunk
from pipelines.ingest.schema import SPECS, TableSpec
from pipelines.ingest.validate import (
    Context,
    Outcome,
    RowChecks,
    RowContext,
    check_against,
    check_rows,
    validate_chunk,
)

if TYPE_CHECKING:
    from distributed import Client

#: Chunks checked ahead on the workers: enough to keep two workers busy while this
#: process loads one, few enough to bound memory (this many chunks of ``chunk_rows``).
IN_FLIGHT = 4


def check_rows_of(table: str, chunk: RawChunk, ctx: RowContext) -> RowChecks:
    """:func:`~pipelines.ingest.validate.check_rows` on a worker, given the table's name.

    The contract is looked up there rather than sent: its parsers compare enumerations by
    identity (``col.enum is SEX``), which a pickled copy of the spec would fail, and sex
    would come back as objects instead of ``Int64``.
    """
    return check_rows(SPECS[table], chunk, ctx)


def validated(
    spec: TableSpec,
    chunks: Iterable[RawChunk],
    ctx: Context,
    seen: KeySet,
    file_keys: KeySet | None,
    client: Client | None = None,
) -> Iterator[tuple[RawChunk, Outcome]]:
    """Each chunk of a file with its outcome, in file order.

    Parameters
    ----------
    spec : TableSpec
        The file's table.
    chunks : iterable of RawChunk
        The file's chunks as read.
    ctx : Context
        The store context (known keys, the county, resident lookups).
    seen, file_keys : KeySet
        The file's keys so far (see :func:`pipelines.ingest.validate.validate_chunk`).
    client : distributed.Client, optional
        Check rows on its workers, :data:`IN_FLIGHT` chunks ahead; None: here.
    """
    if client is None:
        for chunk in chunks:
            yield chunk, validate_chunk(spec, chunk, ctx, seen, file_keys)
        return
    # The county's outline goes to the workers once per file, and only for a table with
    # coordinates (building it before the areas are loaded would find no county).
    geo = ctx.geo if {"lat", "lng"} <= set(spec.names) else None
    # hash=False: a key of its own per file (two files with equal contexts would share one
    # key, and the first file releasing it could pull it from under the second).
    row_ctx = client.scatter(RowContext(ctx.timezone, geo), broadcast=True, hash=False)
    window: deque[tuple[RawChunk, Any]] = deque()
    for chunk in chunks:
        task = client.submit(check_rows_of, spec.name, chunk, row_ctx, pure=False)
        window.append((chunk, task))
        if len(window) > IN_FLIGHT:
            done, future = window.popleft()
            yield done, check_against(spec, done, future.result(), ctx, seen, file_keys)
    while window:
        done, future = window.popleft()
        yield done, check_against(spec, done, future.result(), ctx, seen, file_keys)
