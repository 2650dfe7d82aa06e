"""The teams' work: when follow-up visits happen, and what they find.

RULES.md "Follow-up tasks" turns every visit into the next due date (a routine visit after
about 90 days or on the visit's ``next_visit_date``, a recheck 14 days after a visit that
was not satisfactory, the first follow-up 14 days after enrolment, a referral after two
unsatisfactory visits in a row). :func:`simulate_care` walks every patient's chain of
visits over three years before D, one visit per step for all chains at once (numpy):

- a visit happens around its due date (most on or a few days before it; a few patients
  slip weeks or months, which is what ``overdue`` tasks are made of);
- in-person visits (clinic, home) use the team's capacity (``max_daily_visits`` on
  working days, :func:`schedule`); the 14-day rechecks are mostly phone follow-ups
  (电话随访), which the capacity does not bound;
- nobody visits on the Spring Festival days (:data:`SPRING_FESTIVAL`), and in-person
  visits move off weekends;
- a patient's blood pressure / glucose is in a controlled or an uncontrolled phase: a
  routine visit finds a controlled patient uncontrolled with probability ``p_lose``, a
  recheck finds an uncontrolled one controlled again with probability ``p_regain``;
- at the second unsatisfactory visit in a row the doctor refers (``referred``) nearly
  always; an emergency reading at home brings a visit within three days.

Why hand-written: no maintained library simulates a care team's follow-up schedule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pipelines.sample import common as sc

#: Spring Festival (春节) dates; teams do no visits from the day before to day +5.
SPRING_FESTIVAL = [
    dt.date(2019, 2, 5),
    dt.date(2020, 1, 25),
    dt.date(2021, 2, 12),
    dt.date(2022, 2, 1),
    dt.date(2023, 1, 22),
    dt.date(2024, 2, 10),
    dt.date(2025, 1, 29),
    dt.date(2026, 2, 17),
    dt.date(2027, 2, 6),
    dt.date(2028, 1, 26),
    dt.date(2029, 2, 13),
    dt.date(2030, 2, 3),
    dt.date(2031, 1, 23),
    dt.date(2032, 2, 11),
]
HISTORY_DAYS = 3 * 365 + 30
ROUTINE_DAYS = 90
RECHECK_DAYS = 14
FIRST_DAYS = 14


def holidays(lo: int, hi: int) -> np.ndarray:
    """Boolean mask over days ``lo..hi`` (day numbers): Spring Festival closure days."""
    days = np.arange(lo, hi + 1)
    out = np.zeros(days.size, dtype=bool)
    for d in SPRING_FESTIVAL:
        s = sc.day_number(d)
        out |= (days >= s - 1) & (days <= s + 5)
    return out


def working_days(lo: int, hi: int) -> np.ndarray:
    """Boolean mask over days ``lo..hi``: Monday to Friday and not a Spring Festival day."""
    days = np.arange(lo, hi + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return (weekday < 5) & ~holidays(lo, hi)


def next_open(day: np.ndarray, open_: np.ndarray, lo: int) -> np.ndarray:
    """The first day ``>= day`` whose ``open_[day - lo]`` is True (days past the end stay).

    Parameters
    ----------
    day : ndarray of int
        Day numbers.
    open_ : ndarray of bool
        Open days from ``lo`` on.
    lo : int
        Day number of ``open_[0]``.

    Returns
    -------
    ndarray of int
    """
    n = open_.size
    idx = np.arange(n)
    # nxt[i]: the first open index >= i (n when none).
    nxt = np.where(open_, idx, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    rel = np.clip(np.asarray(day, dtype=np.int64) - lo, 0, None)
    inside = rel < n
    out = np.asarray(day, dtype=np.int64).copy()
    found = nxt[np.minimum(rel, n - 1)]
    ok = inside & (found < n)
    out[ok] = lo + found[ok]
    return out


def schedule(
    team: np.ndarray,
    want: np.ndarray,
    load: np.ndarray,
    cap: np.ndarray,
    open_: np.ndarray,
    lo: int,
    max_wait: int | None = None,
) -> np.ndarray:
    """Book visits on the first open day on or after the wanted day that has capacity.

    Requests are served in the order given: on a team-day the first ``cap - load`` of
    them are booked, the rest move on to the next open day, until every request is
    booked. Days past the end of ``load`` are booked without a limit.

    Parameters
    ----------
    team : ndarray of int
        Team of each request.
    want : ndarray of int
        Wanted day numbers.
    load : ndarray of int, shape (n_teams, n_days)
        Visits already booked per team and day from ``lo``; updated in place.
    cap : ndarray of int
        Visits a team can make per day.
    open_ : ndarray of bool
        Working days from ``lo`` (length ``n_days``).
    lo : int
        Day number of column 0.
    max_wait : int, optional
        A request that would wait more than this many days past its wanted day is not
        booked (-1): an overloaded team phones instead of building an endless backlog.

    Returns
    -------
    ndarray of int
        Booked day numbers (-1: not booked).
    """
    n_days = load.shape[1]
    day = next_open(np.asarray(want, dtype=np.int64), open_, lo)
    pending = np.arange(day.size)
    for _ in range(4 * n_days + 1):
        if pending.size == 0:
            break
        rel = day[pending] - lo
        inside = (rel >= 0) & (rel < n_days)
        pending = pending[inside]
        if pending.size == 0:
            break
        key = team[pending] * n_days + (day[pending] - lo)
        order = np.lexsort((pending, key))
        ks = key[order]
        first = np.r_[True, ks[1:] != ks[:-1]]
        start = np.flatnonzero(first)
        rank = np.arange(ks.size) - start[np.cumsum(first) - 1]
        free = cap[team[pending[order]]] - load.ravel()[ks]
        ok = rank < free
        np.add.at(load.ravel(), ks[ok], 1)
        moved = pending[order][~ok]
        day[moved] = next_open(day[moved] + 1, open_, lo)
        if max_wait is not None:
            late = day[moved] - want[moved] > max_wait
            day[moved[late]] = -1
            moved = moved[~late]
        pending = np.sort(moved)
    return day


def next_due(
    visit: np.ndarray, satisfactory: np.ndarray, referred: np.ndarray, next_visit: np.ndarray
) -> np.ndarray:
    """Due day of the task a visit leaves open (RULES.md "Follow-up tasks").

    Not satisfactory or referred: a recheck 14 days later; otherwise the visit's
    ``next_visit_date`` (``next_visit`` < 0: none given), else 90 days later.
    """
    routine = np.where(next_visit >= 0, next_visit, visit + ROUTINE_DAYS)
    return np.where(~satisfactory | referred, visit + RECHECK_DAYS, routine)


@dataclass
class Care:
    """Simulated visits (one row per visit) and emergency readings."""

    chain: np.ndarray  # registry row of each visit
    day: np.ndarray
    satisfactory: np.ndarray
    referred: np.ndarray
    next_visit: np.ndarray  # -1: not given
    in_person: np.ndarray
    after_event: np.ndarray  # the visit answered an emergency reading
    ev_chain: np.ndarray  # emergency readings: registry row and day
    ev_day: np.ndarray
    ev_open: np.ndarray  # no visit after it by D
    stats: dict[str, float]


def simulate_care(
    rng: np.random.Generator,
    *,
    d0: int,
    enrolled: np.ndarray,
    end: np.ndarray,
    team: np.ndarray,
    cap: np.ndarray,
    hard: np.ndarray,
    may_alert: np.ndarray,
    poor: np.ndarray | None = None,
) -> Care:
    """Follow-up visits of every registry row from three years before ``d0`` to ``d0``.

    Parameters
    ----------
    rng : numpy.random.Generator
    d0 : int
        Day number of D.
    enrolled, end : ndarray of int
        Per registry row: enrolment day and the last day it can be visited.
    team : ndarray of int
        Managing team per registry row.
    cap : ndarray of int
        ``max_daily_visits`` per team.
    hard : ndarray of bool
        Hard-to-control patients (lose control more often, regain it less often).
    poor : ndarray of bool, optional
        Rows of a planted poor-control area (lose control at every routine visit,
        never regain it).
    may_alert : ndarray of bool
        Rows whose patient can have emergency readings in the simulation.

    Returns
    -------
    Care
    """
    m = enrolled.size
    lo = d0 - HISTORY_DAYS - 120
    hi = d0 + 200
    open_ = working_days(lo, hi)
    any_open = ~holidays(lo, hi)
    load = np.zeros((int(cap.size), hi - lo + 1), dtype=np.int64)
    p_lose = np.where(hard, 0.75, 0.42)
    p_regain = np.where(hard, 0.06, 0.3)
    if poor is not None:
        p_lose = np.where(poor, 1.0, p_lose)
        p_regain = np.where(poor, 0.0, p_regain)
        hard = hard | poor
    start = d0 - HISTORY_DAYS
    # Patients enrolled before the history are mid-cycle: last visit somewhere in the
    # 90 days before it, controlled as often as the long run says.
    old = enrolled < start
    due = np.where(old, start + rng.integers(0, ROUTINE_DAYS, m), enrolled + FIRST_DAYS)
    first = ~old
    ctrl_share = np.where(hard, 0.4, 0.85)
    state = rng.random(m) < ctrl_share  # True: controlled
    prev_bad = np.zeros(m, dtype=bool)
    last = np.where(old, due - ROUTINE_DAYS, enrolled)
    active = end >= start
    parts: list[tuple[np.ndarray, ...]] = []
    ev_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for _ in range(400):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        k = idx.size
        recheck = ~first[idx] & ~state[idx] | prev_bad[idx]
        # Around the due date: routine visits mostly a little early, a few late; rechecks
        # by phone on days 10–16; first follow-ups on days 3–16 after enrolment.
        slip = np.where(rng.random(k) < 0.04, rng.integers(20, 131, k), rng.integers(-10, 4, k))
        slip = np.where(recheck, rng.integers(-4, 3, k), slip)
        slip = np.where(first[idx], rng.integers(-11, 3, k), slip)
        want = np.maximum(np.maximum(due[idx] + slip, last[idx] + 1), start)
        # An emergency reading at home between visits (uncontrolled phases only) brings
        # a visit within three days.
        ev = may_alert[idx] & ~state[idx] & (rng.random(k) < 0.005)
        ev_day = (
            last[idx] + 1 + (rng.random(k) * np.maximum(want - last[idx] - 1, 1)).astype(np.int64)
        )
        want = np.where(ev, ev_day + rng.integers(0, 4, k), want)
        phone = recheck & ~ev & (rng.random(k) < 0.75)
        day = np.empty(k, dtype=np.int64)
        day[phone] = next_open(want[phone], any_open, lo)
        ip = ~phone
        day[ip] = schedule(team[idx[ip]], want[ip], load, cap, open_, lo, max_wait=7)
        unbooked = day < 0
        phone |= unbooked
        day[unbooked] = next_open(want[unbooked], any_open, lo)
        stop = day > np.minimum(end[idx], d0)
        ev_ok = ev & (ev_day <= np.minimum(end[idx], d0))
        ev_parts.append((idx[ev_ok], ev_day[ev_ok], stop[ev_ok]))
        go = ~stop
        active[idx[stop]] = False
        idx, day, k = idx[go], day[go], int(go.sum())
        phone, ev = phone[go], ev[go]
        # What the visit finds.
        was = state[idx]
        u = rng.random(k)
        now = np.where(was, u >= p_lose[idx], u < p_regain[idx])
        now = np.where(first[idx], was, now)
        now = np.where(ev, False, now)
        sat = now
        referred = ~sat & prev_bad[idx] & (rng.random(k) < 0.995)
        referred |= ~sat & ~prev_bad[idx] & (rng.random(k) < 0.02)
        nv = np.where(sat, day + ROUTINE_DAYS + rng.integers(-5, 6, k), day + RECHECK_DAYS)
        nv = np.where(rng.random(k) < 0.05, -1, nv)
        parts.append((idx, day, sat, referred, nv, ~phone, ev))
        state[idx] = now
        prev_bad[idx] = ~sat
        first[idx] = False
        last[idx] = day
        due[idx] = next_due(day, sat, referred, nv)

    cols = [np.concatenate(c) for c in zip(*parts, strict=True)] if parts else []
    chain, vday, sat_a, ref_a, nv_a, ip_a, ev_a = cols
    ev_chain = np.concatenate([p[0] for p in ev_parts])
    ev_days = np.concatenate([p[1] for p in ev_parts])
    ev_open = np.concatenate([p[2] for p in ev_parts])
    in_w = vday > d0 - 365
    wd = open_[np.clip(vday - lo, 0, open_.size - 1)] & ip_a & in_w
    n_work = int(open_[(d0 - 364 - lo) : (d0 + 1 - lo)].sum())
    per_team = np.bincount(team[chain[wd]], minlength=cap.size) / max(n_work, 1)
    stats = {
        "visits_per_patient_year": round(float(in_w.sum()) / max(m, 1), 2),
        "in_person_visits_per_team_working_day": round(float(np.median(per_team)), 1),
        "phone_share_of_visits": round(float((~ip_a[in_w]).mean()) if in_w.any() else 0.0, 3),
    }
    return Care(chain, vday, sat_a, ref_a, nv_a, ip_a, ev_a, ev_chain, ev_days, ev_open, stats)
