"""The indicators of RULES.md, defined once: code, Chinese and English labels, unit, formula.

:func:`geo.indicators.compute_indicators` computes them; the service lists them with their
labels and units.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

#: What each unit (:data:`geo.vocabulary.UNIT_TERMS`) multiplies ``numerator / denominator`` by.
UNIT_SCALE: dict[str, float] = {"fraction": 1.0, "per_1000": 1000.0}


@dataclass(frozen=True)
class IndicatorDef:
    """How one indicator is built from the per-unit quantities.

    Attributes
    ----------
    name : str
        Indicator code (``htn_management_rate`` ...).
    label_zh : str
        Chinese name shown in the product.
    numerator, denominator : str
        Quantity columns; ``value = numerator / denominator * scale``.
    numerator_people, denominator_people : str or None
        Quantities counting the distinct residents behind the numerator and the
        denominator, which the small-number rule (:func:`geo.suppression.suppress`) tests.
        ``None`` for the numerator of resource indicators (doctors, beds): they disclose
        nothing about residents, so only the population denominator is tested.
    label_en : str
        English name.
    unit : str
        A code of :data:`geo.vocabulary.UNIT_TERMS`: ``fraction`` (a share in 0–1, shown as
        a percentage) or ``per_1000`` (per 1000 population); gives :attr:`scale`.
    """

    name: str
    label_zh: str
    numerator: str
    denominator: str
    numerator_people: str | None
    denominator_people: str | None
    _: KW_ONLY
    label_en: str
    unit: str = "fraction"

    @property
    def scale(self) -> float:
        """What ``numerator / denominator`` is multiplied by: 1, or 1000 for ``per_1000``."""
        return UNIT_SCALE[self.unit]

    def label(self, lang: str = "zh") -> str:
        """The indicator's name in ``lang`` (``zh`` or ``en``)."""
        if lang not in ("zh", "en"):
            raise ValueError(f"unknown language {lang!r}; use 'zh' or 'en'")
        return self.label_zh if lang == "zh" else self.label_en


INDICATORS: tuple[IndicatorDef, ...] = (
    IndicatorDef(
        "htn_management_rate",
        "高血压患者健康管理率",
        "htn_managed",
        "htn_expected",
        "htn_managed",
        "htn_expected",
        label_en="Hypertension health-management rate",
    ),
    IndicatorDef(
        "htn_standard_rate",
        "高血压患者规范管理率",
        "htn_standard",
        "htn_managed",
        "htn_standard",
        "htn_managed",
        label_en="Hypertension standardised-management rate",
    ),
    IndicatorDef(
        "htn_control_rate",
        "管理人群血压控制率",
        "htn_controlled",
        "htn_managed",
        "htn_controlled",
        "htn_managed",
        label_en="Blood-pressure control rate of managed patients",
    ),
    IndicatorDef(
        "t2dm_management_rate",
        "2型糖尿病患者健康管理率",
        "t2dm_managed",
        "t2dm_expected",
        "t2dm_managed",
        "t2dm_expected",
        label_en="Type 2 diabetes health-management rate",
    ),
    IndicatorDef(
        "t2dm_standard_rate",
        "2型糖尿病患者规范管理率",
        "t2dm_standard",
        "t2dm_managed",
        "t2dm_standard",
        "t2dm_managed",
        label_en="Type 2 diabetes standardised-management rate",
    ),
    IndicatorDef(
        "t2dm_control_rate",
        "管理人群血糖控制率",
        "t2dm_controlled",
        "t2dm_managed",
        "t2dm_controlled",
        "t2dm_managed",
        label_en="Blood-glucose control rate of managed patients",
    ),
    IndicatorDef(
        "followup_overdue_rate",
        "随访逾期率",
        "pairs_overdue",
        "pairs_managed",
        "people_overdue",
        "people_managed",
        label_en="Follow-up overdue rate",
    ),
    IndicatorDef(
        "signing_rate",
        "家庭医生签约率",
        "signed",
        "active",
        "signed",
        "active",
        label_en="Family-doctor signing rate",
    ),
    IndicatorDef(
        "key_pop_signing_rate",
        "重点人群签约率",
        "keypop_signed",
        "keypop",
        "keypop_signed",
        "keypop",
        label_en="Family-doctor signing rate of key populations",
    ),
    IndicatorDef(
        "elderly_flu_vax_rate",
        "老年人流感疫苗接种率",
        "elder_vax",
        "elder",
        "elder_vax",
        "elder",
        label_en="Influenza vaccination rate of the elderly",
    ),
    IndicatorDef(
        "primary_care_visit_share",
        "基层就诊率",
        "out_primary",
        "out_all",
        "ppl_out_primary",
        "ppl_out_all",
        label_en="Share of visits at primary care",
    ),
    IndicatorDef(
        "in_county_visit_share",
        "县域内就诊率",
        "claims_in_county",
        "claims_all",
        "ppl_in_county",
        "ppl_claims",
        label_en="Share of visits within the county",
    ),
    IndicatorDef(
        "primary_fund_share",
        "医保基金用于基层比例",
        "fund_primary",
        "fund_all",
        "ppl_fund_primary",
        "ppl_fund",
        label_en="Share of insurance funds spent at primary care",
    ),
    IndicatorDef(
        "doctors_per_1000",
        "每千人口执业(助理)医师数",
        "doctors",
        "pop_total",
        None,
        "pop_total",
        label_en="Licensed (assistant) doctors per 1000 population",
        unit="per_1000",
    ),
    IndicatorDef(
        "beds_per_1000",
        "每千人口医疗卫生机构床位数",
        "beds",
        "pop_total",
        None,
        "pop_total",
        label_en="Hospital beds per 1000 population",
        unit="per_1000",
    ),
)

#: Indicator code -> definition.
INDICATOR_BY_NAME: dict[str, IndicatorDef] = {d.name: d for d in INDICATORS}
