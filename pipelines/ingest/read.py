"""Reading a delivery's files: their headers and their rows, as text.

Everything read here is text: every cell comes out as a ``str`` (``""`` when empty), in
chunks of ``chunk_rows`` rows, with its 1-based data row number; typing and validation
are :mod:`pipelines.ingest.validate`'s job. A file that cannot be read, or lacks a required
column, raises :class:`FileRejected` with a message naming the file, the column(s) and the
headers that would have matched.

Which file feeds which table, and its encoding, are :mod:`pipelines.ingest.files`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.ingest.codes import norm_header
from pipelines.ingest.files import (
    BAD_CHAR,
    DeliveryFile,
    FileInfo,
    FileRejected,
    SkippedFile,
    estimate_rows,
    file_sha256,
    find_files,
    inspect,
    inspect_csv,
    table_for,
)
from pipelines.ingest.schema import SPECS, TableSpec

__all__ = [
    "BAD_CHAR",
    "Aliases",
    "DeliveryFile",
    "FileInfo",
    "FileRejected",
    "RawChunk",
    "SkippedFile",
    "estimate_rows",
    "file_sha256",
    "find_files",
    "inspect",
    "inspect_csv",
    "read_chunks",
    "read_csv_chunks",
    "read_geojson_chunks",
    "read_parquet_chunks",
    "read_xlsx_chunks",
    "table_for",
]


# ----------------------------------------------------------------------------------------
# Headers
# ----------------------------------------------------------------------------------------
class Aliases:
    """Header → column mapping per table: contract names, contract aliases, deployment file.

    The deployment file is JSON ``{table: {alias: column}}``; the table ``"*"`` applies to
    every table that has the column.
    """

    def __init__(self, alias_file: Path | None = None) -> None:
        self.extra: dict[str, dict[str, str]] = {}
        if alias_file is not None:
            try:
                data = json.loads(Path(alias_file).read_text(encoding="utf-8-sig"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"alias file {alias_file}: {exc}") from exc
            if not isinstance(data, dict):
                raise ValueError(f"alias file {alias_file}: expected {{table: {{alias: column}}}}")
            for table, mapping in data.items():
                if not isinstance(mapping, dict):
                    raise ValueError(f"alias file {alias_file}: {table!r} is not a mapping")
                self.extra[str(table)] = {str(k): str(v) for k, v in mapping.items()}
        self._maps: dict[str, dict[str, str]] = {}

    def accepted(self, table: str, column: str) -> list[str]:
        """Headers that map to ``column`` of ``table`` (display form)."""
        spec = SPECS[table]
        out = [column, *spec.col(column).aliases]
        for t in (table, "*"):
            out += [a for a, c in self.extra.get(t, {}).items() if c == column]
        return list(dict.fromkeys(out))

    def mapping(self, table: str) -> dict[str, str]:
        """Normalised header → canonical column of ``table``."""
        if table not in self._maps:
            spec = SPECS[table]
            m: dict[str, str] = {}
            for c in spec.columns:  # aliases first, so the exact names win on conflict
                for a in c.aliases:
                    m.setdefault(norm_header(a), c.name)
            for t in ("*", table):
                for a, target in self.extra.get(t, {}).items():
                    if target in spec.names:
                        m[norm_header(a)] = target
            for c in spec.columns:
                m[norm_header(c.name)] = c.name
            self._maps[table] = m
        return self._maps[table]

    def resolve(self, table: str, headers: list[str], file_name: str) -> dict[str, str]:
        """Map delivered headers to columns; reject the file when a required one is missing.

        Returns
        -------
        dict
            Original header → canonical column (first header wins for a column).
        """
        m = self.mapping(table)
        out: dict[str, str] = {}
        taken: set[str] = set()
        for h in headers:
            c = m.get(norm_header(h))
            if c is not None and c not in taken:
                out[h] = c
                taken.add(c)
        spec = SPECS[table]
        problems: list[str] = []
        missing = [c for c in spec.required if c not in taken]
        for c in missing:
            problems.append(f"{c} (accepted headers: {', '.join(self.accepted(table, c))})")
        for group in spec.alternatives:
            if not any(all(c in taken for c in alt) for alt in group):
                alts = []
                for alt in group:
                    alts.append(
                        " + ".join(f"{c} ({', '.join(self.accepted(table, c))})" for c in alt)
                    )
                problems.append("one of " + " or ".join(alts))
        if problems:
            raise FileRejected(
                f"{file_name}: missing required column(s) for table {table}: "
                + "; ".join(problems)
                + f". Headers found: {', '.join(map(str, headers)) or '(none)'}"
            )
        return out


# ----------------------------------------------------------------------------------------
# Chunks
# ----------------------------------------------------------------------------------------
@dataclass
class RawChunk:
    """Rows of a file as text: canonical columns, the original cells, row numbers."""

    data: pd.DataFrame  # canonical column names, all str ("" = empty)
    original: pd.DataFrame  # the delivered columns, as delivered (for quarantine ``raw``)
    row_number: np.ndarray  # 1-based data row numbers
    bad_encoding: np.ndarray | None = None  # bool per row
    mapping: dict[str, str] = field(default_factory=dict)  # original header -> column


def _sniff_sep(first_line: str) -> str:
    counts = {s: first_line.count(s) for s in (",", "\t", ";", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _first_line(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="healthmap_bad", newline="") as f:
        return f.readline()


def _chunk(df: pd.DataFrame, mapping: dict[str, str], start: int, check_bad: bool) -> RawChunk:
    df = df.reset_index(drop=True).fillna("")
    n = len(df)
    rows = np.arange(start + 1, start + n + 1, dtype=np.int64)
    # drop fully empty rows (they keep their numbers)
    if n:
        empty = np.ones(n, dtype=bool)
        for c in df.columns:
            empty &= (df[c] == "").to_numpy(dtype=bool, na_value=True)
        if empty.any():
            keep = ~empty
            df = df.loc[keep].reset_index(drop=True)
            rows = rows[keep]
    bad = None
    if check_bad and len(df):
        bad = np.zeros(len(df), dtype=bool)
        for c in df.columns:
            bad |= df[c].str.contains(BAD_CHAR, regex=False).to_numpy(dtype=bool, na_value=False)
    data = pd.DataFrame({canon: df[orig] for orig, canon in mapping.items()}, index=df.index)
    return RawChunk(data=data, original=df, row_number=rows, bad_encoding=bad, mapping=mapping)


def _dedupe_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        h = str(h).replace("\ufeff", "").strip() if h is not None else ""
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        out.append(h)
    return out


def _csv_headers(first_line: str, sep: str) -> list[str]:
    row = next(csv.reader([first_line.rstrip("\r\n")], delimiter=sep), [])
    return _dedupe_headers(row)


def read_csv_chunks(
    f: DeliveryFile, spec: TableSpec, aliases: Aliases, info: FileInfo, chunk_rows: int
) -> Iterator[RawChunk]:
    """Chunks of a CSV file, decoded in the encoding ``info`` detected.

    The separator (comma, tab, semicolon or bar) is sniffed from the header line; rows
    holding undecodable bytes are marked ``bad_encoding``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    encoding = info.encoding or "utf-8"
    first = _first_line(f.path, encoding).lstrip("\ufeff")
    if not first.strip():
        raise FileRejected(f"{f.name}: empty file, no header row")
    sep = _sniff_sep(first)
    headers = _csv_headers(first, sep)
    mapping = aliases.resolve(f.table, headers, f.name)
    avg = max(info.size / max(info.lines, 1), 16.0)
    block = int(min(max(avg * chunk_rows * 1.2, 1 << 20), 1 << 30))
    arrow_enc = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    source: object = f.path
    if info.bad_lines:
        text = f.path.read_bytes().decode(encoding, errors="healthmap_bad")
        source = io.BytesIO(text.encode("utf-8", errors="surrogatepass"))
        del text
        arrow_enc = "utf8"
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=headers, skip_rows=1, block_size=block, encoding=arrow_enc
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        start = 0
        for whole in reader:
            for off in range(0, whole.num_rows, chunk_rows):
                batch = whole.slice(off, chunk_rows)
                df = batch.to_pandas()
                df.columns = headers
                n = len(df)
                ch = _chunk(df, mapping, start, info.bad_lines > 0)
                start += n
                yield ch
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError) as exc:
        raise FileRejected(f"{f.name}: unreadable as CSV ({encoding}): {exc}") from exc


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, dt.datetime):
        if v.tzinfo is None and v.time() == dt.time(0):
            return v.date().isoformat()
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v).strip()


def read_xlsx_chunks(
    f: DeliveryFile, spec: TableSpec, aliases: Aliases, chunk_rows: int
) -> Iterator[RawChunk]:
    """Chunks of the first sheet of an Excel workbook, cells as text."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(f.path, read_only=True, data_only=True)
    except Exception as exc:
        raise FileRejected(f"{f.name}: unreadable as XLSX: {exc}") from exc
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        headers: list[str] | None = None
        for r in rows:
            if r is not None and any(v not in (None, "") for v in r):
                headers = _dedupe_headers([_cell_text(v) for v in r])
                break
        if headers is None:
            raise FileRejected(f"{f.name}: empty workbook, no header row")
        mapping = aliases.resolve(f.table, headers, f.name)
        width = len(headers)
        buf: list[list[str]] = []
        start = 0

        def flush() -> RawChunk:
            df = pd.DataFrame(buf, columns=headers, dtype=str)
            return _chunk(df, mapping, start, False)

        for r in rows:
            cells = [_cell_text(v) for v in (r or ())][:width]
            cells += [""] * (width - len(cells))
            buf.append(cells)
            if len(buf) >= chunk_rows:
                ch = flush()
                start += len(buf)
                buf = []
                yield ch
        if buf:
            yield flush()
    finally:
        wb.close()


def _arrow_to_text(col: object) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col
    t = arr.type  # type: ignore[attr-defined]
    if pa.types.is_timestamp(t):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if t.tz else "%Y-%m-%dT%H:%M:%S"
        arr = pc.strftime(arr, format=fmt)
    elif pa.types.is_floating(t):
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)  # type: ignore[attr-defined]
        out = [_cell_text(float(v)) for v in values]
        return pd.Series(out, dtype=str)
    elif pa.types.is_boolean(t):
        arr = pc.if_else(arr, "1", "0")
    elif not pa.types.is_string(t) and not pa.types.is_large_string(t):
        arr = pc.cast(arr, pa.string())
    arr = pc.fill_null(arr, "")
    return pd.Series(arr.to_pandas(), dtype=str)


def read_parquet_chunks(
    f: DeliveryFile, spec: TableSpec, aliases: Aliases, chunk_rows: int
) -> Iterator[RawChunk]:
    """Chunks of a Parquet file, record batch by record batch, cells as text."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(f.path)
    except Exception as exc:
        raise FileRejected(f"{f.name}: unreadable as Parquet: {exc}") from exc
    headers = _dedupe_headers(list(pf.schema_arrow.names))
    mapping = aliases.resolve(f.table, headers, f.name)
    start = 0
    for batch in pf.iter_batches(batch_size=chunk_rows):
        df = pd.DataFrame({h: _arrow_to_text(batch.column(i)) for i, h in enumerate(headers)})
        n = len(df)
        yield _chunk(df, mapping, start, False)
        start += n


def read_geojson_chunks(
    f: DeliveryFile, spec: TableSpec, aliases: Aliases, chunk_rows: int
) -> Iterator[RawChunk]:
    """Chunks of a GeoJSON feature collection: properties as columns.

    A point geometry gives ``lat``/``lng`` where the table has them, any other geometry
    ``geometry_wkt``; a road without an id is numbered by its feature.
    """
    import shapely
    from shapely.geometry import shape

    try:
        data = json.loads(f.path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise FileRejected(f"{f.name}: unreadable as GeoJSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise FileRejected(f"{f.name}: not a GeoJSON FeatureCollection")
    feats = data.get("features") or []
    records: list[dict[str, str]] = []
    names: dict[str, None] = {}
    point_table = "lat" in spec.names and "geometry_wkt" not in spec.names
    for i, feat in enumerate(feats):
        props = {str(k): _cell_text(v) for k, v in (feat.get("properties") or {}).items()}
        geom = feat.get("geometry")
        if geom:
            try:
                g = shape(geom)
                if point_table or (g.geom_type == "Point" and "lat" in spec.names):
                    props.setdefault("lng", repr(g.x))
                    props.setdefault("lat", repr(g.y))
                else:
                    props.setdefault("geometry_wkt", shapely.to_wkt(g, rounding_precision=-1))
            except Exception:
                props.setdefault("geometry_wkt", "<invalid GeoJSON geometry>")
        if spec.name == "roads" and not any(k in props for k in ("road_id", "id")):
            props["road_id"] = str(feat.get("id", i + 1))
        records.append(props)
        names.update(dict.fromkeys(props))
    headers = list(names) if names else list(spec.required)
    mapping = aliases.resolve(f.table, headers, f.name)
    for start in range(0, max(len(records), 1), chunk_rows):
        part = records[start : start + chunk_rows]
        if not part:
            break
        df = pd.DataFrame(
            [[r.get(h, "") for h in headers] for r in part], columns=headers, dtype=str
        )
        yield _chunk(df, mapping, start, False)


def read_chunks(
    f: DeliveryFile, aliases: Aliases, chunk_rows: int, info: FileInfo | None = None
) -> Iterator[RawChunk]:
    """Chunks of a delivered file (raises :class:`FileRejected`)."""
    spec = SPECS[f.table]
    if f.fmt == "csv":
        assert info is not None
        yield from read_csv_chunks(f, spec, aliases, info, chunk_rows)
    elif f.fmt == "xlsx":
        yield from read_xlsx_chunks(f, spec, aliases, chunk_rows)
    elif f.fmt == "parquet":
        yield from read_parquet_chunks(f, spec, aliases, chunk_rows)
    elif f.fmt == "geojson":
        yield from read_geojson_chunks(f, spec, aliases, chunk_rows)
    elif f.fmt == "osm":
        from pipelines.ingest.osm import read_osm_chunks  # it reads through this module

        yield from read_osm_chunks(f, spec, aliases, chunk_rows)
    else:  # pragma: no cover
        raise FileRejected(f"{f.name}: unsupported format {f.fmt}")
