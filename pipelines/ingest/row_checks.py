"""The checks a row fails on its own: encoding, required cells, parsing, ranges, ID numbers.

Stages 1 to 6 of :func:`pipelines.ingest.validate.validate_chunk`; each flags the rows that
fail it (:class:`~pipelines.ingest.flags.Flags` keeps a row's first failure), within a
stage in the contract's column order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.ingest.files import BAD_CHAR
from pipelines.ingest.flags import Flags
from pipelines.ingest.ids import id_number_valid, mask_ids
from pipelines.ingest.parse import (
    ALWAYS_PARSED,
    empty_of,
    longer_than,
    mark_clean,
    parse_column,
    stripped_text,
    unparseable_detail,
)
from pipelines.ingest.read import RawChunk
from pipelines.ingest.schema import TableSpec


def flag_bad_encoding(chunk: RawChunk, flags: Flags) -> None:
    """1. ``bad_encoding``: rows with bytes invalid in the file's detected encoding.

    The column named is the first delivered column with such bytes; the value shows them
    as U+FFFD.
    """
    if chunk.bad_encoding is None or not chunk.bad_encoding.any():
        return
    n = flags.n
    bad = chunk.bad_encoding
    colname = np.full(n, None, dtype=object)
    value = np.full(n, None, dtype=object)
    for header in reversed(list(chunk.original.columns)):
        hit = (
            chunk.original[header]
            .str.contains(BAD_CHAR, regex=False)
            .to_numpy(dtype=bool, na_value=False)
        )
        colname[hit] = chunk.mapping.get(header, header)
        value[hit] = chunk.original[header].to_numpy(dtype=object)[hit]
    value = np.array(
        [v.replace(BAD_CHAR, "\ufffd") if isinstance(v, str) else v for v in value],
        dtype=object,
    )
    flags.flag(bad, "bad_encoding", None, value, "bytes invalid in the file's detected encoding")
    flags.column[bad] = colname[bad]


def clean_cells(raw: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, np.ndarray]]:
    """Every delivered column's cells stripped, None where empty, and which are empty.

    The stripped cells are what the parsers read; the empty ones are what the required
    and parse checks ask about.
    """
    clean: dict[str, pd.Series] = {}
    empty: dict[str, np.ndarray] = {}
    for name in set(raw.columns):
        values, empty[name] = stripped_text(raw[name])
        clean[name] = mark_clean(values)
    return clean, empty


def flag_missing_required(
    spec: TableSpec, raw: pd.DataFrame, empty: dict[str, np.ndarray], flags: Flags
) -> None:
    """2. ``missing_required``: a required cell, or every cell of an alternative, is empty.

    Alternatives are groups such as "an address or a lat+lng pair"; an area's
    ``parent_code`` is required except for the county itself.
    """
    n = flags.n
    cols = set(raw.columns)
    for col in spec.columns:
        if col.required and col.name in cols:
            flags.flag(
                empty[col.name], "missing_required", col.name, None, f"{col.name} is required"
            )
    for group in spec.alternatives:
        present = [alt for alt in group if all(name in cols for name in alt)]
        if not present:
            continue
        none = np.ones(n, dtype=bool)
        for alt in present:
            have = np.ones(n, dtype=bool)
            for name in alt:
                have &= ~empty[name]
            none &= ~have
        names = " or ".join("+".join(alt) for alt in group)
        flags.flag(none, "missing_required", present[0][0], None, f"one of {names} is required")
    if spec.name == "areas" and "parent_code" in cols:
        lvl = raw["level"].map(lambda v: spec.col("level").enum_lookup(str(v)))
        need = (lvl.to_numpy(dtype=object) != "county") & empty["parent_code"]
        flags.flag(
            need,
            "missing_required",
            "parent_code",
            None,
            "parent_code is required except for the county",
        )


def parse_columns(
    spec: TableSpec,
    raw: pd.DataFrame,
    clean: dict[str, pd.Series],
    empty: dict[str, np.ndarray],
    flags: Flags,
    tz: str,
) -> pd.DataFrame:
    """3. ``unparseable``: parse every column of the contract; flag what does not parse.

    Parameters
    ----------
    spec : TableSpec
        The table's contract.
    raw : pandas.DataFrame
        The chunk's text cells, under contract column names.
    clean, empty : dict
        The stripped cells and which are empty (:func:`clean_cells`).
    flags : Flags
        Flags a given value that does not parse, text longer than the column allows, and
        half a coordinate pair.
    tz : str
        The county's time zone, for timestamps without an offset.

    Returns
    -------
    pandas.DataFrame
        Every column of the contract, typed; an absent optional column is all missing.
    """
    n = flags.n
    cols = set(raw.columns)
    out: dict[str, pd.Series] = {}
    for c in spec.columns:
        if c.name not in cols:
            continue
        v = parse_column(c, clean[c.name], tz)
        if c.kind in ALWAYS_PARSED:
            failed = np.zeros(n, dtype=bool)
        else:
            failed = ~empty[c.name] & v.isna().to_numpy()
        length = spec.lengths.get(c.name)
        if length and c.kind in ("str", "enum") and v.dtype == object:
            too_long = longer_than(v, length)
            flags.flag(
                too_long & ~failed,
                "unparseable",
                c.name,
                raw[c.name],
                f"longer than {length} characters",
            )
        flags.flag(failed, "unparseable", c.name, raw[c.name], unparseable_detail(c))
        out[c.name] = v
    for c in spec.columns:  # absent optional columns: all NA of the right type
        if c.name not in out:
            out[c.name] = empty_of(c, n)
    df = pd.DataFrame(out, index=raw.index)
    if "lat" in cols or "lng" in cols:
        lat_given = df["lat"].notna().to_numpy()
        lng_given = df["lng"].notna().to_numpy()
        half = lat_given != lng_given
        flags.flag(
            half,
            "unparseable",
            "lat" if lng_given.any() else "lng",
            raw["lat"] if "lat" in cols else None,
            "lat and lng must be given together",
        )
    return df


def flag_out_of_range(spec: TableSpec, raw: pd.DataFrame, df: pd.DataFrame, flags: Flags) -> None:
    """4. ``out_of_range``: values outside their column's bounds, and impossible pairs.

    Besides each column's ``lo``/``hi``: a systolic pressure not above the diastolic, and a
    claim whose fund and self payments exceed its total cost (by more than a cent).
    """
    n = flags.n
    cols = set(raw.columns)
    for c in spec.columns:
        if c.lo is None and c.hi is None:
            continue
        if c.name not in cols:
            continue
        num = pd.to_numeric(df[c.name], errors="coerce").astype("float64").to_numpy()
        bad = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if c.lo is not None:
                bad |= num < c.lo
            if c.hi is not None:
                bad |= num > c.hi
        rng = f"{'' if c.lo is None else c.lo}–{'' if c.hi is None else c.hi}"
        flags.flag(
            bad,
            "out_of_range",
            c.name,
            raw[c.name],
            f"{c.name} outside {rng}" if c.hi is not None else f"{c.name} below {c.lo}",
        )
    if "sbp" in cols and "dbp" in cols:
        sbp, dbp = df["sbp"].to_numpy(), df["dbp"].to_numpy()
        with np.errstate(invalid="ignore"):
            bad = (sbp <= dbp) & ~np.isnan(sbp) & ~np.isnan(dbp)
        flags.flag(
            bad,
            "out_of_range",
            "dbp",
            raw["dbp"],
            pd.Series(sbp).astype(str) + " <= dbp " + pd.Series(dbp).astype(str)
            if bad.any()
            else None,
        )
    if spec.name == "claims" and {"total_cost", "fund_paid", "self_paid"} <= cols:
        tot = df["total_cost"].to_numpy()
        paid = df["fund_paid"].fillna(0).to_numpy() + df["self_paid"].fillna(0).to_numpy()
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(tot) & (paid > tot + 0.01)
        flags.flag(
            bad,
            "out_of_range",
            "self_paid",
            raw["self_paid"],
            "fund_paid + self_paid > total_cost + 0.01",
        )


def flag_id_numbers(spec: TableSpec, raw: pd.DataFrame, df: pd.DataFrame, flags: Flags) -> None:
    """5. ``id_checksum`` and 6. ``id_mismatch``: ID numbers invalid or contradicted.

    An ID number must pass GB 11643 (length, birth date, check character); a resident's
    birth date and sex must agree with it. Values are shown masked.
    """
    if "id_number" not in set(raw.columns):
        return
    n = flags.n
    idn = df["id_number"]
    have = idn.notna().to_numpy()
    valid = id_number_valid(idn)
    masked = mask_ids(idn).to_numpy(dtype=object)
    flags.flag(
        have & ~valid,
        "id_checksum",
        "id_number",
        masked,
        "not a valid GB 11643 ID number (length, birth date or check character)",
    )
    if spec.name != "residents":
        return
    ok = have & valid & flags.ok
    if not ok.any():
        return
    sub = idn[ok].astype(str)
    birth = pd.to_datetime(sub.str[6:14], format="%Y%m%d", errors="coerce")
    sex = np.where(sub.str[16].astype(int).to_numpy() % 2 == 1, 1, 2)
    bd = df["birth_date"][ok]
    bad_birth = np.zeros(n, dtype=bool)
    bad_sex = np.zeros(n, dtype=bool)
    bad_birth[np.flatnonzero(ok)] = (birth.to_numpy() != bd.to_numpy()) & bd.notna().to_numpy()
    dsx = df["sex"][ok].to_numpy(dtype="float64", na_value=np.nan)
    bad_sex[np.flatnonzero(ok)] = (dsx != sex) & ~np.isnan(dsx)
    flags.flag(
        bad_birth,
        "id_mismatch",
        "birth_date",
        raw["birth_date"],
        "birth date disagrees with the ID number",
    )
    flags.flag(bad_sex, "id_mismatch", "sex", raw["sex"], "sex disagrees with the ID number")
