"""Daily follow-up tasks and the team push list (RULES.md, "Follow-up tasks").

For a day ``D`` every managed patient and disease gets at most one open task — the first
rule of the RULES.md table that applies — and active residents who look like unmanaged
patients get a ``suspected_unmanaged`` case-finding task. :func:`push_list` turns the open
tasks into one team's ordered list for the day and :func:`push_list_entries` adds the
resident fields a doctor sees (masked outside the team's own view).

Implementation: the county run is ~400k patients, 1.5M followups, millions of readings and
8M claims, so nothing loops over patients. Resident ids of every frame are factorised once
into integer codes; a patient × disease is the integer ``pair = code * 2 + disease`` and
per-pair facts (last visit, earliest open emergency reading, ...) live in dense arrays
indexed by it. Dates are float day numbers (NaN = missing), so "missing" never compares
true. The big frames are screened with cheap vectorised tests (emergency readings, claim
types, windows, ICD-10 ranges) before any per-row string work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.followup_common import (
    _ALL_CODES,
    _DIS,
    _K_DISCHARGE,
    _K_EMERGENCY,
    _K_SUSPECTED,
    _KEYS,
    DISEASE_ZH,
    TASK_COLUMNS,
    _colours,
    _empty_tasks,
    _first_per_pair,
    _to_dates,
)
from geo.followup_events import (
    CASE_FINDING_VISIT_TYPES,
    _case_finding,
    _screen_claims,
    _screen_dismissals,
    _screen_measurements,
    task_icd10_ranges,
    task_relevant_claims,
)
from geo.followup_facts import (
    _Dismissed,
    _last_visits,
    _Managed,
    _managed,
    _People,
    _people,
    _ResidentCodes,
    _Visits,
)
from geo.followup_reasons import (
    _reasons,
)
from geo.push_list import (
    ENTRY_COLUMNS,
    mask_name,
    mask_names,
    mask_phone,
    mask_phones,
    push_list,
    push_list_entries,
)
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    RulesConfig,
)
from geo.vocabulary import COLOUR_RANK, SUSPECTED_UNMANAGED, TASK_COLOUR, TASK_ORDER

__all__ = [
    "CASE_FINDING_VISIT_TYPES",
    "COLOUR_RANK",
    "DISEASE_ZH",
    "ENTRY_COLUMNS",
    "SUSPECTED_UNMANAGED",
    "TASK_COLOUR",
    "TASK_COLUMNS",
    "TASK_ORDER",
    "mask_name",
    "mask_names",
    "mask_phone",
    "mask_phones",
    "open_tasks",
    "push_list",
    "push_list_entries",
    "task_icd10_ranges",
    "task_relevant_claims",
]


def open_tasks(
    as_of: dt.date,
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame,
    followups: pd.DataFrame,
    measurements: pd.DataFrame,
    claims: pd.DataFrame,
    grids: pd.DataFrame,
    dismissals: pd.DataFrame | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Open follow-up tasks on day ``as_of`` (RULES.md, "Follow-up tasks" and case finding).

    Every managed patient × disease (a registry row with ``enrolled_date <= D``, no
    ``closed_date <= D``, resident ``active``) gets the first task of the RULES.md table that
    applies, in the order ``emergency_reading``, ``referral_suggested``, ``post_discharge``,
    ``uncontrolled_recheck``, ``first_followup``, ``routine_followup``. Active residents
    with qualifying claims and no registry row for the disease get ``suspected_unmanaged``.
    Tasks not yet due are included too (negative ``days_overdue``); :func:`push_list` keeps
    the due ones.

    Closing. A task is closed by any followup of the disease dated after the event that
    opened it: every rule is evaluated against the last visit ``<= D``, so a newer visit
    replaces the task (an emergency reading or a discharge before it no longer counts).
    A dismissal closes the task with the same (resident_id, disease, task_code, due_date)
    and the patient's open task is then the NEXT applicable rule in table order (a
    dismissed ``referral_suggested`` falls through to ``uncontrolled_recheck``; a
    dismissed ``routine_followup`` leaves no task until the next visit). For the event
    rules a dismissal closes the event, not the rule, so new evidence is never silenced:
    after an ``emergency_reading`` dismissal only readings measured after the dismissal
    instant (and not on a dismissed due date) open a new emergency task; a dismissed
    discharge is skipped and a later qualifying discharge opens a new ``post_discharge``
    task; a ``suspected_unmanaged`` dismissal (its due date is always ``D``, so the key
    cannot match on later days) holds until a qualifying claim dated after the dismissal
    day. Dismissals with ``dismissed_at`` after ``D`` are ignored, so past days replay.

    Resolutions of RULES.md details:

    - Managed: residents missing from ``residents`` are not active, hence not managed.
      Several open registry rows for one patient and disease: the earliest enrolment (and
      its team) is used. The managing team is registry ``team_id``, else the resident's
      ``signed_team_id``, else the grid's ``team_id`` (empty strings count as missing).
    - "Last visit" ignores enrolment (RULES: the latest followup with ``visit_date <= D``);
      same-day visits are ordered by ``followup_id``. A missing ``referred`` is false.
      Rows without ``classification`` are classified with :func:`geo.rules.classify_visit`
      at the resident's age on the visit date (65+ target).
    - ``emergency_reading``: a reading's date is the local date (``config.timezone``) of
      ``measured_at`` (naive timestamps are local). The glucose criterion applies to t2dm
      only (:func:`geo.rules.is_emergency`); due and ``event_date`` are the earliest open
      reading's date.
    - ``post_discharge``: a visit on the discharge day does not close it ("after" = a later
      date); with several open discharges the earliest gives the due date. It applies to
      each managed disease of the patient, whichever listed diagnosis the claim has.
    - ``first_followup`` applies when no followup of the disease is dated between
      enrolment and ``D``; ``routine_followup`` needs a last visit (without one only a
      dismissed ``first_followup`` reaches it, and then there is no task).
    - ``suspected_unmanaged``: claims count by ``visit_date`` (admission for inpatients).
      Any registry row of the disease enrolled by ``D`` — open or closed — excludes the
      resident: a closed patient left the programme for a recorded reason (moved,
      misdiagnosis), re-enrolment is the team's decision and case finding must not
      re-flag them daily. Due ``D``, ``days_overdue`` 0, ``event_date`` the latest
      qualifying claim's visit date; team: signed team, else the grid's team.

    Parameters
    ----------
    as_of : date
        The day ``D`` (a local date).
    residents, registry, followups, measurements, claims, grids : DataFrame
        Canonical frames (``docs/frames.md``). ``residents.birth_date`` is used only for
        followups without a classification.
    dismissals : DataFrame, optional
        resident_id, disease, task_code, due_date, dismissed_at (, reason, staff_id).
    config : RulesConfig
        Thresholds and windows.

    Returns
    -------
    DataFrame
        One row per open task, columns :data:`TASK_COLUMNS`: resident_id, disease,
        task_code, colour (a routine task overdue > 30 days already yellow), due_date,
        days_overdue (``D − due`` in days), event_date, team_id, grid_id, last_visit_date,
        last_sbp, last_dbp, last_glucose (fasting), last_classification, risk_score (the
        fallback score of :func:`geo.risk.fallback_risk`), reason_zh. Sorted by
        resident_id, disease.
    """
    d = float(np.datetime64(pd.Timestamp(as_of).date(), "D").astype("int64"))
    # 1. Screen the big frames down to the rows that can open a task.
    em_rows = _screen_measurements(measurements, d, config)
    cl_rows = _screen_claims(claims, d, config)
    dis_rows = _screen_dismissals(dismissals, d, config.timezone)
    # 2. One integer code per resident across every frame.
    ids = _ResidentCodes.of([residents, registry, followups, em_rows, cl_rows, dis_rows])
    # 3. Per-resident and per-pair facts.
    people = _people(residents, ids.codes[0], grids, ids.n)
    managed = _managed(registry, ids.codes[1], people.active, ids.n_pairs, d, config)
    visits = _last_visits(followups, ids.codes[2], people.birth, ids.n_pairs, d, config)
    dismissed = _Dismissed.of(dis_rows, ids.codes[5], ids.n_pairs)
    # 4. The events that open the event rules.
    em_day, em_vals = _emergency_events(em_rows, ids.codes[3], managed, visits, dismissed)
    pd_day, pd_icd = _discharge_events(cl_rows, ids.codes[4], managed, visits, dismissed, config)
    # 5. The first applicable, non-dismissed rule per managed pair; then case finding.
    chosen = _choose_rules(managed, visits, em_day, pd_day, dismissed, people, config)
    sus = _case_finding(
        cl_rows, ids.codes[4], people.active, managed.known, dismissed.sus_day, ids.n_pairs, config
    )
    # 6. One row per task.
    return _assemble(
        d, ids, people, managed, visits, (em_day, em_vals, pd_day, pd_icd), chosen, sus, config
    )


def _emergency_events(
    em_rows: pd.DataFrame,
    em_c: np.ndarray,
    managed: _Managed,
    visits: _Visits,
    dismissed: _Dismissed,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the earliest open emergency reading's day and its (sbp, dbp, glucose)."""
    n_pairs = len(managed.is_managed)
    em_day = np.full(n_pairs, np.nan)
    em_vals = np.full((n_pairs, 3), np.nan) if len(em_rows) else np.zeros((0, 3))
    if len(em_rows):
        ep_list, ei_list = [], []
        for j in range(len(DISEASES)):
            rows = np.flatnonzero(em_rows[f"em{j}"].to_numpy() & (em_c >= 0))
            ep_list.append(em_c[rows] * 2 + j)
            ei_list.append(rows)
        ep, ei = np.concatenate(ep_list), np.concatenate(ei_list)
        sel = managed.is_managed[ep]
        ep, ei = ep[sel], ei[sel]
        eday = em_rows["day"].to_numpy()[ei]
        einst = em_rows["instant"].to_numpy()[ei]
        # "Dated after the last visit (on or after enrolment when there is none)".
        lv = visits.day[ep]
        after = np.where(np.isnan(lv), eday >= managed.enrolled_at[ep], eday > lv)
        # Readings up to a dismissal were seen by the doctor who dismissed the task.
        after &= einst > dismissed.em_at[ep]
        after &= dismissed.not_dismissed(ep, _K_EMERGENCY, eday)
        ep, ei, eday, einst = ep[after], ei[after], eday[after], einst[after]
        pick = _first_per_pair(ep, einst)
        em_day[ep[pick]] = eday[pick]
        em_vals[ep[pick]] = em_rows[["sbp", "dbp", "glucose"]].to_numpy()[ei[pick]]
    return em_day, em_vals


def _discharge_events(
    cl_rows: pd.DataFrame,
    cl_c: np.ndarray,
    managed: _Managed,
    visits: _Visits,
    dismissed: _Dismissed,
    config: RulesConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the earliest open qualifying discharge's day and its ICD-10 code."""
    n_pairs = len(managed.is_managed)
    pd_day = np.full(n_pairs, np.nan)
    pd_icd = np.full(n_pairs, None, dtype=object)
    rows = np.flatnonzero(cl_rows["pd_ok"].to_numpy() & (cl_c >= 0))
    if len(rows):
        # The claim is the patient's: it concerns each of their managed diseases.
        cp = np.concatenate([cl_c[rows] * 2 + j for j in range(len(DISEASES))])
        ci = np.concatenate([rows] * len(DISEASES))
        sel = managed.is_managed[cp]
        cp, ci = cp[sel], ci[sel]
        dday = cl_rows["dday"].to_numpy()[ci]
        # "No visit after discharge": a visit on the discharge day does not close it.
        ok = ~(visits.day[cp] > dday)
        due = dday + config.followup.post_discharge_due_days
        ok &= dismissed.not_dismissed(cp, _K_DISCHARGE, due)
        cp, ci, dday = cp[ok], ci[ok], dday[ok]
        pick = _first_per_pair(cp, dday)
        pd_day[cp[pick]] = dday[pick]
        pd_icd[cp[pick]] = cl_rows.attrs["icd_uniques"][cl_rows["icd_code"].to_numpy()[ci[pick]]]
    return pd_day, pd_icd


@dataclass(frozen=True)
class _Chosen:
    """The task of each managed pair that has one: pair, rule, due and event day, team."""

    got: np.ndarray  # over managed pairs: has a task
    pair: np.ndarray
    k: np.ndarray
    due: np.ndarray
    event: np.ndarray
    team: pd.Series


def _choose_rules(
    managed: _Managed,
    visits: _Visits,
    em_day: np.ndarray,
    pd_day: np.ndarray,
    dismissed: _Dismissed,
    people: _People,
    config: RulesConfig,
) -> _Chosen:
    """The first applicable, non-dismissed rule of the RULES.md table per managed pair."""
    fc = config.followup
    mp = managed.pairs
    lv = visits.day[mp]
    has_last = ~np.isnan(lv)
    bad, ref = visits.bad[mp], visits.referred[mp]
    rules: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (~np.isnan(em_day[mp]), em_day[mp], em_day[mp]),
        (has_last & bad & visits.prev_bad[mp] & ~ref, lv, lv),
        (~np.isnan(pd_day[mp]), pd_day[mp] + fc.post_discharge_due_days, pd_day[mp]),
        (has_last & (bad | ref), lv + fc.uncontrolled_recheck_days, lv),
        # "No visit at all since enrolment": the last visit <= D predates enrolment.
        (~(lv >= managed.enrolled), managed.enrolled + fc.first_followup_days, managed.enrolled),
        (
            has_last,
            np.where(
                np.isnan(visits.next_day[mp]), lv + fc.routine_interval_days, visits.next_day[mp]
            ),
            lv,
        ),
    ]
    chosen = np.full(len(mp), -1, dtype=np.int64)
    due = np.full(len(mp), np.nan)
    event = np.full(len(mp), np.nan)
    for k, (applies, k_due, k_event) in enumerate(rules):
        take = (chosen < 0) & applies
        take[take] = dismissed.not_dismissed(mp[take], k, k_due[take])
        chosen[take], due[take], event[take] = k, k_due[take], k_event[take]
    got = chosen >= 0
    t_pair = mp[got]
    # Positional Series (a fresh RangeIndex each) so the fallbacks align row by row.
    t_team = (
        pd.Series(managed.team[got], dtype=object)
        .fillna(pd.Series(people.signed[t_pair // 2], dtype=object))
        .fillna(pd.Series(people.grid_team[t_pair // 2], dtype=object))
    )
    return _Chosen(got, t_pair, chosen[got], due[got], event[got], t_team)


def _assemble(
    d: float,
    ids: _ResidentCodes,
    people: _People,
    managed: _Managed,
    visits: _Visits,
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    chosen: _Chosen,
    sus: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: RulesConfig,
) -> pd.DataFrame:
    """One row per task (rule tasks, then case finding), sorted by resident and disease."""
    em_day, em_vals, pd_day, pd_icd = events
    s_pair, s_event, s_n_out, s_last_inp = sus
    s_team = pd.Series(people.signed[s_pair // 2], dtype=object).fillna(
        pd.Series(people.grid_team[s_pair // 2], dtype=object)
    )
    t_pair = chosen.pair
    pair = np.concatenate([t_pair, s_pair])
    if len(pair) == 0:
        return _empty_tasks()
    k_all = np.concatenate([chosen.k, np.full(len(s_pair), _K_SUSPECTED)])
    due_all = np.concatenate([chosen.due, np.full(len(s_pair), d)])
    event_all = np.concatenate([chosen.event, s_event])
    days_overdue = (d - due_all).astype(np.int64)
    code = _ALL_CODES[k_all]
    code_s = pd.Series(code)
    resident = ids.uniques[pair // 2]
    disease = _DIS[pair % 2]
    reasons = _reasons(
        k_all,
        disease,
        days_overdue,
        due_all,
        em_day[pair],
        em_vals[pair] if len(em_vals) else np.full((len(pair), 3), np.nan),
        pd_day[pair],
        pd_icd[pair],
        visits.day[pair],
        visits.referred[pair],
        np.concatenate([managed.enrolled[chosen.got], np.full(len(s_pair), np.nan)]),
        np.concatenate([np.zeros(len(t_pair), dtype=np.int64), s_n_out]),
        np.concatenate([np.full(len(t_pair), np.nan), s_last_inp]),
        d,
        config,
    )
    tasks = pd.DataFrame(
        {
            "resident_id": resident,
            "disease": disease,
            "task_code": code,
            "colour": _colours(code_s, pd.Series(days_overdue), config),
            "due_date": _to_dates(due_all),
            "days_overdue": days_overdue,
            "event_date": _to_dates(event_all),
            "team_id": np.concatenate(
                [chosen.team.to_numpy(dtype=object), s_team.to_numpy(dtype=object)]
            ),
            "grid_id": people.grid[pair // 2],
            "last_visit_date": _to_dates(visits.day[pair]),
            "last_sbp": visits.sbp[pair],
            "last_dbp": visits.dbp[pair],
            "last_glucose": visits.glucose[pair],
            "last_classification": visits.classification[pair],
            "risk_score": visits.risk[pair],
            "reason_zh": reasons,
        }
    )
    return tasks.sort_values(_KEYS, kind="stable", ignore_index=True)
