r"""Bad rows and rejected files for the ``--dirty`` sample delivery.

Each injected row copies a good row, takes a fresh key (except ``duplicate_key``) and
then gets exactly one defect, so ingestion must quarantine it for exactly one reason.
Bad rows are spliced into the serialised CSV bytes of the clean files (good rows stay
byte-identical and in the same order) and are listed in the manifest with their file,
key, column, reason and physical line number (header = line 1).

Reason codes (shared with ingestion):

``bad_encoding``
    Bytes ``\xff\xfe`` inside a text field; ``0xFF`` is invalid both in UTF-8 and in
    GB18030, so encoding detection cannot be fooled into another encoding.
``missing_required``
    A required column's value is empty.
``unparseable``
    A date such as ``2026-13-45``, a number ``abc`` or an unknown enum value.
``out_of_range``
    Impossible measurement or amount (SBP 400, DBP >= SBP, glucose 99, heart rate
    500, a negative amount, fund_paid + self_paid > total_cost).
``id_checksum``
    An ID number with a wrong check character.
``id_mismatch``
    A valid ID number whose birth date or sex disagrees with the row.
``outside_county``
    Coordinates in another province.
``unknown_fk``
    A resident_id that does not exist, or a village area_code that does not exist.
``duplicate_key``
    An exact copy of a good row, placed after it in the same file.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from geo.coordinates import id_checksum_char
from pipelines.sample import common as sc

BAD_BYTES = b"\xff\xfe"
# Far outside any sample county: Beijing, Shanghai, Guangzhou.
ELSEWHERE = [("39.904200", "116.407400"), ("31.230400", "121.473700"), ("23.129100", "113.264400")]
TABLE_KEYS = {
    "residents": "resident_id",
    "followups": "followup_id",
    "measurements": "measurement_id",
    "claims": "claim_id",
    "staff": "staff_id",
    "facilities": "facility_id",
}


@dataclass
class BadRow:
    """One injected row before placement."""

    reason: str
    column: str
    fields: list[bytes]
    key: str
    after: int | None = None  # place after this good data row (duplicates)


@dataclass
class DirtyLog:
    """What was injected, for the manifest."""

    rows: list[dict[str, object]] = field(default_factory=list)
    rejected: list[dict[str, object]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The manifest's ``dirty`` section."""
        counts: dict[str, Counter[str]] = {}
        for r in self.rows:
            counts.setdefault(str(r["table"]), Counter())[str(r["reason"])] += 1
        return {
            "quarantined": {t: dict(sorted(c.items())) for t, c in sorted(counts.items())},
            "rejected_files": self.rejected,
            "rows": self.rows,
        }


class Injector:
    """Builds bad rows for one table file and splices them into its bytes."""

    def __init__(self, seed: int, table_no: int) -> None:
        self.rng = sc.stream(seed, sc.K_DIRTY, table_no)

    @staticmethod
    def split(data: bytes, newline: bytes = b"\n") -> tuple[bytes, list[bytes]]:
        """Header line and data lines (without line ends)."""
        lines = data.split(newline)
        if lines and lines[-1] == b"":
            lines.pop()
        return lines[0], lines[1:]

    def splice(
        self,
        log: DirtyLog,
        table: str,
        file: str,
        header: bytes,
        lines: list[bytes],
        bad: list[BadRow],
        newline: bytes = b"\n",
    ) -> bytes:
        """Insert ``bad`` rows among ``lines`` and record them in ``log``."""
        n = len(lines)
        placed: list[tuple[int, int, BadRow]] = []
        for i, b in enumerate(bad):
            if b.after is not None:
                pos = min(n, b.after + 1 + int(self.rng.integers(0, 20)))
            else:
                pos = int(self.rng.integers(0, n + 1))
            placed.append((pos, i, b))
        placed.sort(key=lambda t: (t[0], t[1]))
        out: list[bytes] = [header]
        prev = 0
        for j, (pos, _, b) in enumerate(placed):
            out.extend(lines[prev:pos])
            out.append(b",".join(b.fields))
            prev = pos
            log.rows.append(
                {
                    "table": table,
                    "file": file,
                    "key": b.key,
                    "reason": b.reason,
                    "column": b.column,
                    "line": 1 + pos + j + 1,
                }
            )
        out.extend(lines[prev:])
        return newline.join(out) + newline

    def pick_rows(
        self, lines: list[bytes], k: int, pred: Callable[[bytes], bool] | None = None
    ) -> list[int]:
        """``k`` distinct random data-row indices whose line satisfies ``pred``."""
        out: list[int] = []
        for _ in range(200 * k + 200):
            if len(out) == k:
                break
            i = int(self.rng.integers(0, len(lines)))
            if i not in out and (pred is None or pred(lines[i])):
                out.append(i)
        if len(out) < k:
            raise ValueError("not enough suitable rows to copy for bad-row injection")
        return out


def _fresh(prefix: str, width: int, offset: int, k: int) -> str:
    """Keys from the top of the id space, never used by good rows."""
    return f"{prefix}{10**width - offset + k:0{width}d}"


def _with(fields: list[bytes], idx: int, value: bytes) -> list[bytes]:
    out = list(fields)
    out[idx] = value
    return out


def _bad_text(text: bytes, encoding: str = "utf-8") -> bytes:
    """Insert the invalid bytes after the first character of ``text``."""
    s = text.decode(encoding) if text else "头晕"
    first = s[:1].encode(encoding)
    return first + BAD_BYTES + s[1:].encode(encoding)


# --- per-table recipes -------------------------------------------------------------------


def residents_bad(
    inj: Injector,
    header: bytes,
    lines: list[bytes],
    id_numbers: pa.Array,
    key_width: int,
    *,
    county6: str,
) -> list[BadRow]:
    """Bad resident rows (every reason except ``out_of_range``).

    ``county6`` is the county's six-digit code: the ``unknown_fk`` rows get village codes
    of it that do not exist (town 096-098).
    """
    cols = header.decode().split(",")
    ix = {c: i for i, c in enumerate(cols)}
    rng = inj.rng
    bad: list[BadRow] = []
    k = 0

    def fresh_row(base: int) -> tuple[list[bytes], str]:
        nonlocal k
        k += 1
        f = lines[base].split(b",")
        key = _fresh("R", key_width, 1000, k)
        f[ix["resident_id"]] = key.encode()
        # A new valid ID for the same birth date and sex, unused by any good row.
        old = f[ix["id_number"]].decode()
        sex = int(f[ix["sex"]])
        while True:
            seq = int(rng.integers(0, 500)) * 2 + (1 if sex == 1 else 0)
            body = old[:14] + f"{seq:03d}"
            cand = body + id_checksum_char(body)
            if not pc.any(pc.equal(id_numbers, cand)).as_py():
                break
        f[ix["id_number"]] = cand.encode()
        return f, key

    def rows(k_: int) -> list[int]:
        return inj.pick_rows(lines, k_, lambda ln: len(ln.split(b",")[ix["lat"]]) > 0)

    for base in rows(3):
        f, key = fresh_row(base)
        bad.append(
            BadRow("bad_encoding", "name", _with(f, ix["name"], _bad_text(f[ix["name"]])), key)
        )
    for j, base in enumerate(rows(3)):
        col = ["name", "area_code", "birth_date"][j % 3]
        f, key = fresh_row(base)
        bad.append(BadRow("missing_required", col, _with(f, ix[col], b""), key))
    for j, base in enumerate(rows(3)):
        col, val = [("birth_date", b"2026-13-45"), ("sex", b"3"), ("lat", b"abc")][j % 3]
        f, key = fresh_row(base)
        bad.append(BadRow("unparseable", col, _with(f, ix[col], val), key))
    for base in rows(3):
        f, key = fresh_row(base)
        idn = f[ix["id_number"]].decode()
        wrong = "0123456789X".replace(idn[17], "")[int(rng.integers(0, 10))]
        bad.append(
            BadRow(
                "id_checksum",
                "id_number",
                _with(f, ix["id_number"], (idn[:17] + wrong).encode()),
                key,
            )
        )
    for j, base in enumerate(rows(3)):
        f, key = fresh_row(base)
        if j % 2 == 0:
            b = dt.date.fromisoformat(f[ix["birth_date"]].decode()) - dt.timedelta(
                days=int(rng.integers(1, 400))
            )
            bad.append(
                BadRow(
                    "id_mismatch",
                    "birth_date",
                    _with(f, ix["birth_date"], b.isoformat().encode()),
                    key,
                )
            )
        else:
            other = b"2" if f[ix["sex"]] == b"1" else b"1"
            bad.append(BadRow("id_mismatch", "sex", _with(f, ix["sex"], other), key))
    for j, base in enumerate(rows(3)):
        f, key = fresh_row(base)
        lat, lng = ELSEWHERE[j % 3]
        f = _with(_with(f, ix["lat"], lat.encode()), ix["lng"], lng.encode())
        bad.append(BadRow("outside_county", "lat", f, key))
    for j, base in enumerate(rows(3)):
        f, key = fresh_row(base)
        code = f"{county6}{98 - j:03d}{990 + j:03d}".encode()
        bad.append(BadRow("unknown_fk", "area_code", _with(f, ix["area_code"], code), key))
    for base in rows(3):
        f = lines[base].split(b",")
        bad.append(
            BadRow("duplicate_key", "resident_id", f, f[ix["resident_id"]].decode(), after=base)
        )
    return bad


def followups_bad(
    inj: Injector, header: bytes, lines: list[bytes], key_width: int, rid_width: int
) -> list[BadRow]:
    """Bad follow-up rows."""
    cols = header.decode().split(",")
    ix = {c: i for i, c in enumerate(cols)}
    bad: list[BadRow] = []
    sample = lines
    k = 0

    def fresh(base: int) -> tuple[list[bytes], str]:
        nonlocal k
        k += 1
        f = sample[base].split(b",")
        key = _fresh("F", key_width, 1000, k)
        f[ix["followup_id"]] = key.encode()
        return f, key

    for base in inj.pick_rows(sample, 3):
        f, key = fresh(base)
        text = "头晕;乏力".encode()
        bad.append(
            BadRow("bad_encoding", "symptoms", _with(f, ix["symptoms"], _bad_text(text)), key)
        )
    for j, base in enumerate(inj.pick_rows(sample, 3)):
        col = ["visit_date", "disease", "resident_id"][j % 3]
        f, key = fresh(base)
        bad.append(BadRow("missing_required", col, _with(f, ix[col], b""), key))
    for j, base in enumerate(inj.pick_rows(sample, 3)):
        col, val = [("visit_date", b"2026-13-45"), ("sbp", b"abc"), ("dbp", b"abc")][j % 3]
        f, key = fresh(base)
        bad.append(BadRow("unparseable", col, _with(f, ix[col], val), key))
    plain = inj.pick_rows(sample, 3)
    dm = inj.pick_rows(sample, 1, lambda ln: ln.split(b",")[ix["disease"]] == b"t2dm")
    for j, base in enumerate([*plain, *dm]):
        f, key = fresh(base)
        if j == 0:
            f = _with(f, ix["sbp"], b"400")
            col = "sbp"
        elif j == 1:
            f = _with(_with(f, ix["sbp"], b"120"), ix["dbp"], b"130")
            col = "dbp"
        elif j == 2:
            f = _with(f, ix["heart_rate"], b"500")
            col = "heart_rate"
        else:
            f = _with(f, ix["fasting_glucose"], b"99")
            col = "fasting_glucose"
        bad.append(BadRow("out_of_range", col, f, key))
    for j, base in enumerate(inj.pick_rows(sample, 3)):
        f, key = fresh(base)
        bad.append(
            BadRow(
                "unknown_fk",
                "resident_id",
                _with(f, ix["resident_id"], _fresh("R", rid_width, 2000, j).encode()),
                key,
            )
        )
    for base in inj.pick_rows(sample, 3):
        f = sample[base].split(b",")
        bad.append(
            BadRow("duplicate_key", "followup_id", f, f[ix["followup_id"]].decode(), after=base)
        )
    return bad


def measurements_bad(
    inj: Injector,
    header: bytes,
    lines: list[bytes],
    planted_ids: set[str],
    key_width: int,
    rid_width: int,
) -> list[BadRow]:
    """Bad terminal readings (never copies of the planted emergencies)."""
    cols = header.decode().split(",")
    ix = {c: i for i, c in enumerate(cols)}

    def ok(ln: bytes) -> bool:
        return ln.split(b",")[0].decode() not in planted_ids

    bad: list[BadRow] = []
    k = 0

    def fresh(base: int) -> tuple[list[bytes], str]:
        nonlocal k
        k += 1
        f = lines[base].split(b",")
        key = _fresh("M", key_width, 1000, k)
        f[ix["measurement_id"]] = key.encode()
        return f, key

    for base in inj.pick_rows(lines, 3, ok):
        f, key = fresh(base)
        bad.append(
            BadRow(
                "bad_encoding",
                "device_id",
                _with(f, ix["device_id"], _bad_text(f[ix["device_id"]])),
                key,
            )
        )
    for j, base in enumerate(inj.pick_rows(lines, 3, ok)):
        col = ["measured_at", "resident_id", "measured_at"][j % 3]
        f, key = fresh(base)
        bad.append(BadRow("missing_required", col, _with(f, ix[col], b""), key))
    for j, base in enumerate(inj.pick_rows(lines, 3, ok)):
        col, val = [
            ("measured_at", b"2026-13-45T08:00:00"),
            ("sbp", b"abc"),
            ("heart_rate", b"abc"),
        ][j % 3]
        f, key = fresh(base)
        bad.append(BadRow("unparseable", col, _with(f, ix[col], val), key))
    for j, base in enumerate(inj.pick_rows(lines, 4, ok)):
        f, key = fresh(base)
        col, edits = [
            ("sbp", [("sbp", b"400")]),
            ("dbp", [("sbp", b"120"), ("dbp", b"130")]),
            ("heart_rate", [("heart_rate", b"500")]),
            ("glucose", [("glucose", b"99"), ("glucose_type", b"random")]),
        ][j % 4]
        for c, val in edits:
            f = _with(f, ix[c], val)
        bad.append(BadRow("out_of_range", col, f, key))
    for j, base in enumerate(inj.pick_rows(lines, 3, ok)):
        f, key = fresh(base)
        bad.append(
            BadRow(
                "unknown_fk",
                "resident_id",
                _with(f, ix["resident_id"], _fresh("R", rid_width, 2000, 10 + j).encode()),
                key,
            )
        )
    for base in inj.pick_rows(lines, 3, ok):
        f = lines[base].split(b",")
        bad.append(
            BadRow(
                "duplicate_key", "measurement_id", f, f[ix["measurement_id"]].decode(), after=base
            )
        )
    return bad


CLAIM_RECIPES: list[tuple[str, int]] = (
    [("bad_encoding", i) for i in range(3)]
    + [("missing_required", i) for i in range(3)]
    + [("unparseable", i) for i in range(3)]
    + [("out_of_range", i) for i in range(3)]
    + [("unknown_fk", i) for i in range(3)]
    + [("id_checksum", i) for i in range(3)]
    + [("duplicate_key", i) for i in range(3)]
)


def claims_plan(seed: int, n_batches: int) -> list[list[tuple[str, int]]]:
    """Which claim recipes go into which monthly batch."""
    rng = sc.stream(seed, sc.K_DIRTY, 100)
    where = rng.integers(0, n_batches, len(CLAIM_RECIPES))
    return [
        [r for r, b in zip(CLAIM_RECIPES, where, strict=True) if b == i] for i in range(n_batches)
    ]


def claims_bad(
    inj: Injector,
    header: bytes,
    lines: list[bytes],
    recipes: list[tuple[str, int]],
    first_key: int,
    rid_width: int,
    id_pool: list[str],
) -> list[BadRow]:
    """Bad claim rows for one monthly file."""
    cols = header.decode().split(",")
    ix = {c: i for i, c in enumerate(cols)}
    sample = lines

    def ok(ln: bytes) -> bool:
        f = ln.split(b",")
        return f[ix["resident_id"]] != b"" and f[ix["visit_type"]] == b"outpatient"

    bad: list[BadRow] = []
    for n_done, (reason, var) in enumerate(recipes):
        (base,) = inj.pick_rows(sample, 1, ok)
        f = sample[base].split(b",")
        if reason == "duplicate_key":
            bad.append(BadRow(reason, "claim_id", f, f[ix["claim_id"]].decode(), after=base))
            continue
        key = _fresh("C", 9, 1000, first_key + n_done)
        f[ix["claim_id"]] = key.encode()
        total = float(f[ix["total_cost"]])
        if reason == "bad_encoding":
            col, val = "icd10", _bad_text(f[ix["icd10"]])
        elif reason == "missing_required":
            col, val = ["visit_date", "facility_id", "visit_type"][var], b""
        elif reason == "unparseable":
            col, val = [
                ("visit_date", b"2026-13-45"),
                ("total_cost", b"abc"),
                ("visit_type", b"dental"),
            ][var]
        elif reason == "out_of_range":
            if var == 0:
                col, val = "self_paid", b"-12.5"
            elif var == 1:
                col, val = "fund_paid", b"-30"
            else:
                f = _with(f, ix["fund_paid"], f[ix["total_cost"]])
                col, val = "self_paid", f"{round(total / 2 + 1, 2)}".encode()
        elif reason == "unknown_fk":
            col, val = "resident_id", _fresh("R", rid_width, 2000, 20 + var).encode()
        else:  # id_checksum: linked by ID number only, with a wrong check character
            idn = id_pool[var % len(id_pool)]
            wrong = "0123456789X".replace(idn[17], "")[int(inj.rng.integers(0, 10))]
            f = _with(f, ix["resident_id"], b"")
            col, val = "id_number", (idn[:17] + wrong).encode()
        bad.append(BadRow(reason, col, _with(f, ix[col], val), key))
    return bad


def staff_bad(inj: Injector, header: bytes, lines: list[bytes], key_width: int) -> list[BadRow]:
    r"""Bad-encoding rows in the GB18030 staff file (``\xff`` is invalid there too)."""
    bad = []
    for j, base in enumerate(inj.pick_rows(lines, 3)):
        f = lines[base].split(b",")
        key = _fresh("S", key_width, 100, j)
        f[0] = key.encode()
        f[1] = _bad_text(f[1], "gb18030")
        bad.append(BadRow("bad_encoding", "name", f, key))
    return bad


def facilities_bad(inj: Injector, header: bytes, lines: list[bytes]) -> list[BadRow]:
    """Clinics placed in other provinces (WGS84, so no datum shift can explain them)."""
    cols = header.decode().split(",")
    ix = {c: i for i, c in enumerate(cols)}
    bad = []
    for j, base in enumerate(inj.pick_rows(lines, 3, lambda ln: b",village_clinic," in ln)):
        f = lines[base].split(b",")
        key = f"VX{j + 1:04d}"
        f[ix["facility_id"]] = key.encode()
        lat, lng = ELSEWHERE[j % 3]
        f = _with(
            _with(_with(f, ix["lat"], lat.encode()), ix["lng"], lng.encode()),
            ix["coord_sys"],
            b"wgs84",
        )
        bad.append(BadRow("outside_county", "lat", f, key))
    return bad


def rejected_file(
    inj: Injector,
    header: bytes,
    lines: list[bytes],
    drop: list[str],
    key_col: str,
    prefix: str,
    key_width: int,
) -> bytes:
    """A file missing required columns (rows otherwise plausible, fresh keys)."""
    cols = header.decode().split(",")
    keep = [i for i, c in enumerate(cols) if c not in drop]
    kix = cols.index(key_col)
    out = [b",".join(header.split(b",")[i] for i in keep)]
    for j, base in enumerate(inj.pick_rows(lines, min(20, len(lines)))):
        f = lines[base].split(b",")
        f[kix] = _fresh(prefix, key_width, 5000, j).encode()
        out.append(b",".join(f[i] for i in keep))
    return b"\n".join(out) + b"\n"
