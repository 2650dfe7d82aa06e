"""Every use of a product code in geo is tied to geo.vocabulary, its one home."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

import geo.burden
import geo.followup
import geo.hotspots
import geo.indicators
import geo.rules
from geo import vocabulary as v
from geo.indicator_columns import _county_from_code, _town_from_code
from geo.indicator_defs import INDICATOR_BY_NAME, INDICATORS, UNIT_SCALE
from geo.suppression import SUPPRESSION_REASON_TERMS

ALL_TERM_TUPLES = {
    name: value
    for name, value in vars(v).items()
    if name.endswith("_TERMS") and isinstance(value, tuple)
}


def test_term_tuples_found():
    assert {"DISEASE_TERMS", "TASK_TERMS", "LEVEL_TERMS", "ROLE_TERMS", "UNIT_TERMS"} <= set(
        ALL_TERM_TUPLES
    )


@pytest.mark.parametrize("name", sorted(ALL_TERM_TUPLES))
def test_every_term_has_labels_and_unique_codes(name):
    terms = ALL_TERM_TUPLES[name]
    assert terms
    assert all(isinstance(t, v.Term) for t in terms)
    assert all(t.code and t.zh.strip() and t.en.strip() for t in terms)
    codes = v.codes(terms)
    assert len(set(codes)) == len(codes)


def test_labels():
    assert v.labels(v.DISEASE_TERMS) == {"htn": "高血压", "t2dm": "2型糖尿病"}
    assert v.labels(v.DISEASE_TERMS, "en") == {"htn": "Hypertension", "t2dm": "Type 2 diabetes"}
    with pytest.raises(ValueError, match="unknown language"):
        v.labels(v.DISEASE_TERMS, "fr")


def test_old_names_are_the_vocabulary():
    assert geo.followup.TASK_ORDER == v.TASK_ORDER
    assert geo.followup.SUSPECTED_UNMANAGED == v.SUSPECTED_UNMANAGED
    assert geo.followup.TASK_COLOUR is v.TASK_COLOUR
    assert geo.followup.COLOUR_RANK is v.COLOUR_RANK
    assert v.labels(v.DISEASE_TERMS, "zh") == geo.followup.DISEASE_ZH
    assert v.codes(v.DISEASE_TERMS) == geo.rules.DISEASES
    assert geo.indicators.LEVELS is v.LEVELS
    assert geo.hotspots.HOTSPOT_INDICATORS is v.HOTSPOT_INDICATORS


def test_task_table_matches_rules_md():
    assert v.TASK_ORDER == (
        "emergency_reading",
        "referral_suggested",
        "post_discharge",
        "uncontrolled_recheck",
        "first_followup",
        "routine_followup",
    )
    assert (*v.TASK_ORDER, "suspected_unmanaged") == v.TASK_CODES
    assert set(v.TASK_COLOUR.values()) <= set(v.COLOURS)
    assert v.COLOURS == ("red", "yellow", "green")
    assert v.COLOUR_RANK == {"red": 0, "yellow": 1, "green": 2}


def _frames():
    """Two managed patients, one with a lone unsatisfactory visit, one never visited, and an
    unmanaged resident with two outpatient htn claims (case finding)."""
    residents = pd.DataFrame(
        {
            "resident_id": ["r1", "r2", "r3"],
            "status": "active",
            "signed_team_id": ["T1", "T1", "T1"],
            "grid_id": ["G1", "G1", "G1"],
            "birth_date": [dt.date(1960, 1, 1)] * 3,
        }
    )
    registry = pd.DataFrame(
        {
            "resident_id": ["r1", "r2"],
            "disease": ["htn", "t2dm"],
            "enrolled_date": [dt.date(2024, 1, 1), dt.date(2024, 5, 1)],
            "closed_date": [None, None],
            "team_id": ["T1", "T1"],
        }
    )
    followups = pd.DataFrame(
        {
            "followup_id": [1],
            "resident_id": ["r1"],
            "disease": ["htn"],
            "visit_date": [dt.date(2024, 3, 1)],
            "sbp": [165.0],
            "dbp": [95.0],
            "fasting_glucose": [np.nan],
            "classification": ["unsatisfactory"],
            "referred": [False],
            "next_visit_date": [None],
        }
    )
    measurements = pd.DataFrame(
        {
            "resident_id": pd.Series([], dtype=object),
            "measured_at": pd.Series([], dtype="datetime64[ns]"),
            "sbp": pd.Series([], dtype=float),
            "dbp": pd.Series([], dtype=float),
            "glucose": pd.Series([], dtype=float),
            "glucose_type": pd.Series([], dtype=object),
        }
    )
    claims = pd.DataFrame(
        {
            "claim_id": ["c1", "c2"],
            "resident_id": ["r3", "r3"],
            "visit_type": ["outpatient", "outpatient"],
            "visit_date": [dt.date(2024, 4, 1), dt.date(2024, 4, 20)],
            "discharge_date": [None, None],
            "icd10": ["I10", "I10"],
        }
    )
    grids = pd.DataFrame({"grid_id": ["G1"], "team_id": ["T1"]})
    return dict(
        residents=residents,
        registry=registry,
        followups=followups,
        measurements=measurements,
        claims=claims,
        grids=grids,
    )


def test_rules_engine_emits_vocabulary_codes_and_colours():
    tasks = geo.followup.open_tasks(dt.date(2024, 6, 30), **_frames())
    assert len(tasks) == 3
    assert set(tasks["task_code"]) <= set(v.TASK_CODES)
    assert set(tasks["disease"]) <= set(v.codes(v.DISEASE_TERMS))
    assert set(tasks["colour"]) <= set(v.COLOURS)
    assert set(tasks["task_code"]) == {
        "uncontrolled_recheck",
        "first_followup",
        "suspected_unmanaged",
    }
    # Only routine tasks change colour (overdue > 30 days); the rest keep the vocabulary's.
    for code, colour in zip(tasks["task_code"], tasks["colour"], strict=True):
        if code != "routine_followup":
            assert colour == v.TASK_COLOUR[code]


def test_every_hotspot_indicator_is_in_the_vocabulary():
    values = pd.DataFrame(
        {
            "level": "h3:8",
            "unit_id": ["a", "a"],
            "indicator": ["htn_control_rate", "t2dm_control_rate"],
            "numerator": [3.0, 1.0],
            "denominator": [5.0, 2.0],
        }
    )
    adults = pd.Series([40], index=["a"])
    inputs = geo.hotspots.hotspot_inputs(values, adults, "h3:8")
    assert set(inputs["indicator"]) == set(v.HOTSPOT_INDICATORS)
    assert set(v.HOTSPOT_LEVELS) <= set(v.LEVELS)


def test_indicator_levels_are_the_vocabulary_levels():
    assert v.codes(v.LEVEL_TERMS) == geo.indicators.LEVELS
    assert v.LEVELS[-1] == "team" and v.LEVELS[:3] == ("h3:7", "h3:8", "h3:9")


def test_indicator_definitions_have_labels_and_units():
    assert geo.indicators.INDICATORS is INDICATORS
    assert geo.indicators.INDICATOR_BY_NAME is INDICATOR_BY_NAME
    assert set(UNIT_SCALE) == set(v.codes(v.UNIT_TERMS))
    for d in INDICATORS:
        assert d.label_zh and d.label_en and d.unit in UNIT_SCALE
        assert d.label("en") == d.label_en and d.label() == d.label_zh
    assert INDICATOR_BY_NAME["doctors_per_1000"].unit == "per_1000"
    assert INDICATOR_BY_NAME["doctors_per_1000"].scale == 1000.0
    assert INDICATOR_BY_NAME["signing_rate"].scale == 1.0
    with pytest.raises(ValueError):
        INDICATORS[0].label("fr")
    with pytest.raises(dataclasses.FrozenInstanceError):
        INDICATORS[0].unit = "per_1000"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "town", "county"),
    [
        ("370783101203", "370783101000", "370783000000"),
        ("370783001001", "370783001000", "370783000000"),
        ("370783101000", "370783101000", "370783000000"),
        ("370783000000", "370783000000", "370783000000"),
    ],
)
def test_area_code_hierarchy(code, town, county):
    assert v.town_code_of(code) == town
    assert v.county_code_of(code) == county
    assert v.town_prefix(town) == code[:9] == town[:9]
    # The indicators' roll-up uses the same hierarchy.
    assert _town_from_code(code) == town
    assert _county_from_code(code) == county


def test_roll_up_ignores_codes_that_are_not_12_digits():
    for bad in ("3707831012", "37078310120X", None, 370783101203):
        assert _town_from_code(bad) is None
        assert _county_from_code(bad) is None


def test_roles():
    assert set(v.ANALYST_ROLES) <= set(v.ROLES)
    assert set(v.CARE_ROLES) <= set(v.ROLES)
    assert v.TOWN_SCOPED_ROLE in v.ROLES and v.TEAM_SCOPED_ROLE in v.ROLES


def test_suppression_reasons_and_burden_blocks_have_labels():
    assert all(t.zh and t.en for t in SUPPRESSION_REASON_TERMS)
    blocks = geo.burden.icd10_blocks()
    assert blocks is geo.burden.icd10_blocks()  # read once
    assert blocks == geo.burden.ICD10_BLOCKS
    assert all(b.name_zh and b.name_en and b.chapter for b in blocks)
    assert len({b.code for b in blocks}) == len(blocks)


def test_vocabulary_imports_nothing_from_geo():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(v))
    mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in mods if m and m.split(".")[0] == "geo"]
