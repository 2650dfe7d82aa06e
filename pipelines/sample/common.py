"""Shared helpers of the synthetic county generator (:mod:`pipelines.sample.county`).

Kept separate so the geography, people and event generators share one way of making
random streams, dates, ids, Chinese names and CSV bytes; nothing here holds state.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

EPOCH = dt.date(1970, 1, 1)

# Stream keys: every generation step draws from its own generator seeded by
# (seed, key), so adding draws to one step never shifts another step's output, and
# the dirty-row injector can never disturb the clean rows.
K_COUNTY, K_TOWNS, K_VILLAGES, K_FACILITIES, K_GRIDS, K_TEAMS, K_STAFF = range(1, 8)
K_RESIDENTS, K_REGISTRY, K_FOLLOWUPS, K_MEASUREMENTS, K_PATTERNS = 10, 11, 12, 13, 14
K_CLAIMS, K_POPULATION, K_MOBILITY, K_CASES, K_VACCINES = 20, 21, 22, 23, 24
K_ROADS = 30
K_DIRTY = 99


def stream(seed: int, key: int, *extra: int) -> np.random.Generator:
    """Independent random generator for one generation step.

    Parameters
    ----------
    seed : int
        The run's seed.
    key : int
        The step's stream key (``K_*`` constants).
    *extra : int
        Further sub-keys (e.g. a month index).

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, key, *extra])


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01 (the integer form used for all date arithmetic)."""
    return (d - EPOCH).days


def to_date(day: int) -> dt.date:
    """Inverse of :func:`day_number`."""
    return EPOCH + dt.timedelta(days=int(day))


def ymd(days: npt.ArrayLike) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month and day arrays of day numbers (proleptic Gregorian)."""
    # Integer civil-from-days (H. Hinnant); much faster than datetime64 unit casts.
    z = np.asarray(days, dtype=np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y.astype(np.int64), m.astype(np.int64), d.astype(np.int64)


def age_on(birth: npt.ArrayLike, on: npt.ArrayLike) -> IntArray:
    """Age in completed years on day ``on`` of people born on day ``birth``."""
    by, bm, bd = ymd(birth)
    oy, om, od = ymd(on)
    before_birthday = (om < bm) | ((om == bm) & (od < bd))
    return (oy - by - before_birthday.astype(np.int64)).astype(np.int64)


def add_years(days: npt.ArrayLike, years: int) -> IntArray:
    """Shift day numbers by whole calendar years (29 Feb maps to 28 Feb)."""
    y, m, d = ymd(days)
    y2 = y + years
    leap = ((y2 % 4 == 0) & (y2 % 100 != 0)) | (y2 % 400 == 0)
    d = np.where((m == 2) & (d == 29) & ~leap, 28, d)
    months = ((y2 - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    return (months.astype("datetime64[D]").astype(np.int64) + d - 1).astype(np.int64)


def date_array(days: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> pa.Array:
    """A pyarrow date32 array from day numbers; ``mask`` True means empty."""
    arr = np.asarray(days, dtype=np.int64).astype(np.int32)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    return pa.array(arr, type=pa.int32(), mask=m).cast(pa.date32())


def num_array(values: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> pa.Array:
    """A pyarrow numeric array; ``mask`` True (or NaN in floats) means empty."""
    arr = np.asarray(values)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        m = nan if m is None else (m | nan)
    return pa.array(arr, mask=m)


def str_array(values: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> pa.Array:
    """A pyarrow string array; ``mask`` True means empty."""
    arr = pa.array(np.asarray(values).astype(str), type=pa.string())
    if mask is None:
        return arr
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), pa.scalar(None, pa.string()), arr)


def take_str(
    pool: Sequence[str] | npt.NDArray[np.str_],
    idx: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
) -> pa.Array:
    """String array ``pool[idx]`` built in Arrow (fast for millions of rows).

    Parameters
    ----------
    pool : sequence of str
        Distinct values.
    idx : array_like of int
        Indices into ``pool``.
    mask : array_like of bool, optional
        True means empty.

    Returns
    -------
    pyarrow.Array
    """
    values = pa.array([str(v) for v in np.asarray(pool).tolist()], type=pa.string())
    ind = np.asarray(idx, dtype=np.int64)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    return values.take(pa.array(ind, mask=m))


def int_str(values: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> pa.Array:
    """Integers as decimal strings (e.g. phone numbers), ``mask`` True means empty."""
    m = None if mask is None else np.asarray(mask, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.int64), mask=m).cast(pa.string())


def make_ids(prefix: str, start: int, n: int, width: int) -> pa.Array:
    """Sequential ids such as ``R0000001`` as a pyarrow string array."""
    nums = pa.array(np.arange(start, start + n, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width, "0"), "")


def id_strings(prefix: str, numbers: npt.ArrayLike, width: int) -> StrArray:
    """Numpy string ids for given integer numbers (small arrays)."""
    return np.array([f"{prefix}{int(v):0{width}d}" for v in np.asarray(numbers).ravel()])


def pick(rng: np.random.Generator, options: Sequence[str], p: Sequence[float], n: int) -> StrArray:
    """Draw ``n`` values from ``options`` with probabilities ``p`` (renormalised)."""
    probs = np.asarray(p, dtype=np.float64)
    idx = rng.choice(len(options), size=n, p=probs / probs.sum())
    return np.asarray(options)[idx]


def pick_index(rng: np.random.Generator, p: Sequence[float], n: int) -> IntArray:
    """Draw ``n`` indices ``0 .. len(p) - 1`` with probabilities ``p`` (renormalised)."""
    probs = np.asarray(p, dtype=np.float64)
    return rng.choice(probs.size, size=n, p=probs / probs.sum())


def largest_remainder(
    total: int, weights: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike
) -> IntArray:
    """Split ``total`` into integers proportional to ``weights`` within ``[lo, hi]``.

    Parameters
    ----------
    total : int
        Target sum (clamped to ``[sum(lo), sum(hi)]``).
    weights : array_like
        Non-negative weights.
    lo, hi : array_like
        Per-item bounds.

    Returns
    -------
    ndarray of int64
    """
    w = np.asarray(weights, dtype=np.float64)
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), w.shape).copy()
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.int64), w.shape).copy()
    total = int(min(max(total, lo_a.sum()), hi_a.sum()))
    out = lo_a.copy()
    # Repeatedly hand out what is left by weight; items at their cap drop out.
    for _ in range(len(w) + 2):
        left = total - int(out.sum())
        if left <= 0:
            break
        room = hi_a - out
        ww = np.where(room > 0, w, 0.0)
        if ww.sum() <= 0:
            ww = (room > 0).astype(np.float64)
        share = ww / ww.sum() * left
        add = np.minimum(np.floor(share).astype(np.int64), room)
        if add.sum() == 0:
            ranked = np.argsort(-(share - np.floor(share)) - (room > 0) * 1e-9, kind="stable")
            add[[int(i) for i in ranked if room[i] > 0][:left]] = 1
        out += add
    return out


# --- Chinese names -----------------------------------------------------------------------

# Common Shandong surnames, roughly by frequency (王 and 张 lead in Weifang).
SURNAMES = np.array(list("王张李刘陈杨赵孙马郭徐于高周胡宋朱吕田袁郑韩曹冯邢许单丁崔桑"))
SURNAME_P = np.array(
    [
        9.0,
        8.0,
        7.5,
        6.5,
        4.0,
        3.5,
        3.5,
        3.2,
        2.8,
        2.6,
        2.4,
        2.2,
        2.2,
        2.0,
        1.9,
        1.8,
        1.7,
        1.6,
        1.5,
        1.4,
        1.3,
        1.3,
        1.2,
        1.1,
        1.0,
        1.0,
        0.9,
        0.9,
        0.8,
        0.8,
    ]
)
GIVEN_MALE = np.array(
    list("伟强军磊洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林庆国建东志")
)
GIVEN_FEMALE = np.array(list("芳娜敏静丽艳娟霞秀英慧玲红梅莉燕萍雪琳晶颖婷倩兰凤洁琴云华玉丹欣悦"))


def chinese_names(
    rng: np.random.Generator, sex: npt.ArrayLike, surname: StrArray | None = None
) -> StrArray:
    """Vectorised Chinese names: surname plus one or two given characters.

    Parameters
    ----------
    rng : numpy.random.Generator
    sex : array_like of int
        1 male, 2 female (chooses the given-name character pool).
    surname : ndarray of str, optional
        Surnames to use (e.g. shared within a household); drawn when None.

    Returns
    -------
    ndarray
        Names (fixed-width ``U3``).
    """
    sx = np.asarray(sex)
    n = sx.size
    if surname is None:
        surname = SURNAMES[rng.choice(SURNAMES.size, size=n, p=SURNAME_P / SURNAME_P.sum())]
    male = sx == 1
    c1 = np.where(
        male,
        GIVEN_MALE[rng.integers(0, GIVEN_MALE.size, n)],
        GIVEN_FEMALE[rng.integers(0, GIVEN_FEMALE.size, n)],
    )
    c2 = np.where(
        male,
        GIVEN_MALE[rng.integers(0, GIVEN_MALE.size, n)],
        GIVEN_FEMALE[rng.integers(0, GIVEN_FEMALE.size, n)],
    )
    two = rng.random(n) < 0.72
    sd = np.dtypes.StringDType()
    out = np.strings.add(np.asarray(surname, dtype=sd), np.asarray(c1, dtype=sd))
    return np.where(two, np.strings.add(out, np.asarray(c2, dtype=sd)), out).astype("U3")


# --- CSV bytes ---------------------------------------------------------------------------


def csv_bytes(table: pa.Table, header: Sequence[str] | None = None) -> bytes:
    r"""Serialise a table as UTF-8 CSV (``\n`` line ends, minimal quoting).

    Values are never quoted when none contains a separator or quote (the common case:
    it keeps files small and lets the dirty-row injector split lines on commas); a
    table that needs quoting (WKT polygons) gets minimal RFC 4180 quoting.

    Parameters
    ----------
    table : pyarrow.Table
    header : sequence of str, optional
        Header names to write instead of the table's column names (aliases).

    Returns
    -------
    bytes
    """
    names = list(header) if header is not None else table.column_names
    head = (",".join(names) + "\n").encode("utf-8")
    buf = io.BytesIO()
    try:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:
        # Format every value the way Arrow's writer does, then quote only where needed.
        cols = [pc.cast(c, pa.string()).to_pylist() for c in table.columns]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerows([["" if v is None else v for v in row] for row in zip(*cols, strict=True)])
        return head + text.getvalue().encode("utf-8")
    return head + buf.getvalue()


def write_csv(
    path: Path,
    rows: pa.Table | Iterable[pa.RecordBatch],
    header: Sequence[str] | None = None,
    chunk_rows: int = 250_000,
) -> int:
    """Write rows as :func:`csv_bytes` would, streaming batch by batch to ``path``.

    The big tables (follow-ups, claims at scale 1.0) would need their whole CSV text in
    memory as bytes; here only one batch is formatted at a time. A table that needs
    quoting (WKT polygons) is written through :func:`csv_bytes`.

    Parameters
    ----------
    path : pathlib.Path
    rows : pyarrow.Table or iterable of pyarrow.RecordBatch
        Record batches are consumed once.
    header : sequence of str, optional
        Header names to write instead of the column names (aliases).
    chunk_rows : int, default 250_000
        Rows per batch when ``rows`` is a table.

    Returns
    -------
    int
        Rows written.
    """
    batches = rows.to_batches(max_chunksize=chunk_rows) if isinstance(rows, pa.Table) else rows
    n = 0
    with open(path, "wb") as f:
        writer: pacsv.CSVWriter | None = None
        for b in batches:
            if writer is None:
                names = list(header) if header is not None else b.schema.names
                f.write((",".join(names) + "\n").encode("utf-8"))
                opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
                writer = pacsv.CSVWriter(f, b.schema, write_options=opts)
            try:
                writer.write_batch(b)
            except pa.ArrowInvalid:
                if not isinstance(rows, pa.Table):
                    raise
                break
            n += b.num_rows
        else:
            if writer is not None:
                writer.close()
            elif isinstance(rows, pa.Table):
                f.write(csv_bytes(rows, header))
            return n
    # A value needs quoting: the table is written whole, with minimal quoting.
    Path(path).write_bytes(csv_bytes(rows, header))
    return rows.num_rows
