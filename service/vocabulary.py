"""The product's vocabulary as the API serves it and as the front end is generated from it.

Every term set of :mod:`geo.vocabulary` (tasks, colours, diseases, visit classifications,
aggregation levels, hotspot indicators, levels and classes, roles, indicator units), the
indicators of :mod:`geo.indicator_defs` with their labels, unit and scale, and the
suppression reasons of :mod:`geo.suppression` with their labels, in one stable shape:

* :func:`vocabulary` is the answer of ``GET /api/v1/vocabulary``
  (``service.routes.overview``);
* :func:`typescript_source` is ``frontend/src/common/vocabulary.ts``, which the map and
  the phone page take their labels from. Regenerate it with::

      python -m service.vocabulary > frontend/src/common/vocabulary.ts

  ``tests/service/test_api_vocabulary.py`` fails while the committed file and this function
  disagree, so the front end cannot drift from the domain.

The labels of the suppression reasons are the one thing defined here rather than in ``geo``
(``geo.suppression.SUPPRESSION_REASON_TERMS``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from geo import vocabulary as v
from geo.indicator_defs import INDICATORS
from geo.suppression import SUPPRESSION_REASON_TERMS


# ----------------------------------------------------------------------------------------
# The response model of GET /api/v1/vocabulary
# ----------------------------------------------------------------------------------------
class TermOut(BaseModel):
    """One code with its Chinese and English labels."""

    code: str = Field(description="What the data, the API and the URLs carry.")
    zh: str = Field(description="Chinese label (the UI's default language).")
    en: str = Field(description="English label.")


class TaskTermOut(TermOut):
    """A follow-up task with its base colour."""

    colour: str = Field(description="Base colour (a code of `colours`).")


class IndicatorTermOut(TermOut):
    """An indicator with its labels, unit and scale."""

    unit: str = Field(description="A code of `units`.")
    scale: float = Field(description="1 for rates and shares, 1000 for per-1000 indicators.")


_EXAMPLE: dict[str, Any] = {
    "diseases": [{"code": "htn", "zh": "高血压", "en": "Hypertension"}],
    "classifications": [{"code": "satisfactory", "zh": "控制满意", "en": "Satisfactory"}],
    "colours": [{"code": "red", "zh": "红色 · 紧急", "en": "Red · urgent"}],
    "tasks": [
        {"code": "emergency_reading", "zh": "危急读数", "en": "Emergency reading", "colour": "red"}
    ],
    "task_order": ["emergency_reading", "referral_suggested"],
    "levels": [{"code": "town", "zh": "镇街", "en": "Town"}],
    "hotspot_indicators": [
        {"code": "htn_prevalence", "zh": "高血压患病率", "en": "Hypertension prevalence"}
    ],
    "hotspot_levels": ["h3:8", "grid"],
    "hotspot_classes": [{"code": "hot", "zh": "热点", "en": "Hot spot"}],
    "change_flags": [{"code": "up", "zh": "显著上升", "en": "Significant rise"}],
    "facility_types": [{"code": "village_clinic", "zh": "村卫生室", "en": "Village clinic"}],
    "roles": [{"code": "doctor", "zh": "家庭医生", "en": "Family doctor"}],
    "analyst_roles": ["chronic_center", "bureau", "planner", "admin"],
    "care_roles": ["doctor", "chronic_center"],
    "planning_roles": ["bureau", "planner", "admin"],
    "town_scoped_role": "chronic_center",
    "team_scoped_role": "doctor",
    "indicators": [
        {
            "code": "htn_control_rate",
            "zh": "管理人群血压控制率",
            "en": "Blood-pressure control rate of managed patients",
            "unit": "fraction",
            "scale": 1.0,
        }
    ],
    "units": [
        {"code": "fraction", "zh": "比例（以百分数显示）", "en": "Fraction (shown as a percentage)"}
    ],
    "suppression_reasons": [
        {
            "code": "denominator_below_k",
            "zh": "分母人数过少，已隐藏",
            "en": "Too few people in the denominator",
        }
    ],
    "education_states": [{"code": "published", "zh": "已发布", "en": "Published"}],
}


class Vocabulary(BaseModel):
    """Every code a user meets, with its labels; each list in the product's order."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    diseases: list[TermOut]
    classifications: list[TermOut] = Field(description="Visit classifications.")
    colours: list[TermOut] = Field(description="Task colours, in list order.")
    tasks: list[TaskTermOut] = Field(description="Follow-up tasks: precedence, case finding.")
    task_order: list[str] = Field(description="The precedence table (without case finding).")
    levels: list[TermOut] = Field(description="Aggregation levels, finest first.")
    hotspot_indicators: list[TermOut]
    hotspot_levels: list[str] = Field(description="Levels hotspots are computed at.")
    hotspot_classes: list[TermOut]
    change_flags: list[TermOut] = Field(description="Change monitoring's flags.")
    facility_types: list[TermOut] = Field(
        description="Facility types (data contract `facilities.type`)."
    )
    roles: list[TermOut]
    analyst_roles: list[str] = Field(description="Roles that read aggregates.")
    care_roles: list[str] = Field(description="Roles that work patient lists.")
    planning_roles: list[str] = Field(description="Roles that read coverage and plan sites.")
    town_scoped_role: str = Field(description="The role scoped to one township.")
    team_scoped_role: str = Field(description="The role scoped to one team.")
    indicators: list[IndicatorTermOut] = Field(description="Indicators, in RULES.md order.")
    units: list[TermOut] = Field(description="Units of the indicators.")
    suppression_reasons: list[TermOut] = Field(description="Why a value is not shown.")
    education_states: list[TermOut] = Field(description="States of a health-education item.")


def _terms(terms: Iterable[v.Term]) -> list[TermOut]:
    return [TermOut(code=t.code, zh=t.zh, en=t.en) for t in terms]


def _in_role_order(roles: Iterable[str]) -> list[str]:
    chosen = set(roles)
    return [r for r in v.ROLES if r in chosen]


def indicator_terms() -> list[IndicatorTermOut]:
    """Every indicator with its labels, unit and scale, in RULES.md order."""
    return [
        IndicatorTermOut(
            code=d.name,
            zh=d.label_zh,
            en=d.label_en,
            unit=d.unit,
            scale=d.scale,
        )
        for d in INDICATORS
    ]


def vocabulary() -> Vocabulary:
    """The whole vocabulary (the answer of ``GET /api/v1/vocabulary``)."""
    return Vocabulary(
        diseases=_terms(v.DISEASE_TERMS),
        classifications=_terms(v.CLASSIFICATION_TERMS),
        colours=_terms(v.COLOUR_TERMS),
        tasks=[TaskTermOut(code=t.code, zh=t.zh, en=t.en, colour=t.colour) for t in v.TASK_TERMS],
        task_order=list(v.TASK_ORDER),
        levels=_terms(v.LEVEL_TERMS),
        hotspot_indicators=_terms(v.HOTSPOT_INDICATOR_TERMS),
        hotspot_levels=list(v.HOTSPOT_LEVELS),
        hotspot_classes=_terms(v.HOTSPOT_CLASS_TERMS),
        change_flags=_terms(v.CHANGE_FLAG_TERMS),
        facility_types=_terms(v.FACILITY_TYPE_TERMS),
        roles=_terms(v.ROLE_TERMS),
        analyst_roles=_in_role_order(v.ANALYST_ROLES),
        care_roles=_in_role_order(v.CARE_ROLES),
        planning_roles=_in_role_order(v.PLANNING_ROLES),
        town_scoped_role=v.TOWN_SCOPED_ROLE,
        team_scoped_role=v.TEAM_SCOPED_ROLE,
        indicators=indicator_terms(),
        units=_terms(v.UNIT_TERMS),
        suppression_reasons=_terms(SUPPRESSION_REASON_TERMS),
        education_states=_terms(v.EDUCATION_STATE_TERMS),
    )


# ----------------------------------------------------------------------------------------
# frontend/src/common/vocabulary.ts
# ----------------------------------------------------------------------------------------
_HEADER = """\
// generated by `python -m service.vocabulary`; do not edit.
//
// Regenerate: python -m service.vocabulary > frontend/src/common/vocabulary.ts
// Source: geo/vocabulary.py (terms, units), geo/indicator_defs.py (indicators),
// geo/suppression.py (suppression-reason labels). tests/service/test_api_vocabulary.py fails
// when this file and the generator disagree. The same data: GET /api/v1/vocabulary.

/** A code's labels in the two languages of the UI. */
export interface Label {
  readonly zh: string;
  readonly en: string;
}"""


def _js(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1000, not 1000.0
    return json.dumps(value, ensure_ascii=False)


def _record(name: str, doc: str, items: Sequence[v.Term | TermOut], *extra: str) -> str:
    """``export const NAME = { "code": { zh: …, en: …, extra… }, … } as const;``"""
    lines = [f"/** {doc} */", f"export const {name} = {{"]
    for t in items:
        fields = [f"zh: {_js(t.zh)}", f"en: {_js(t.en)}"]
        fields += [f"{f}: {_js(getattr(t, f))}" for f in extra]
        lines.append(f"  {_js(t.code)}: {{ {', '.join(fields)} }},")
    lines.append("} as const;")
    return "\n".join(lines)


def _list(name: str, doc: str, codes: Sequence[str]) -> str:
    """``export const NAME = ["a", "b"] as const;``, one code a line when that is long."""
    one_line = f"export const {name} = [{', '.join(_js(c) for c in codes)}] as const;"
    if len(one_line) <= 100:
        return f"/** {doc} */\n{one_line}"
    items = "".join(f"  {_js(c)},\n" for c in codes)
    return f"/** {doc} */\nexport const {name} = [\n{items}] as const;"


def typescript_source() -> str:
    """The text of ``frontend/src/common/vocabulary.ts``."""
    voc = vocabulary()
    parts = [
        _HEADER,
        _record("DISEASES", "Diseases.", voc.diseases),
        _record("CLASSIFICATIONS", "Visit classifications.", voc.classifications),
        _record("COLOURS", "Task colours, in list order (red, yellow, green).", voc.colours),
        _record(
            "TASKS",
            "Follow-up tasks with their base colour: the precedence table, then case finding.",
            voc.tasks,
            "colour",
        ),
        _list("TASK_ORDER", "The precedence table (without case finding).", voc.task_order),
        _record("LEVELS", "Aggregation levels, finest first.", voc.levels),
        _record(
            "HOTSPOT_INDICATORS", "Indicators hotspots are computed for.", voc.hotspot_indicators
        ),
        _list("HOTSPOT_LEVELS", "Levels hotspots are computed at.", voc.hotspot_levels),
        _record("HOTSPOT_CLASSES", "Hotspot classes.", voc.hotspot_classes),
        _record("CHANGE_FLAGS", "Change monitoring's flags.", voc.change_flags),
        _record("FACILITY_TYPES", "Facility types (data contract).", voc.facility_types),
        _record("ROLES", "Roles, least to most administrative.", voc.roles),
        _list("ANALYST_ROLES", "Roles that read aggregates.", voc.analyst_roles),
        _list("CARE_ROLES", "Roles that work patient lists.", voc.care_roles),
        _list("PLANNING_ROLES", "Roles that read coverage and plan sites.", voc.planning_roles),
        f"/** The role scoped to one township. */\n"
        f"export const TOWN_SCOPED_ROLE = {_js(voc.town_scoped_role)};",
        f"/** The role scoped to one team. */\n"
        f"export const TEAM_SCOPED_ROLE = {_js(voc.team_scoped_role)};",
        _record(
            "INDICATORS",
            "Indicators (RULES.md order): value = numerator / denominator * scale.",
            voc.indicators,
            "unit",
            "scale",
        ),
        _record("UNITS", "Units of the indicators.", voc.units),
        _record(
            "SUPPRESSION_REASONS",
            "Why an indicator row shows no value (small numbers).",
            voc.suppression_reasons,
        ),
        _record("EDUCATION_STATES", "States of a health-education item.", voc.education_states),
        "export type Disease = keyof typeof DISEASES;\n"
        "export type Colour = keyof typeof COLOURS;\n"
        "export type TaskCode = keyof typeof TASKS;\n"
        "export type Level = keyof typeof LEVELS;\n"
        "export type Role = keyof typeof ROLES;",
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    """``python -m service.vocabulary``: the TypeScript source on stdout, as UTF-8."""
    sys.stdout.buffer.write(typescript_source().encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
