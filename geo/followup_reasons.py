"""The one-line Chinese reason of each follow-up task (RULES.md: push-list entries)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.followup_common import (
    _K_DISCHARGE,
    _K_EMERGENCY,
    _K_FIRST,
    _K_REFERRAL,
    _K_ROUTINE,
    _K_SUSPECTED,
    _K_UNCONTROLLED,
    DISEASE_ZH,
    _date_strs,
    _num_strs,
)
from geo.rules import (
    RulesConfig,
)


def _reasons(
    k: np.ndarray,
    disease: np.ndarray,
    days_overdue: np.ndarray,
    due: np.ndarray,
    em_day: np.ndarray,
    em_vals: np.ndarray,
    pd_day: np.ndarray,
    pd_icd: np.ndarray,
    last_day: np.ndarray,
    last_ref: np.ndarray,
    enrolled: np.ndarray,
    n_out: np.ndarray,
    last_inp: np.ndarray,
    d: float,
    config: RulesConfig,
) -> np.ndarray:
    """One-line Chinese reason per task (vectorised per task code)."""
    fc = config.followup
    out = np.full(len(k), "", dtype=object)
    name = pd.Series(disease).map(DISEASE_ZH).to_numpy(dtype=object)

    sel = np.flatnonzero(k == _K_EMERGENCY)
    if len(sel):
        ago_n = (d - em_day[sel]).astype(np.int64)
        ago = np.where(
            ago_n == 0, "今天", pd.Series(ago_n).astype("str").to_numpy(dtype=object) + "天前"
        )
        sbp, dbp, glu = em_vals[sel, 0], em_vals[sel, 1], em_vals[sel, 2]
        ec = config.emergency
        parts = [
            np.where(sbp >= ec.sbp_at_least, "收缩压" + _num_strs(sbp, 0) + " mmHg", ""),
            np.where(dbp >= ec.dbp_at_least, "舒张压" + _num_strs(dbp, 0) + " mmHg", ""),
            np.where(
                (disease[sel] == "t2dm")
                & ((glu >= ec.glucose_at_least) | (glu <= ec.glucose_at_most)),
                "血糖" + _num_strs(glu, 1) + " mmol/L",
                "",
            ),
        ]
        text = parts[0].astype(object)
        for part in parts[1:]:
            text = text + np.where((text != "") & (part != ""), "、", "") + part
        out[sel] = ago + "智能终端测得" + text + "，属紧急转诊指征"

    out[k == _K_REFERRAL] = "连续两次随访控制不满意，未转诊"

    sel = np.flatnonzero(k == _K_DISCHARGE)
    if len(sel):
        out[sel] = (
            _date_strs(pd_day[sel])
            + "出院（主要诊断"
            + pd.Series(pd_icd[sel], dtype=object)
            + f"），出院后{fc.post_discharge_due_days}日内需随访"
        ).to_numpy()

    sel = np.flatnonzero(k == _K_UNCONTROLLED)
    if len(sel):
        when = ("上次随访（" + _date_strs(last_day[sel]) + "）").to_numpy()
        days = fc.uncontrolled_recheck_days
        out[sel] = np.where(
            last_ref[sel],
            when + f"已转诊，需{days}日内随访了解转诊结果",
            when + f"控制不满意，需{days}日内复查",
        )

    sel = np.flatnonzero(k == _K_FIRST)
    if len(sel):
        out[sel] = (
            _date_strs(enrolled[sel]).to_numpy()
            + "纳入"
            + name[sel]
            + f"管理，需{fc.first_followup_days}日内完成首次随访"
        )

    sel = np.flatnonzero(k == _K_ROUTINE)
    if len(sel):
        late = days_overdue[sel]
        late_s = pd.Series(late).astype("str").to_numpy(dtype=object)
        out[sel] = (
            "常规随访，应于"
            + _date_strs(due[sel]).to_numpy()
            + "随访"
            + np.where(late > 0, "，已逾期" + late_s + "天", "")
        )

    sel = np.flatnonzero(k == _K_SUSPECTED)
    if len(sel):
        nm = name[sel]
        tail = "，未纳入" + nm + "管理"
        inpatient = ~np.isnan(last_inp[sel])
        out[sel] = np.where(
            inpatient,
            "近一年有" + nm + "住院记录（" + _date_strs(last_inp[sel]).to_numpy() + "）" + tail,
            "近一年"
            + pd.Series(n_out[sel]).astype("str").to_numpy(dtype=object)
            + "次"
            + nm
            + "门诊就诊"
            + tail,
        )
    return out
