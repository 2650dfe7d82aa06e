"""Every setting is documented (docs/settings.md is generated and kept in step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.rules import DEFAULT_RULES
from service.settings import Settings, _walk, load_settings, settings_reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_has_a_description() -> None:
    undocumented = [dotted for dotted, _, _, description in _walk(Settings) if not description]
    assert undocumented == []


def test_settings_page_matches_the_code() -> None:
    assert DOCS.read_text() == settings_reference(), (
        "docs/settings.md is stale: run `healthmap settings --markdown > docs/settings.md`"
    )


def test_environment_overrides_nested_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHMAP_RULES__TARGETS__HTN_SBP_BELOW", "135")
    monkeypatch.setenv("HEALTHMAP_DATABASE_URL", "sqlite:///x.db")
    settings = load_settings()
    assert settings.rules.targets.htn_sbp_below == 135
    assert settings.database_url == "sqlite:///x.db"
    # nothing else moved
    assert settings.rules.targets.elderly_sbp_below == DEFAULT_RULES.targets.elderly_sbp_below


def test_rules_defaults_are_those_of_rules_md() -> None:
    r = DEFAULT_RULES
    assert (r.targets.htn_sbp_below, r.targets.htn_dbp_below) == (140, 90)
    assert (r.targets.elderly_age, r.targets.elderly_sbp_below) == (65, 150)
    assert r.targets.t2dm_fasting_glucose_below == 7.0
    assert (r.emergency.sbp_at_least, r.emergency.dbp_at_least) == (180, 110)
    assert (r.emergency.glucose_at_least, r.emergency.glucose_at_most) == (16.7, 3.9)
    assert (r.indicators.htn_prevalence, r.indicators.t2dm_prevalence) == (0.275, 0.119)
    assert r.indicators.suppression_k == 10
    assert set(r.indicators.health_index_weights.values()) == {1.0}
    assert (r.hotspots.fdr, r.hotspots.permutations, r.hotspots.h3_resolution) == (0.05, 9999, 8)
    assert (r.coverage.detour_factor, r.coverage.speeds_kmh["walk"]) == (1.3, 4.5)
