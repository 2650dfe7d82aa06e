"""Peers of healthmap in the bench: what a user could pick instead, on the same files.

* :func:`duckdb_load`: DuckDB reading the delivery's CSV and Parquet files into a DuckDB
  file, every column typed by DuckDB's sniffer — the floor for ingestion (no validation,
  no quarantine, no geocoding, no H3 cells, no id hashing).
* :func:`duckdb_indicators`: one DuckDB SQL computing four of RULES.md's county indicators
  per town as of D from those tables — managed hypertension and type 2 diabetes patients
  (the numerators of ``htn_management_rate`` / ``t2dm_management_rate``), the
  ``signing_rate`` and the ``primary_care_visit_share`` — the floor for the build; and
  :func:`compare_with_store`, which checks them against healthmap's stored rows (so the
  peer does the same work, not less).
* :func:`postgres_copy`: PostgreSQL's own ``COPY … FROM STDIN (FORMAT csv)`` of the same
  CSV files into text columns of a scratch database — the floor for the PostGIS path.

The definitions are RULES.md's as ``geo.indicators.compute_indicators`` documents them;
the facility types and visit types come from ``geo.rules`` (one home per fact).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from geo.rules import DEFAULT_RULES, OUTPATIENT_VISIT_TYPES, PRIMARY_FACILITY_TYPES

#: The indicators the DuckDB SQL computes, and which of their parts it compares.
PEER_INDICATORS: dict[str, tuple[str, ...]] = {
    "htn_management_rate": ("numerator",),
    "t2dm_management_rate": ("numerator",),
    "signing_rate": ("numerator", "denominator"),
    "primary_care_visit_share": ("numerator", "denominator"),
}


def _tables(delivery: Path) -> dict[str, list[Path]]:
    """The delivery's data files by table (``claims_2025-07.csv`` … are one table)."""
    out: dict[str, list[Path]] = {}
    for path in sorted(delivery.iterdir()):
        if path.suffix not in (".csv", ".parquet"):
            continue
        table = path.stem.split("_20")[0] if path.stem.startswith("claims_") else path.stem
        out.setdefault(table, []).append(path)
    return out


def duckdb_load(delivery: Path, target: Path) -> dict[str, Any]:
    """Load every CSV and Parquet file of ``delivery`` into a new DuckDB file ``target``.

    Returns
    -------
    dict
        ``seconds`` (wall, connect to close), ``rows`` per table, ``files``.
    """
    import duckdb

    target.unlink(missing_ok=True)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    files = 0
    con = duckdb.connect(str(target))
    try:
        for table, paths in _tables(delivery).items():
            # A GB18030 file is transcoded first (inside the timing: a user would have to).
            names = [str(_utf8(p, target.parent / f"{target.stem}-utf8")) for p in paths]
            files += len(names)
            if paths[0].suffix == ".parquet":
                source = f"read_parquet({names!r})"
            else:
                # Ids and codes stay text (leading zeros, X check digits); dates and numbers
                # are typed by the sniffer.
                source = (
                    f"read_csv({names!r}, header = true, all_varchar = false, {_text(paths[0])})"
                )
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {source}')
            rows[table] = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {"seconds": time.perf_counter() - started, "rows": rows, "files": files}


_TEXT_COLUMNS = (
    "resident_id",
    "id_number",
    "area_code",
    "parent_code",
    "facility_id",
    "signed_team_id",
    "team_id",
    "phone",
    "grid_id",
    "claim_id",
    "icd10",
)


def _encoding(path: Path) -> str:
    """``utf-8``, or ``gb18030`` when the file's start is not UTF-8 (the contract allows it)."""
    import codecs

    with path.open("rb") as f:
        head = f.read(1 << 16)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _utf8(path: Path, scratch: Path) -> Path:
    """``path``, or a UTF-8 copy of it in ``scratch`` (DuckDB reads UTF-8 CSV only)."""
    if path.suffix != ".csv" or _encoding(path) == "utf-8":
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / path.name
    copy.write_text(path.read_text(encoding="gb18030"), encoding="utf-8")
    return copy


def _text(path: Path) -> str:
    """``read_csv``'s ``types`` keeping the file's id and code columns text."""
    with path.open(encoding=_encoding(path)) as f:
        header = f.readline().strip().split(",")
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in _TEXT_COLUMNS if c in header)
    return f"types = {{{types}}}" if types else "auto_detect = true"


def _in(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def indicator_sql(as_of: dt.date) -> str:
    """The DuckDB SQL of :data:`PEER_INDICATORS` per town as of ``as_of`` (D).

    Active resident: status ``active`` (or none) and born on or before D. Town: the parent
    of the resident's village in ``areas``. Managed patient of a disease: an active
    resident with a registry row of it enrolled on or before D and not closed on or before
    D (registry diseases as ingestion normalises them: ICD-10 I10–I15 are htn, E11 is
    t2dm). Signed: ``signed_team_id`` set and ``signed_date`` on or before D (or none). Primary
    care visit share: outpatient and chronic_outpatient claims in W (the 365 days ending D)
    at a primary facility / all of them, claims placed at the resident's town whatever the
    resident's status (a claim without resident_id linked by the id number).
    """
    d = as_of.isoformat()
    w_start = (as_of - dt.timedelta(days=DEFAULT_RULES.indicators.window_days - 1)).isoformat()
    return f"""
WITH town_of AS (
    SELECT area_code AS village, parent_code AS town FROM areas WHERE level = 'village'
),
res AS (
    SELECT r.resident_id, t.town,
           coalesce(r.status, 'active') = 'active'
             AND CAST(r.birth_date AS DATE) <= DATE '{d}' AS active,
           coalesce(r.signed_team_id, '') <> ''
             AND (r.signed_date IS NULL OR CAST(r.signed_date AS DATE) <= DATE '{d}') AS signed
    FROM residents r JOIN town_of t ON t.village = r.area_code
),
registry AS (
    -- The ingestion's disease codes: htn / t2dm, or ICD-10 I10-I15 / E11.
    SELECT resident_id, enrolled_date, closed_date,
           CASE WHEN lower(trim(disease)) IN ('htn', 't2dm') THEN lower(trim(disease))
                WHEN upper(substr(trim(disease), 1, 3)) BETWEEN 'I10' AND 'I15' THEN 'htn'
                WHEN upper(substr(trim(disease), 1, 3)) = 'E11' THEN 't2dm' END AS disease
    FROM chronic_registry
),
claim_rows AS (
    -- A claim without resident_id is linked by the resident's id number, as on ingestion.
    SELECT coalesce(c.resident_id, i.resident_id) AS resident_id, c.visit_date,
           c.visit_type, c.facility_id
    FROM claims c
    LEFT JOIN residents i
      ON c.resident_id IS NULL AND upper(trim(i.id_number)) = upper(trim(c.id_number))
),
managed AS (
    SELECT DISTINCT c.resident_id, c.disease
    FROM registry c JOIN res ON res.resident_id = c.resident_id AND res.active
    WHERE CAST(c.enrolled_date AS DATE) <= DATE '{d}'
      AND (c.closed_date IS NULL OR CAST(c.closed_date AS DATE) > DATE '{d}')
),
visits AS (
    SELECT res.town, f.type IN ({_in(PRIMARY_FACILITY_TYPES)}) AS primary_care
    FROM claim_rows c
    JOIN res ON res.resident_id = c.resident_id
    LEFT JOIN facilities f ON f.facility_id = c.facility_id
    WHERE CAST(c.visit_date AS DATE) BETWEEN DATE '{w_start}' AND DATE '{d}'
      AND c.visit_type IN ({_in(OUTPATIENT_VISIT_TYPES)})
)
SELECT town AS unit_id, 'htn_management_rate' AS indicator,
       count(*)::DOUBLE AS numerator, NULL::DOUBLE AS denominator
FROM managed JOIN res USING (resident_id) WHERE disease = 'htn' GROUP BY town
UNION ALL
SELECT town, 't2dm_management_rate', count(*)::DOUBLE, NULL
FROM managed JOIN res USING (resident_id) WHERE disease = 't2dm' GROUP BY town
UNION ALL
SELECT town, 'signing_rate', count(*) FILTER (WHERE active AND signed)::DOUBLE,
       count(*) FILTER (WHERE active)::DOUBLE
FROM res GROUP BY town
UNION ALL
SELECT town, 'primary_care_visit_share', count(*) FILTER (WHERE primary_care)::DOUBLE,
       count(*)::DOUBLE
FROM visits GROUP BY town
"""


def duckdb_indicators(database: Path, as_of: dt.date) -> tuple[pd.DataFrame, float]:
    """Run :func:`indicator_sql` on a DuckDB file; the rows and the wall seconds."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(database), read_only=True)
    try:
        frame = con.execute(indicator_sql(as_of)).df()
    finally:
        con.close()
    return frame, time.perf_counter() - started


def compare_with_store(peer: pd.DataFrame, url: str) -> dict[str, Any]:
    """Compare the peer's rows with the current build's town rows at D in the store at ``url``.

    Returns
    -------
    dict
        ``compared`` values, ``equal`` among them, ``towns``, and up to 5 ``differences``.
    """
    from sqlalchemy import text

    from store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = pd.read_sql(
                text(
                    "SELECT v.unit_id, v.indicator, v.numerator, v.denominator "
                    "FROM indicator_values v JOIN builds b ON b.build_id = v.build_id "
                    "JOIN build_current c ON c.build_id = v.build_id "
                    "WHERE v.level = 'town' AND v.period = b.as_of"
                ),
                conn,
            )
    finally:
        engine.dispose()
    stored = stored[stored["indicator"].isin(list(PEER_INDICATORS))]
    both = stored.merge(peer, on=["unit_id", "indicator"], how="outer", suffixes=("", "_peer"))
    compared = equal = 0
    differences: list[str] = []
    for row in both.itertuples(index=False):
        for part in PEER_INDICATORS[row.indicator]:
            mine, theirs = getattr(row, part), getattr(row, f"{part}_peer")
            if pd.isna(mine) and pd.isna(theirs):
                continue
            compared += 1
            # Counts: exact (a suppressed stored numerator is NaN and counts as different).
            if not pd.isna(mine) and not pd.isna(theirs) and float(mine) == float(theirs):
                equal += 1
            elif len(differences) < 5:
                differences.append(f"{row.unit_id} {row.indicator} {part}: {mine} vs {theirs}")
    return {
        "compared": compared,
        "equal": equal,
        "towns": int(both["unit_id"].nunique()),
        "differences": differences,
    }


def postgres_copy(delivery: Path, admin_url: str, database: str) -> dict[str, Any]:
    """``COPY`` every CSV of ``delivery`` into text tables of a new database ``database``.

    The database is dropped and created again (``admin_url`` names a maintenance
    database); its tables have one ``text`` column per CSV header, so that COPY does no
    more than PostgreSQL's own parsing. Parquet files are not COPY's format: skipped.

    Returns
    -------
    dict
        ``seconds`` (connect to commit, database creation excluded), ``rows``, ``skipped``.
    """
    import psycopg

    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    url = admin.rsplit("/", 1)[0] + f"/{database}"
    rows: dict[str, int] = {}
    skipped: list[str] = []
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for table, paths in _tables(delivery).items():
            if paths[0].suffix != ".csv":
                skipped += [p.name for p in paths]
                continue
            encoding = _encoding(paths[0])
            with paths[0].open(encoding=encoding) as f:
                header = f.readline().strip().split(",")
            columns = ", ".join(f'"{c}" text' for c in header)
            conn.execute(f'CREATE TABLE "{table}" ({columns})')
            for path in paths:
                with (
                    path.open("rb") as f,
                    conn.cursor().copy(
                        f'COPY "{table}" FROM STDIN (FORMAT csv, HEADER true, '
                        f"ENCODING '{encoding.upper()}')"
                    ) as copy,
                ):
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
            count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            rows[table] = int(count[0]) if count else 0
        conn.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return {"seconds": seconds, "rows": rows, "skipped": skipped}


# ----------------------------------------------------------------------------------------
# Bench steps (benchmarks/run.py passes itself as ``bench``: its stores, RESULTS, report)
# ----------------------------------------------------------------------------------------
def _ratio(mine: float | None, peer: float) -> str:
    return f"**{mine / peer:.1f}×**" if mine and peer > 0 else "– (not run in this invocation)"


def bench_peers(scale: float, bench: Any) -> None:
    """The ``peers`` step: DuckDB load and SQL, PostgreSQL COPY; healthmap ÷ peer."""
    delivery = bench.WORK / f"county_{scale}"
    if not (delivery / "manifest.json").exists():
        bench.bench_sample(scale)
    as_of = dt.date.fromisoformat(bench.BENCH_AS_OF)
    ingest = bench.RESULTS.get("ingest", {})
    build = bench.RESULTS.get("build", {})
    loaded = duckdb_load(delivery, bench.WORK / "peer.duckdb")
    frame, sql_seconds = duckdb_indicators(bench.WORK / "peer.duckdb", as_of)
    copied = postgres_copy(delivery, bench.PG_ADMIN, bench.PG_DB + "_copy")
    rows = sum(loaded["rows"].values())
    lines = [
        bench.header("Peers: DuckDB and PostgreSQL COPY on the same files", scale),
        "What a user could run instead, on the same delivery and the same machine; a ratio "
        "is healthmap ÷ peer, given when the healthmap step ran in the same invocation "
        "(`--only ingest build peers`). The peers do less: no validation, quarantine, "
        "geocoding, H3 cells or id hashing on load; four indicators per town for one day "
        "instead of every indicator at every level for 13 periods, burden and hotspots.",
        "",
        "| peer | seconds | rows | healthmap | healthmap ÷ peer |",
        "|---|---:|---:|---|---:|",
        f"| DuckDB: load {loaded['files']} CSV/Parquet files into a DuckDB file "
        f"| {loaded['seconds']:.1f} | {rows:,} | ingest into SQLite "
        f"{_secs(ingest.get('SQLite'))} | {_ratio(_s(ingest.get('SQLite')), loaded['seconds'])} |",
        f"| PostgreSQL `COPY` of the {sum(1 for _ in copied['rows'])} CSV tables into text "
        f"columns (Parquet skipped: {', '.join(copied['skipped']) or 'none'}) "
        f"| {copied['seconds']:.1f} | {sum(copied['rows'].values()):,} | ingest into PostGIS "
        f"{_secs(ingest.get('PostGIS'))} "
        f"| {_ratio(_s(ingest.get('PostGIS')), copied['seconds'])} |",
    ]
    compared: dict[str, Any] = {}
    for name, url in bench.stores():
        try:
            check = compare_with_store(frame, url)
        except Exception as exc:  # no build in that store yet
            check = {"error": str(exc).splitlines()[0]}
        compared[name] = check
        lines.append(
            f"| DuckDB SQL: {len(PEER_INDICATORS)} indicators per town at D "
            f"| {sql_seconds:.2f} | {len(frame):,} | full build on {name} "
            f"{_secs(build.get(name))} | {_ratio(_s(build.get(name)), sql_seconds)} |"
        )
    lines += ["", "The DuckDB SQL's values against each store's current build (town, D):", ""]
    for name, check in compared.items():
        if "error" in check:
            lines.append(f"- {name}: not compared ({check['error']})")
        else:
            lines.append(
                f"- {name}: {check['equal']} of {check['compared']} values equal over "
                f"{check['towns']} towns ({', '.join(PEER_INDICATORS)})"
                + (
                    f"; differences: {'; '.join(check['differences'])}"
                    if check["differences"]
                    else ""
                )
            )
    bench.write_section("peers", "\n".join(lines))
    entry = {
        "duckdb_load": {"seconds": loaded["seconds"], "rows": rows},
        "duckdb_sql": {"seconds": sql_seconds, "rows": len(frame), "checked": compared},
        "postgres_copy": {"seconds": copied["seconds"], "rows": copied["rows"]},
        "healthmap": {"ingest": ingest, "build": build},
        "ratios": {
            "ingest_sqlite_over_duckdb_load": _div(_s(ingest.get("SQLite")), loaded["seconds"]),
            "ingest_postgis_over_copy": _div(_s(ingest.get("PostGIS")), copied["seconds"]),
            **{
                f"build_{n.lower()}_over_duckdb_sql": _div(_s(build.get(n)), sql_seconds)
                for n, _ in bench.stores()
            },
        },
    }
    bench.record("peers", entry, scale)
    print(json.dumps(entry["ratios"]))


def bench_build_dask(scale: float, bench: Any) -> None:
    """The ``build-dask`` step: ``healthmap build`` locally and on a 2-worker LocalCluster."""
    lines = [
        bench.header("Full build, local process pool and Dask (LocalCluster, 2 workers)", scale),
        "The same build (`healthmap build`, then `--engine dask --workers 2`), one after the "
        "other on each store; the Dask rows equal the local ones "
        "(tests/pipelines/test_build_dask.py). Peak memory is the command's own process "
        "(the Dask workers are other processes and are not counted).",
        "",
    ]
    for name, url in bench.stores():
        runs: dict[str, dict[str, float]] = {}
        for engine in ("local", "dask"):
            cmd = [bench.HEALTHMAP, "--db", url, "build", "--as-of", bench.BENCH_AS_OF]
            if engine == "dask":
                cmd += ["--engine", "dask", "--workers", "2"]
            wall, rss, _ = bench.run_measured(cmd, env={"COLUMNS": "200"})
            runs[engine] = {"seconds": wall, "peak_mb": rss}
        ratio = runs["dask"]["seconds"] / runs["local"]["seconds"]
        lines.append(
            f"- {name}: local **{runs['local']['seconds']:.0f} s** "
            f"({runs['local']['peak_mb'] / 1024:.2f} GB), Dask **{runs['dask']['seconds']:.0f} s** "
            f"({runs['dask']['peak_mb'] / 1024:.2f} GB in the client) — Dask ÷ local {ratio:.2f}"
        )
        bench.record("build-dask", {name: {**runs, "dask_over_local": ratio}}, scale)
    bench.write_section("build-dask", "\n".join(lines))


def _s(entry: dict[str, Any] | None) -> float | None:
    return None if entry is None else float(entry["seconds"])


def _secs(entry: dict[str, Any] | None) -> str:
    return "(not run)" if entry is None else f"{float(entry['seconds']):.1f} s"


def _div(a: float | None, b: float) -> float | None:
    return None if a is None or b <= 0 else a / b
