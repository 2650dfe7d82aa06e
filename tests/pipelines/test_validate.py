"""Vectorised parsing and the order of the checks (no store: a fake context)."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import id_number

from pipelines.ingest.read import RawChunk
from pipelines.ingest.schema import SPECS, icd_chronic, icd_infectious
from pipelines.ingest.validate import (
    KeySet,
    hash_ids,
    id_number_valid,
    mask_id,
    parse_bool,
    parse_date,
    parse_enum,
    parse_timestamp,
    validate_chunk,
)


def s(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype=str)


def test_dates_all_formats() -> None:
    out = parse_date(
        s(
            "2026-01-05",
            "2026/1/5",
            "20260105",
            "46027",
            "46027.0",
            "2026-01-05 00:00:00",
            "",
            "2026-13-45",
            "abc",
            "60",
        )
    )
    got = [None if pd.isna(v) else str(v.date()) for v in out]
    assert got == ["2026-01-05"] * 6 + [None, None, None, None]
    assert str(parse_date(s("1"))[0].date()) == "1900-01-01"
    assert str(parse_date(s("61"))[0].date()) == "1900-03-01"


def test_timestamps_local_without_offset() -> None:
    out = parse_timestamp(
        s(
            "2026-03-01 00:30:00",
            "2026-03-01T00:30:00+08:00",
            "2026-02-28T16:30:00Z",
            "2026/03/01 00:30",
            "2026-03-01",
            "",
            "2026-13-45T08:00:00",
        ),
        "Asia/Shanghai",
    )
    want = pd.Timestamp("2026-02-28 16:30", tz="UTC")
    assert list(out[:4]) == [want] * 4
    assert out[4] == pd.Timestamp("2026-02-28 16:00", tz="UTC")
    assert pd.isna(out[5]) and pd.isna(out[6])


def test_booleans() -> None:
    out = parse_bool(s("1", "0", "true", "FALSE", "是", "否", "Y", "n", "", "maybe"))
    assert out.tolist()[:8] == [True, False, True, False, True, False, True, False]
    assert pd.isna(out[8]) and pd.isna(out[9])


def test_enums_with_chinese_and_icd() -> None:
    dis = SPECS["followups"].col("disease")
    assert parse_enum(
        s("高血压", "HTN", "I10", "I15.9", "E11.9", "2型糖尿病", "J11", "I16"), dis
    ).tolist() == ["htn", "htn", "htn", "htn", "t2dm", "t2dm", None, None]
    sex = SPECS["residents"].col("sex")
    assert parse_enum(s("1", "男", "女", "2", "3"), sex).tolist()[:4] == [1, 1, 2, 2]
    level = SPECS["areas"].col("level")
    assert parse_enum(s("县", "乡镇", "村", "ｔｏｗｎ"), level).tolist() == [
        "county",
        "town",
        "village",
        "town",
    ]
    assert icd_infectious("J09") == icd_infectious("J10.1") == "influenza"
    assert icd_infectious("J12") is None and icd_chronic("E10") is None


def test_id_numbers() -> None:
    good = id_number("1950-03-04", 11)
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    bad_date = "370783" + "19501340" + "011"
    from geo.coordinates import id_checksum_char

    bad_date += id_checksum_char(bad_date)
    ok = id_number_valid(pd.Series([good, bad_check, bad_date, "123", None], dtype=object))
    assert ok.tolist() == [True, False, False, False, False]
    assert mask_id(good) == good[:4] + "**********" + good[-4:]
    h = hash_ids(pd.Series([good, None], dtype=object), b"k")
    assert h[0] == hmac.new(b"k", good.encode(), hashlib.sha256).hexdigest() and h[1] is None


class FakeContext:
    timezone = "Asia/Shanghai"
    id_hash_key = b"k"

    def __init__(self, known: dict[str, list[str]], outside_lat: float = 38.0) -> None:
        self._known = {k: pd.Index(v, dtype=object) for k, v in known.items()}
        self.outside_lat = outside_lat

    def known(self, ref: str) -> pd.Index:
        return self._known.get(ref, pd.Index([], dtype=object))

    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return np.asarray(lat) > self.outside_lat

    def resident_for_hash(self, hashes: pd.Series) -> pd.Series:
        return pd.Series([None] * len(hashes), index=hashes.index, dtype=object)


def chunk(rows: list[dict[str, str]], columns: list[str]) -> RawChunk:
    df = pd.DataFrame([[r.get(c, "") for c in columns] for r in rows], columns=columns, dtype=str)
    return RawChunk(
        data=df.copy(),
        original=df,
        row_number=np.arange(1, len(df) + 1),
        bad_encoding=None,
        mapping={c: c for c in columns},
    )


FU_COLS = [
    "followup_id",
    "resident_id",
    "disease",
    "visit_date",
    "sbp",
    "dbp",
    "fasting_glucose",
    "heart_rate",
    "adverse_reaction",
    "staff_id",
]


def test_followup_checks_in_order() -> None:
    good = dict(
        followup_id="F1",
        resident_id="R1",
        disease="htn",
        visit_date="2026-01-01",
        sbp="130",
        dbp="80",
    )
    rows = [
        good,
        dict(good, followup_id="F2", visit_date=""),  # missing_required
        dict(good, followup_id="F3", sbp="abc"),  # unparseable
        dict(good, followup_id="F4", sbp="400"),  # out_of_range
        dict(good, followup_id="F5", sbp="120", dbp="130"),  # sbp must exceed dbp
        dict(good, followup_id="F6", fasting_glucose="99"),
        dict(good, followup_id="F7", heart_rate="10"),
        dict(good, followup_id="F8", resident_id="R404"),  # unknown_fk
        dict(good, followup_id="F9", staff_id="S404"),  # unknown_fk (staff)
        dict(good),  # duplicate_key
        dict(good, followup_id="F10", sbp="400", resident_id="R404"),  # first failing: range
        dict(good, followup_id="F11", adverse_reaction="maybe"),
    ]
    ctx = FakeContext({"residents": ["R1"], "staff": ["S1"]})
    out = validate_chunk(SPECS["followups"], chunk(rows, FU_COLS), ctx, KeySet())  # type: ignore[arg-type]
    q = out.quarantine
    assert list(zip(q["row_number"], q["reason"], q["column_name"], strict=True)) == [
        (2, "missing_required", "visit_date"),
        (3, "unparseable", "sbp"),
        (4, "out_of_range", "sbp"),
        (5, "out_of_range", "dbp"),
        (6, "out_of_range", "fasting_glucose"),
        (7, "out_of_range", "heart_rate"),
        (8, "unknown_fk", "resident_id"),
        (9, "unknown_fk", "staff_id"),
        (10, "duplicate_key", "followup_id"),
        (11, "out_of_range", "sbp"),
        (12, "unparseable", "adverse_reaction"),
    ]
    assert out.good["followup_id"].tolist() == ["F1"]
    assert q.iloc[0]["raw"]["followup_id"] == "F2"


def test_duplicates_across_chunks_and_composite_keys() -> None:
    cols = ["area_code", "year", "sex", "age_band", "count"]
    row = dict(area_code="V1", year="2026", sex="1", age_band="0-4", count="5")
    ctx = FakeContext({"areas:village,town": ["V1"]})
    seen = KeySet()
    a = validate_chunk(SPECS["population"], chunk([row, dict(row, sex="男")], cols), ctx, seen)  # type: ignore[arg-type]
    assert a.quarantine["reason"].tolist() == ["duplicate_key"]  # 男 == 1
    b = validate_chunk(
        SPECS["population"], chunk([row, dict(row, count="-1", age_band="85+")], cols), ctx, seen
    )  # type: ignore[arg-type]
    assert b.quarantine["reason"].tolist() == ["duplicate_key", "out_of_range"]


def test_claims_costs_and_alternatives() -> None:
    cols = [
        "claim_id",
        "resident_id",
        "id_number",
        "visit_date",
        "facility_id",
        "visit_type",
        "total_cost",
        "fund_paid",
        "self_paid",
    ]
    good = dict(
        claim_id="C1",
        resident_id="R1",
        visit_date="2026-01-01",
        facility_id="X",
        visit_type="outpatient",
        total_cost="100",
        fund_paid="60",
        self_paid="40.01",
    )
    rows = [
        good,
        dict(good, claim_id="C2", self_paid="40.02"),  # 100.02 > 100.01
        dict(good, claim_id="C3", resident_id=""),  # neither resident_id nor id_number
        dict(good, claim_id="C4", fund_paid="-1"),
        dict(good, claim_id="C5", resident_id="", id_number="370783"),  # bad ID
        dict(good, claim_id="C6", facility_id="UNKNOWN"),  # kept: in_county decided later
    ]
    ctx = FakeContext({"residents": ["R1"]})
    out = validate_chunk(SPECS["claims"], chunk(rows, cols), ctx, KeySet())  # type: ignore[arg-type]
    assert list(
        zip(
            out.quarantine["claim_id"]
            if "claim_id" in out.quarantine
            else [r["claim_id"] for r in out.quarantine["raw"]],
            out.quarantine["reason"],
            strict=True,
        )
    ) == [
        ("C2", "out_of_range"),
        ("C3", "missing_required"),
        ("C4", "out_of_range"),
        ("C5", "id_checksum"),
    ]
    assert out.good["claim_id"].tolist() == ["C1", "C6"]


def test_outside_county_and_coordinate_conversion() -> None:
    cols = ["facility_id", "name", "type", "area_code", "lat", "lng", "coord_sys"]
    good = dict(facility_id="F1", name="a", type="other", area_code="A", lat="36.8", lng="118.8")
    rows = [
        good,
        dict(good, facility_id="F2", lat="39.9"),
        dict(good, facility_id="F3", coord_sys="gcj02"),
        dict(good, facility_id="F4", coord_sys="mars"),
    ]
    ctx = FakeContext({"areas": ["A"]})
    out = validate_chunk(SPECS["facilities"], chunk(rows, cols), ctx, KeySet())  # type: ignore[arg-type]
    assert out.quarantine["reason"].tolist() == ["outside_county", "unparseable"]
    g = out.good.set_index("facility_id")
    assert g.loc["F1", "lat"] == 36.8 and g.loc["F3", "lat"] != pytest.approx(36.8, abs=1e-5)
    assert g.loc["F3", "lat"] == pytest.approx(36.8, abs=0.01)


def test_keyset() -> None:
    k = KeySet(["a", "b"])
    k.add(np.array(["c"], dtype=object))
    assert k.contains(["a", "c", "z"]).tolist() == [True, True, False] and len(k) == 3


def test_keyset_grows_by_chunks() -> None:
    # The set a file's duplicate check grows chunk by chunk: missing values are never
    # members, repeats count once, and the index keeps the order keys were first added.
    k = KeySet()
    assert k.contains(["a", None]).tolist() == [False, False] and len(k) == 0
    k.add(pd.Series(["b", None, "a"], dtype=object))
    k.add(np.array(["a", "c", np.nan], dtype=object))
    assert len(k) == 3 and k.index.tolist() == ["b", "a", "c"]
    assert k.contains(np.array(["c", None, "d", "b"], dtype=object)).tolist() == [
        True,
        False,
        False,
        True,
    ]
    assert k.contains([]).tolist() == []


def test_flags_ok_is_a_copy_and_first_flag_wins() -> None:
    from pipelines.ingest.flags import Flags

    f = Flags(3)
    ok = f.ok
    ok[:] = False  # the caller's array, not the flags'
    assert f.ok.tolist() == [True, True, True]
    f.flag(np.array([True, False, False]), "missing_required", "a")
    f.flag(np.array([True, True, False]), "unparseable", "b")
    assert f.ok.tolist() == [False, False, True]
    assert f.reason.tolist() == ["missing_required", "unparseable", None]


def test_parsers_on_cells_not_stripped_by_clean_cells() -> None:
    # The parsers reuse the Arrow array of stripped cells; given plain text (no such
    # array) they make it themselves, with the same result.
    from pipelines.ingest.parse import longer_than, normalise_id_number, parse_float
    from pipelines.ingest.row_checks import clean_cells

    raw = pd.DataFrame({"x": [" 1.5", "", "１,２00", "x"], "t": ["ab", " abc ", "", "a"]})
    clean, empty = clean_cells(raw)
    assert empty["x"].tolist() == [False, True, False, False]
    for given in (clean["x"], raw["x"]):
        got = parse_float(given).tolist()
        assert got[0] == 1.5 and np.isnan(got[1]) and got[2] == 1200.0 and np.isnan(got[3])
    for text in (clean["t"], pd.Series(["ab", "abc", None, "a"], dtype=object)):
        assert longer_than(text, 2).tolist() == [False, True, False, False]
    ids = normalise_id_number(pd.Series([" 37078319500304011x ", None], dtype=object))
    assert ids.tolist() == ["37078319500304011X", None]


def test_distinct_value_parsers_same_on_stripped_and_plain_cells() -> None:
    # Dates, enums and H3 cells are parsed once per distinct value; the distinct values
    # come from Arrow for stripped cells and from pandas otherwise, with the same result.
    from pipelines.ingest.parse import parse_h3
    from pipelines.ingest.row_checks import clean_cells

    cell = "8a2a1072b59ffff"
    raw = pd.DataFrame(
        {
            "d": ["2026-01-05", "", "20260105", "x", "2026-01-05"],
            "e": ["门诊", "outpatient", "", "nope", "住院"],
            "h": [cell, "", "bad", cell.upper(), cell],
        }
    )
    clean, _ = clean_cells(raw)
    plain = {k: raw[k].replace("", None).astype(object) for k in raw}
    visit_type = SPECS["claims"].col("visit_type")
    got = []
    for cells in (clean, plain):
        dates = parse_date(cells["d"])
        assert dates[0] == pd.Timestamp("2026-01-05") and dates.isna().tolist()[1:4] == [
            True,
            False,
            True,
        ]
        assert parse_enum(cells["e"], visit_type).tolist()[2:4] == [None, None]
        # Missing and invalid cells are None, as in every other code column.
        assert parse_h3(cells["h"]).tolist() == [cell, None, None, cell.lower(), cell]
        got.append((dates.tolist(), parse_enum(cells["e"], visit_type).tolist()))
    assert got[0] == got[1]
