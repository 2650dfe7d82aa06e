"""Ingesting a delivery folder into the store (the orchestrator).

``ingest_delivery(folder, engine, settings, rules)`` finds the delivered files
(:mod:`pipelines.ingest.read`), loads them table by table in ``models.CONTRACT_TABLES`` order,
each file in one transaction: read in chunks → validate (:mod:`pipelines.ingest.validate`) →
derive placement and other derived columns (:mod:`geo.geocode`) → upsert
(:mod:`pipelines.load`) + quarantine rows + the file's ``ingest_files`` record. A file
whose sha256 is already recorded as loaded is skipped, so ingesting the same folder twice
changes nothing. Foreign keys are checked against the store, which after each committed
file holds everything this delivery has loaded so far.

A batch row records its owner process (host, pid, start time) while it runs; a batch
whose process was killed keeps ``finished_at`` NULL, and the next ingest marks it failed
(:func:`fail_stale_batches`, docs/operations.md). Its files' transactions were rolled back
with the process, so nothing of a half-loaded file is in the store.

The store as validation context is :mod:`pipelines.ingest.store_context`, the derived
columns :mod:`pipelines.ingest.derive`, the reports :mod:`pipelines.ingest.report`.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.engine import Connection

from geo.rules import RulesConfig
from pipelines import load
from pipelines.ingest.chunks import validated
from pipelines.ingest.derive import prepare
from pipelines.ingest.files import (
    DeliveryFile,
    FileRejected,
    estimate_rows,
    find_files,
)
from pipelines.ingest.files import inspect as inspect_file
from pipelines.ingest.keys import KeySet
from pipelines.ingest.read import Aliases, read_chunks
from pipelines.ingest.report import (
    FileReport,
    IngestSummary,
    RejectedFile,
    SkippedReport,
    TableSummary,
)
from pipelines.ingest.schema import REASONS, SPECS
from pipelines.ingest.settings import IngestSettings
from pipelines.ingest.store_context import StoreContext
from store.children import owner_alive, process_owner
from store.engine import analyze
from store.models import IngestBatch, IngestFile, Quarantine

if TYPE_CHECKING:
    from distributed import Client

Progress = Callable[[str, str, int, int | None], None]


# ----------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: An unfinished batch whose owner cannot be checked (another host, or a batch from before
#: owners were recorded) is taken for dead this long after it started.
STALE_BATCH = dt.timedelta(hours=24)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def fail_stale_batches(engine: Engine, now: dt.datetime | None = None) -> list[int]:
    """Mark failed the unfinished batches whose ingest was killed; return their ids.

    A batch without ``finished_at`` is dead when its owner process (recorded at its start)
    no longer runs on this host, or, when that cannot be told (another host, no owner
    recorded), when it started more than :data:`STALE_BATCH` ago. It gets ``finished_at``
    and a summary ``{"status": "failed", "reason": ..., "owner": ...}``; the files it
    committed stay loaded (each file is its own transaction), the one it was loading was
    rolled back with the process.

    Parameters
    ----------
    engine : Engine
        The store.
    now : datetime, optional
        The time to compare with (default: now, UTC).

    Returns
    -------
    list of int
        The batches marked failed.
    """
    now = now or _now()
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestBatch.batch_id, IngestBatch.started_at, IngestBatch.summary).where(
                IngestBatch.finished_at.is_(None)
            )
        ).all()
    failed = []
    for batch_id, started, summary in rows:
        owner = summary.get("owner") if isinstance(summary, dict) else None
        alive = owner_alive(owner)
        if alive is None:
            if _aware(started) >= now - STALE_BATCH:
                continue
            reason = f"unfinished {STALE_BATCH} after its start; its process cannot be checked"
        elif alive:
            continue
        else:
            assert isinstance(owner, dict)  # owner_alive is False only for a checked owner
            reason = f"its process ({owner['pid']} on {owner['host']}) ended without finishing it"
        with engine.begin() as conn:
            conn.execute(
                update(IngestBatch)
                .where(IngestBatch.batch_id == batch_id, IngestBatch.finished_at.is_(None))
                .values(
                    finished_at=now,
                    summary={"status": "failed", "reason": reason, "owner": owner},
                )
            )
        failed.append(batch_id)
    return failed


def _loaded_hashes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {
            r[0]
            for r in conn.execute(
                select(IngestFile.sha256).where(IngestFile.status == "loaded")
            ).all()
        }


def _record_file(conn: Connection, rep: FileReport, batch_id: int, detail: dict[str, Any]) -> None:
    values = dict(
        table_name=rep.table,
        file_name=rep.file,
        batch_id=batch_id,
        status=rep.status if rep.status in ("loaded", "rejected", "failed") else "loaded",
        rows_read=rep.read,
        rows_loaded=rep.loaded,
        rows_updated=rep.updated,
        rows_quarantined=rep.quarantined,
        detail=detail,
        loaded_at=_now(),
    )
    exists = conn.execute(select(IngestFile.sha256).where(IngestFile.sha256 == rep.sha256)).first()
    if exists:
        conn.execute(update(IngestFile).where(IngestFile.sha256 == rep.sha256).values(**values))
    else:
        conn.execute(insert(IngestFile).values(sha256=rep.sha256, **values))


def _load_file(
    f: DeliveryFile,
    engine: Engine,
    ctx: StoreContext,
    aliases: Aliases,
    batch_id: int,
    loaded: set[str],
    progress: Progress | None,
    client: Client | None = None,
) -> FileReport:
    t0 = time.perf_counter()
    rep = FileReport(file=f.name, table=f.table)
    try:
        info = inspect_file(f)
    except OSError as exc:
        rep.status, rep.error = "rejected", f"{f.name}: unreadable: {exc}"
        return rep
    rep.sha256, rep.encoding = info.sha256, info.encoding
    if info.sha256 in loaded:
        rep.status = "already_loaded"
        return rep
    spec = SPECS[f.table]
    total = estimate_rows(f, info)
    reasons: Counter[str] = Counter()
    if progress:
        progress(f.table, f.name, 0, total)
    try:
        with engine.begin() as conn:
            seen = KeySet()
            file_keys = KeySet()
            loaded_keys: list[np.ndarray] = []
            chunks = read_chunks(f, aliases, ctx.settings.chunk_rows, info)
            for chunk, out in validated(spec, chunks, ctx, seen, file_keys, client):
                good, side = prepare(f.table, out.good, ctx)
                if "grid_villages" in side:
                    gv = side["grid_villages"]
                    load.delete_where_in(
                        conn, "grid_villages", "grid_id", [str(g) for g in good["grid_id"]]
                    )
                    load.upsert(conn, "grid_villages", gv)
                ins, upd = load.upsert(conn, f.table, good)
                rep.read += len(chunk.data)
                rep.loaded += ins
                rep.updated += upd
                rep.unchanged += len(good) - ins - upd
                if len(out.quarantine):
                    q = out.quarantine.assign(
                        batch_id=batch_id,
                        file_sha256=info.sha256,
                        table_name=f.table,
                        file_name=f.name,
                    )
                    load.insert(conn, "quarantine", q)
                    rep.quarantined += len(q)
                    reasons.update(q["reason"].tolist())
                if len(spec.key) == 1 and len(good):
                    loaded_keys.append(good[spec.key[0]].to_numpy(dtype=object))
                if progress:
                    progress(f.table, f.name, rep.read, total)
            rep.quarantine_by_reason = {r: reasons[r] for r in REASONS if reasons[r]}
            rep.status = "loaded"
            rep.seconds = round(time.perf_counter() - t0, 3)
            _record_file(
                conn,
                rep,
                batch_id,
                {
                    "encoding": info.encoding,
                    "unchanged": rep.unchanged,
                    "quarantine_by_reason": rep.quarantine_by_reason,
                    "seconds": rep.seconds,
                },
            )
    except FileRejected as exc:
        rep = FileReport(
            file=f.name,
            table=f.table,
            sha256=info.sha256,
            encoding=info.encoding,
            status="rejected",
            error=str(exc),
        )
    except Exception as exc:
        rep = FileReport(
            file=f.name,
            table=f.table,
            sha256=info.sha256,
            encoding=info.encoding,
            status="failed",
            error=f"{f.name}: {type(exc).__name__}: {exc}",
        )
        rep_detail = traceback.format_exc(limit=5)
        _safe_record(engine, rep, batch_id, {"traceback": rep_detail})
        rep.seconds = round(time.perf_counter() - t0, 3)
        return rep
    else:
        ctx.after_load(f.table, np.concatenate(loaded_keys) if loaded_keys else None)
        return rep
    _safe_record(engine, rep, batch_id, {"error": rep.error})
    rep.seconds = round(time.perf_counter() - t0, 3)
    return rep


def _safe_record(engine: Engine, rep: FileReport, batch_id: int, detail: dict[str, Any]) -> None:
    try:
        with engine.begin() as conn:
            _record_file(conn, rep, batch_id, detail)
    except Exception:
        pass


def ingest_delivery(
    folder: Path | str,
    engine: Engine,
    settings: IngestSettings | None = None,
    rules: RulesConfig | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
) -> IngestSummary:
    """Load a delivery folder into the store.

    Parameters
    ----------
    folder : path
        The delivery (one file per table, see ``docs/data-contract.md``).
    engine : sqlalchemy.Engine
        The store (migrated to head).
    settings : IngestSettings, optional
        Alias file, outside-county distance, ID hash key, chunk size, H3 resolutions.
    rules : RulesConfig, optional
        Time zone and targets (follow-up classification when the source has none).
    progress : callable, optional
        ``progress(table, file_name, rows_done, rows_total_or_None)``.
    client : distributed.Client, optional
        Check each file's rows on this Dask cluster's workers while this process loads
        (:mod:`pipelines.ingest.chunks`); None: here.

    Returns
    -------
    IngestSummary
    """
    settings = settings or IngestSettings()
    rules = rules or RulesConfig()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"delivery folder not found: {folder}")
    aliases = Aliases(settings.alias_file)
    started = _now()
    t0 = time.perf_counter()
    stale = fail_stale_batches(engine, started)
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(IngestBatch)
            .values(
                source=str(folder.resolve()),
                started_at=started,
                summary={"status": "running", "owner": process_owner()},
            )
            .returning(IngestBatch.batch_id)
        ).scalar_one()
    summary = IngestSummary(batch_id=batch_id, folder=str(folder), started_at=started)
    if stale:
        summary.warnings.append(f"batches {stale} had been killed: marked failed")
    files, skipped = find_files(folder)
    summary.skipped = [SkippedReport(file=s.path.name, reason=s.reason) for s in skipped]
    ctx = StoreContext(engine, settings, rules)
    loaded = _loaded_hashes(engine)
    for f in files:
        rep = _load_file(f, engine, ctx, aliases, batch_id, loaded, progress, client)
        if rep.sha256 and rep.status == "loaded":
            loaded.add(rep.sha256)
        summary.files.append(rep)
        ts = summary.tables.setdefault(f.table, TableSummary())
        ts.files += 1
        ts.read += rep.read
        ts.loaded += rep.loaded
        ts.updated += rep.updated
        ts.unchanged += rep.unchanged
        ts.quarantined += rep.quarantined
        ts.seconds = round(ts.seconds + rep.seconds, 3)
        for r, k in rep.quarantine_by_reason.items():
            ts.quarantine_by_reason[r] = ts.quarantine_by_reason.get(r, 0) + k
        if rep.status == "already_loaded":
            ts.already_loaded_files += 1
        if rep.status in ("rejected", "failed"):
            ts.rejected_files.append(
                RejectedFile(file=rep.file, status=rep.status, reason=rep.error or "")
            )
    if ctx._geo is not None and ctx._geo.region is None:
        summary.warnings.append("no county polygon or village seats: outside-county check skipped")
    present = set(inspect(engine).get_table_names())
    changed = [t for t, ts in summary.tables.items() if (ts.loaded or ts.updated) and t in present]
    if changed:
        analyze(engine, changed)  # the planner's statistics of what was just loaded
    summary.finished_at = _now()
    summary.seconds = round(time.perf_counter() - t0, 3)
    with engine.begin() as conn:
        conn.execute(
            update(IngestBatch)
            .where(IngestBatch.batch_id == batch_id)
            .values(finished_at=summary.finished_at, summary=summary.model_dump(mode="json"))
        )
    return summary


def list_quarantine(engine: Engine, table: str | None = None) -> pd.DataFrame:
    """Quarantined rows (optionally of one table), in the order they were written.

    Columns: id, batch_id, file_sha256, table_name, file_name, row_number, column_name,
    value, reason, detail, raw (the delivered row as a dict of strings).
    """
    cols = [c.name for c in Quarantine.__table__.columns]
    stmt = select(*[getattr(Quarantine, c) for c in cols]).order_by(Quarantine.id)
    if table is not None:
        stmt = stmt.where(Quarantine.table_name == table)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


def quarantine_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Quarantined rows per (table, reason)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Quarantine.table_name, Quarantine.reason, func.count()).group_by(
                Quarantine.table_name, Quarantine.reason
            )
        ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}
