"""A delivery's files: which file feeds which table, and what its bytes are.

:func:`find_files` maps the files of a delivery folder to the contract's tables (by file
name, English or Chinese); :func:`inspect` hashes a file and, for CSV, detects its
encoding. Encodings are detected per file, never assumed: a file that decodes as UTF-8
(with or without BOM) is UTF-8; else one that decodes as GB18030 (a superset of
GBK/GB2312) is GB18030; else the candidate (UTF-8, GB18030, or charset-normalizer's guess)
under which the fewest lines fail wins, and rows holding undecodable bytes are flagged
``bad_encoding`` while the rest of the file decodes normally.
"""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.schema import ZH_TABLES
from store.models import CONTRACT_TABLES

#: Stands in for undecodable bytes (a noncharacter no delivery contains).
BAD_CHAR = "\U0010fffe"
_BLOCK = 16 * 1024 * 1024
SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".geojson": "geojson",
    ".json": "geojson",
}


def _bad_char_handler(err: UnicodeError) -> tuple[str, int]:
    """Decode undecodable bytes as one :data:`BAD_CHAR` (the ``healthmap_bad`` handler)."""
    assert isinstance(err, UnicodeDecodeError)
    return BAD_CHAR, err.end


codecs.register_error("healthmap_bad", _bad_char_handler)


class FileRejected(Exception):
    """A whole file is refused (unreadable or a required column missing)."""


# ----------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryFile:
    """One delivered file recognised as feeding a table."""

    path: Path
    table: str
    fmt: str
    label: str = ""

    @property
    def name(self) -> str:
        """The file's name (without its folder)."""
        return self.path.name


@dataclass(frozen=True)
class SkippedFile:
    """A file of the folder that feeds no table, and why."""

    path: Path
    reason: str


def _stem_of(path: Path) -> str:
    name = unicodedata.normalize("NFKC", path.name).lower()
    for suf in (".osm.pbf",):
        if name.endswith(suf):
            return name[: -len(suf)]
    return name.rsplit(".", 1)[0] if "." in name else name


def table_for(path: Path) -> tuple[str, str] | None:
    """``(table, batch label)`` of a file name, by stem; None when no table matches.

    The longest table name wins, so ``population_grid.csv`` is ``population_grid`` and
    ``population_2026.csv`` is ``population`` with label ``2026``. Chinese table names of the
    contract are accepted too (``居民健康档案.xlsx``).
    """
    stem = _stem_of(path)
    names = sorted(CONTRACT_TABLES, key=len, reverse=True)
    for t in names:
        if stem == t or stem.startswith(t + "_"):
            return t, stem[len(t) + 1 :]
    for zh, t in ZH_TABLES.items():
        if stem == zh or stem.startswith(zh + "_"):
            return t, stem[len(zh) + 1 :]
    return None


def find_files(folder: Path) -> tuple[list[DeliveryFile], list[SkippedFile]]:
    """Files of a delivery folder in load order (``models.CONTRACT_TABLES``), and the rest."""
    folder = Path(folder)
    found: list[DeliveryFile] = []
    skipped: list[SkippedFile] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name.startswith("."):
            continue
        hit = table_for(path)
        lower = path.name.lower()
        if lower.endswith(".osm.pbf"):
            # An OpenStreetMap extract is always roads, whatever it is called
            # (Geofabrik's are shandong-latest.osm.pbf); read by pipelines.ingest.osm.
            found.append(DeliveryFile(path, "roads", "osm", "" if hit is None else hit[1]))
            continue
        if hit is None:
            skipped.append(SkippedFile(path, "unknown table (file stem matches no contract table)"))
            continue
        table, label = hit
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            skipped.append(SkippedFile(path, f"unsupported file type {path.suffix!r}"))
            continue
        found.append(DeliveryFile(path, table, fmt, label))
    order = {t: i for i, t in enumerate(CONTRACT_TABLES)}
    found.sort(key=lambda f: (order[f.table], f.label, f.name))
    return found, skipped


@dataclass
class FileInfo:
    """What one pass over a file's bytes tells: hash, size, lines, encoding."""

    sha256: str
    size: int
    lines: int
    encoding: str | None = None
    bad_lines: int = 0


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _bad_lines(data: bytes, encoding: str) -> int:
    text = data.decode(encoding, errors="healthmap_bad")
    if BAD_CHAR not in text:
        return 0
    return sum(1 for line in text.split("\n") if BAD_CHAR in line)


def inspect_csv(path: Path) -> FileInfo:
    """Hash, line count and encoding of a CSV file (see the module docstring)."""
    h = hashlib.sha256()
    size = lines = 0
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    utf8 = True
    first = b""
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            if not first:
                first = block[:4]
            h.update(block)
            size += len(block)
            lines += block.count(b"\n")
            if utf8:
                try:
                    dec.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    info = FileInfo(h.hexdigest(), size, lines)
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        info.encoding = "utf-16"
        return info
    if utf8:
        info.encoding = "utf-8-sig" if first.startswith(codecs.BOM_UTF8) else "utf-8"
        return info
    data = Path(path).read_bytes()
    try:
        data.decode("gb18030")
        info.encoding = "gb18030"
        return info
    except UnicodeDecodeError:
        pass
    candidates = ["utf-8", "gb18030"]
    counts = {c: _bad_lines(data, c) for c in candidates}
    if min(counts.values()) > 0.5 * max(lines, 1):
        # Neither fits: ask charset-normalizer (Big5, UTF-16 without BOM, ...).
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[: 1 << 20]).best()
            if best is not None and best.encoding:
                guess = codecs.lookup(best.encoding).name
                if guess not in ("utf-8", "gb18030"):
                    candidates.append(guess)
                    counts[guess] = _bad_lines(data, guess)
        except Exception:  # pragma: no cover - detection is best effort
            pass
    enc = min(candidates, key=lambda c: (counts[c], candidates.index(c)))
    if enc == "utf-8" and data.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    info.encoding = enc
    info.bad_lines = counts[enc if enc != "utf-8-sig" else "utf-8"]
    return info


def inspect(f: DeliveryFile) -> FileInfo:
    """Hash (and for CSV: encoding and line count) of a delivered file."""
    if f.fmt == "csv":
        return inspect_csv(f.path)
    size = f.path.stat().st_size
    return FileInfo(file_sha256(f.path), size, 0)


def estimate_rows(f: DeliveryFile, info: FileInfo) -> int | None:
    """Rows in a file, for progress bars (CSV: lines − header; Parquet: metadata)."""
    if f.fmt == "csv":
        return max(info.lines - 1, 0) or None
    if f.fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(f.path).metadata.num_rows)
        except Exception:
            return None
    return None
