"""Hand-computed cases of the care simulation's helpers (:mod:`pipelines.sample.care`)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.sample import common as sc
from pipelines.sample.care import (
    holidays,
    next_due,
    next_open,
    schedule,
    simulate_care,
    working_days,
)

MON = sc.day_number(dt.date(2026, 11, 30))  # a Monday


def test_working_days_skip_weekends_and_spring_festival() -> None:
    wd = working_days(MON, MON + 6)
    assert wd.tolist() == [True, True, True, True, True, False, False]
    sf = sc.day_number(dt.date(2026, 2, 17))  # Tuesday; closed Monday 16th to Sunday 22nd
    assert holidays(sf - 2, sf + 6).tolist() == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


def test_next_open() -> None:
    open_ = np.array([True, False, False, True, True])
    got = next_open(np.array([10, 11, 12, 14, 20]), open_, 10)
    assert got.tolist() == [10, 13, 13, 14, 20]  # past the end: unchanged


def test_next_due_follows_the_rules() -> None:
    visit = np.array([100, 100, 100, 100])
    sat = np.array([True, True, False, True])
    referred = np.array([False, False, False, True])
    nxt = np.array([-1, 185, 190, 190])
    assert next_due(visit, sat, referred, nxt).tolist() == [190, 185, 114, 114]


def test_schedule_books_capacity_then_the_next_working_day() -> None:
    lo = MON
    open_ = working_days(lo, lo + 9)
    load = np.zeros((2, 10), dtype=np.int64)
    load[1, 0] = 1
    cap = np.array([2, 2])
    # Team 0: three on Monday (third goes to Tuesday), one on Saturday (Monday next week).
    # Team 1: one already booked on Monday, two more wanted: one Monday, one Tuesday.
    team = np.array([0, 0, 0, 0, 1, 1])
    want = np.array([lo, lo, lo, lo + 5, lo, lo])
    got = schedule(team, want, load, cap, open_, lo)
    assert (got - lo).tolist() == [0, 0, 1, 7, 0, 1]
    assert load[0].tolist() == [2, 1, 0, 0, 0, 0, 0, 1, 0, 0]
    assert load[1, :2].tolist() == [2, 1]


def test_schedule_max_wait_leaves_overflow_unbooked() -> None:
    lo = MON
    open_ = working_days(lo, lo + 9)
    load = np.zeros((1, 10), dtype=np.int64)
    got = schedule(
        np.zeros(3, np.int64), np.full(3, lo), load, np.array([1]), open_, lo, max_wait=1
    )
    assert (got[:2] - lo).tolist() == [0, 1] and got[2] == -1


def test_simulate_care_keeps_the_rules_on_a_tiny_county() -> None:
    d0 = MON
    rng = np.random.default_rng(1)
    m = 40
    care = simulate_care(
        rng,
        d0=d0,
        enrolled=np.r_[np.full(30, d0 - 2000), np.full(10, d0 - 100)],
        end=np.full(m, d0),
        team=np.zeros(m, np.int64),
        cap=np.array([12]),
        hard=np.arange(m) % 2 == 0,
        may_alert=np.ones(m, bool),
    )
    assert care.day.max() <= d0 and care.day.min() >= d0 - 3 * 365 - 30
    # Every chain's visits are increasing and follow their due dates.
    for c in range(m):
        days = np.sort(care.day[care.chain == c])
        assert days.size >= (4 if c < 30 else 1)
        assert (np.diff(days) > 0).all()
    # New enrolments are first seen within about two weeks.
    first_new = [care.day[care.chain == c].min() - (d0 - 100) for c in range(30, 40)]
    assert max(first_new) <= 16
    # In-person visits never exceed the capacity on a day.
    ip = care.day[care.in_person]
    assert np.bincount(ip - ip.min()).max() <= 12
    # Two unsatisfactory visits in a row are nearly always referred.
    order = np.lexsort((care.day, care.chain))
    ch, sat, ref = care.chain[order], care.satisfactory[order], care.referred[order]
    second = (ch[1:] == ch[:-1]) & ~sat[1:] & ~sat[:-1]
    assert ref[1:][second].mean() > 0.9
