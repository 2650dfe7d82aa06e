"""Disease burden per town: ICD-10 blocks, rankings, rates and ratios worked by hand.

D = 2026-06-30, W = 2025-07-01 … 2026-06-30.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from geo.burden import ICD10_BLOCKS, OTHER_BLOCK, disease_burden, icd10_block

D = dt.date(2026, 6, 30)
COUNTY = "370783000000"
T1, T2 = "370783001000", "370783002000"
V11, V21 = "370783001001", "370783002001"
AREAS = pd.DataFrame(
    {
        "area_code": [COUNTY, T1, T2, V11, V21],
        "name": ["县", "一镇", "二镇", "一村", "三村"],
        "level": ["county", "town", "town", "village", "village"],
        "parent_code": [None, COUNTY, COUNTY, T1, T2],
    }
)


def test_block_table_has_no_overlaps_and_covers_examples():
    seen: dict[str, str] = {}
    for b in ICD10_BLOCKS:
        assert b.start <= b.end
        assert b.name_zh and b.name_en
    cats = pd.Series(
        [f"{chr(c)}{n:02d}" for c in range(ord("A"), ord("Z") + 1) for n in range(100)]
    )
    blocks = icd10_block(cats)
    for cat, blk in zip(cats, blocks, strict=True):
        hits = [b for b in ICD10_BLOCKS if b.start <= cat <= b.end]
        assert len(hits) <= 1, (cat, hits)  # blocks never overlap
        seen[cat] = blk
    assert seen["A00"] == "A00-A09" and seen["Z99"] == "Z80-Z99"
    got = icd10_block(
        pd.Series(
            [
                "E11.9",
                "i10",
                " J11.1",
                "C34.9",
                "M54.5",
                "M05.3",
                "U07.1",
                "U99",
                None,
                "Z00.0",
                "W19",
                "X60",
                "Y09",
                "C50.9",
                "I63.9",
                "K29.7",
                "J06.9",
                "J20.9",
            ]
        )
    )
    assert got.tolist() == [
        "E10-E14",
        "I10-I15",
        "J09-J18",
        "C00-C97",
        "M40-M54",
        "M05-M14",
        "U00-U49",
        OTHER_BLOCK,
        None,
        "Z00-Z13",
        "V01-X59",
        "X60-X84",
        "X85-Y09",
        "C00-C97",
        "I60-I69",
        "K20-K31",
        "J00-J06",
        "J20-J22",
    ]


def fixture():
    res = pd.DataFrame(
        {
            "resident_id": ["a", "b", "c", "d", "e", "m"],
            "sex": 1,
            "birth_date": pd.to_datetime(["1950-01-01"] * 6),
            "area_code": [V11, V11, V11, V21, V21, V21],
            "town_code": [T1, T1, T1, T2, T2, T2],
            "status": ["active"] * 5 + ["moved"],
        }
    )
    rows = [
        ("a", "2026-01-01", "I10", 100),
        ("a", "2026-02-01", "I10", 100),
        ("a", "2026-03-01", "I10.x01", 100),
        ("a", "2026-03-05", "E11.9", 50),
        ("b", "2026-04-01", "I15.0", 200),
        ("b", "2026-04-02", "U99", 60),
        ("c", "2026-01-10", "M54.5", 80),
        ("c", "2025-07-01", "M54.4", 80),  # D-364: in W
        ("d", "2026-05-01", "I10", 10),
        ("d", "2026-05-02", "M51.2", 300),
        ("d", "2026-05-03", "M48.0", 20),
        *[("e", f"2026-06-0{i}", "J11.1", 5) for i in range(1, 6)],
        ("a", "2025-06-30", "C34.9", 9999),  # D-365: outside W
        ("a", "2026-07-01", "C34.9", 9999),  # after D
        ("b", "2026-02-02", None, 9999),  # no diagnosis
        ("zz", "2026-02-02", "I10", 9999),  # resident not on file
    ]
    claims = pd.DataFrame(
        {
            "claim_id": [f"C{i}" for i in range(len(rows))],
            "resident_id": [r[0] for r in rows],
            "visit_date": pd.to_datetime([r[1] for r in rows]),
            "icd10": [r[2] for r in rows],
            "total_cost": [float(r[3]) for r in rows],
            "fund_paid": [r[3] / 2 for r in rows],
            "visit_type": "outpatient",
        }
    )
    pop = pd.DataFrame(
        {
            "area_code": [V11, V21],
            "year": [2025, 2025],
            "sex": [1, 1],
            "age_band": ["20-24", "20-24"],
            "count": [2000, 1000],
        }
    )
    return claims, res, pop


def block_row(out: pd.DataFrame, town: str, block: str) -> pd.Series:
    r = out[(out.town_code == town) & (out.block == block)]
    assert len(r) == 1, (town, block)
    return r.iloc[0]


def test_counts_rates_and_ratios():
    claims, res, pop = fixture()
    out = disease_burden(D, claims, res, pop, k=0)
    htn = block_row(out, T1, "I10-I15")
    # T1 hypertensive: a ×3 + b ×1 = 4 visits, 2 patients, cost 100·3 + 200 = 500
    assert (htn.visits, htn.patients, htn.cost, htn.fund_paid) == (4, 2, 500, 250)
    assert htn.block_name_zh == "高血压病" and htn.chapter == "IX"
    # rate 2 / 2000 × 1000 = 1.0; county: a, b, d = 3 / 3000 × 1000 = 1.0; ratio 1.0
    assert htn.population == 2000
    assert htn.rate_per_1000 == pytest.approx(1.0)
    assert htn.county_rate_per_1000 == pytest.approx(1.0)
    assert htn.ratio_to_county == pytest.approx(1.0)
    dors1, dors2 = block_row(out, T1, "M40-M54"), block_row(out, T2, "M40-M54")
    # county dorsopathies: c, d = 2 / 3000 × 1000 = 0.6667
    # T1: c, 2 visits (2025-07-01 is in W) = 1 / 2000 × 1000 = 0.5 -> ratio 0.75
    assert (dors1.visits, dors1.patients, dors1.cost) == (2, 1, 160)
    assert dors1.ratio_to_county == pytest.approx(0.5 / (2 / 3))
    # T2: d, M51.2 + M48.0 = 2 visits, cost 320; 1 / 1000 × 1000 = 1.0 -> ratio 1.5
    assert (dors2.visits, dors2.patients, dors2.cost) == (2, 1, 320)
    assert dors2.rate_per_1000 == pytest.approx(1.0)
    assert dors2.ratio_to_county == pytest.approx(1.5)
    # outside-window, after-D, undiagnosed and unlinked claims are not counted
    assert "C00-C97" not in set(out.block)
    assert out.cost.sum() == pytest.approx(500 + 50 + 60 + 160 + 10 + 320 + 25)
    assert block_row(out, T1, OTHER_BLOCK).block_name_zh == "其他/未归类"


def test_rankings_and_top():
    claims, res, pop = fixture()
    out = disease_burden(D, claims, res, pop, k=0)
    t1 = out[out.town_code == T1].set_index("block")
    # T1: I10 (4 visits, 2 patients, 500), M40 (2, 1, 160), E10 (1, 1, 50), other (1, 1, 60)
    assert t1.rank_visits.to_dict() == {"I10-I15": 1, "M40-M54": 2, "E10-E14": 3, OTHER_BLOCK: 3}
    assert t1.rank_patients.to_dict() == {"I10-I15": 1, "M40-M54": 2, "E10-E14": 2, OTHER_BLOCK: 2}
    assert t1.rank_cost.to_dict() == {"I10-I15": 1, "M40-M54": 2, OTHER_BLOCK: 3, "E10-E14": 4}
    assert t1.index[0] == "I10-I15"  # sorted by rank_patients
    # top=1: T1 keeps only hypertensive diseases (first on all three);
    # T2: J09-J18 first by visits (5), M40-M54 first by cost (320), and all three tie
    # first by patients (1 each) -> all three listed.
    top1 = disease_burden(D, claims, res, pop, top=1, k=0)
    assert set(top1[top1.town_code == T1].block) == {"I10-I15"}
    assert set(top1[top1.town_code == T2].block) == {"J09-J18", "M40-M54", "I10-I15"}


def test_population_fallback_to_active_residents():
    claims, res, _ = fixture()
    out = disease_burden(D, claims, res, None, k=0)
    # T1 active residents: a, b, c = 3; T2: d, e = 2 (m moved); county 5
    htn2 = block_row(out, T2, "I10-I15")
    assert htn2.population == 2
    assert htn2.rate_per_1000 == pytest.approx(1 / 2 * 1000)
    assert htn2.county_rate_per_1000 == pytest.approx(3 / 5 * 1000)
    assert htn2.ratio_to_county == pytest.approx(500 / 600)


def test_towns_filter_and_names():
    claims, res, pop = fixture()
    out = disease_burden(D, claims, res, pop, towns=AREAS, k=0)
    assert set(out.town_code) == {T1, T2}
    assert set(out[out.town_code == T1].town_name) == {"一镇"}
    only = disease_burden(D, claims, res, pop, towns=[T2], k=0)
    assert set(only.town_code) == {T2}
    # county rates are still county-wide
    assert block_row(only, T2, "M40-M54").county_rate_per_1000 == pytest.approx(2 / 3)


def test_small_numbers_blanked_ranks_kept():
    claims, res, pop = fixture()
    out = disease_burden(D, claims, res, pop)  # default k = 10: every row has < 10 patients
    r = block_row(out, T1, "I10-I15")
    assert r.suppressed
    assert math.isnan(r.patients) and math.isnan(r.rate_per_1000) and math.isnan(r.cost)
    assert r.rank_patients == 1
    assert r.county_rate_per_1000 == pytest.approx(1.0)  # the county reference stays
