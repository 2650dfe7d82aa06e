"""Synthetic chronic-disease management: the registry, follow-ups and terminal readings.

Built from the residents of :mod:`pipelines.sample.people`; everything is vectorised
over patients / visits with numpy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample import common as sc
from pipelines.sample.care import HISTORY_DAYS, Care, next_due, simulate_care
from pipelines.sample.geography import Geography
from pipelines.sample.people import ACTIVE, DISEASES, HTN, MOVED, T2DM, People


def build_registry(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Chronic-disease registry rows (``chronic_registry``) for enrolled residents.

    Parameters
    ----------
    geo : Geography
    people : People
        Updated in place with the registry arrays.
    seed : int
    as_of : datetime.date

    Returns
    -------
    pyarrow.Table
    """
    rng = sc.stream(seed, sc.K_REGISTRY)
    d0 = sc.day_number(as_of)
    res, dis = np.nonzero(people.enrolled)  # row-major: sorted by resident then disease
    m = res.size
    # About 4 % a year enrol (the programme grows slowly), so the management rate of the
    # first built month is within a few points of D's.
    recent = rng.random(m) < 0.04
    enrolled = np.where(recent, d0 - rng.integers(0, 365, m), d0 - rng.integers(365, 8 * 365, m))
    adult_day = sc.add_years(people.birth[res], 18)
    enrolled = np.maximum(enrolled, adult_day)
    diag = np.maximum(enrolled - rng.integers(0, 3 * 365, m), adult_day)
    diag_missing = rng.random(m) < 0.15

    st = people.status[res]
    closed = np.full(m, -1, dtype=np.int64)
    reason = np.full(m, "", dtype=object)
    gone = (st != ACTIVE) & (rng.random(m) < 0.8)
    closed[gone] = np.maximum(people.status_day[res][gone], enrolled[gone] + 1)
    reason[gone] = np.where(st[gone] == MOVED, "moved", "deceased")
    misdx = (st == ACTIVE) & (enrolled < d0 - 60) & (rng.random(m) < 0.004)
    closed[misdx] = (
        enrolled[misdx]
        + ((d0 - 1 - enrolled[misdx]) * rng.random(int(misdx.sum()))).astype(np.int64)
        + 1
    )
    reason[misdx] = "misdiagnosis"

    vteam = geo.village_team[people.village[res]]
    u = rng.random(m)
    file_team = np.full(m, -1, dtype=np.int64)
    file_team[u < 0.08] = vteam[u < 0.08]
    other = (u >= 0.08) & (u < 0.10)
    if other.any():
        # Another team of the same town (patients sometimes follow a doctor they know).
        towns = geo.team_town
        cand = rng.integers(0, 1 << 30, int(other.sum()))
        t_of = geo.village_town[people.village[res[other]]]
        picks = []
        for c, t, vt in zip(cand, t_of, vteam[other], strict=True):
            teams_t = np.flatnonzero(towns == t)
            picks.append(int(teams_t[c % teams_t.size]) if teams_t.size else int(vt))
        file_team[other] = picks
    signed_team = people.signed_team[res]
    mteam = np.where(file_team >= 0, file_team, np.where(signed_team >= 0, signed_team, vteam))

    # Disease mostly coded htn/t2dm; a few ICD-10 codes exercise the mapping.
    u = rng.random(m)
    code = np.where(
        dis == HTN,
        np.where(u < 0.94, "htn", np.where(u < 0.98, "I10", "I11.9")),
        np.where(u < 0.95, "t2dm", np.where(u < 0.98, "E11.9", "E11")),
    )
    people.reg_res = res.astype(np.int64)
    people.reg_dis = dis.astype(np.int64)
    people.reg_enrolled = enrolled.astype(np.int64)
    people.reg_closed = closed
    people.reg_team = file_team
    people.reg_mteam = mteam.astype(np.int64)
    return pa.table(
        {
            "resident_id": people.resident_id.take(pa.array(res)),
            "disease": pa.array(code),
            "enrolled_date": sc.date_array(enrolled),
            "diagnosed_date": sc.date_array(diag, diag_missing),
            "team_id": sc.str_array(geo.team_id[np.maximum(file_team, 0)], file_team < 0),
            "closed_date": sc.date_array(np.maximum(closed, 0), closed < 0),
            "close_reason": sc.str_array(reason.astype(str), reason == ""),
        }
    )


SYMPTOMS = np.array(
    ["头痛", "头晕", "心悸", "胸闷", "乏力", "视物模糊", "多饮", "多尿", "下肢水肿"]
)
METHODS = ["clinic", "home", "phone", "online"]
ADHERENCE = ["regular", "intermittent", "none"]
CLASSIFICATIONS = ["satisfactory", "unsatisfactory", "adverse", "complication"]
#: Follow-up rows generated and written at a time (bounds the memory at scale 1.0).
FOLLOWUP_CHUNK = 500_000


@dataclass
class FollowupBatches:
    """The follow-up rows as record batches, generated lazily in file order."""

    num_rows: int
    batches: Iterator[pa.RecordBatch]


def _list_figures(care: Care, people: People, d0: int) -> dict[str, float]:
    """Push-list figures on D from the visit chains (follow-up tasks only).

    The chain's open task is the RULES.md one for its last visit (emergency readings,
    referral, recheck, first and routine follow-up; post-discharge and case finding come
    from claims and are left out here).
    """
    m = people.reg_res.size
    order = np.lexsort((care.day, care.chain))
    ch = care.chain[order]
    is_last = np.r_[ch[1:] != ch[:-1], True] if ch.size else np.array([], bool)
    last_i = order[is_last]
    prev_bad = np.zeros(m, dtype=bool)
    has_prev = np.r_[False, ch[1:] == ch[:-1]] if ch.size else np.array([], bool)
    pv = np.zeros(ch.size, dtype=bool)
    pv[1:] = ~care.satisfactory[order][:-1]
    prev_bad[ch[is_last]] = (has_prev & pv)[is_last]
    has = np.zeros(m, dtype=bool)
    has[care.chain[last_i]] = True
    due = people.reg_enrolled + 14
    sat = np.ones(m, dtype=bool)
    ref = np.zeros(m, dtype=bool)
    c = care.chain[last_i]
    sat[c], ref[c] = care.satisfactory[last_i], care.referred[last_i]
    due[c] = next_due(care.day[last_i], sat[c], ref[c], care.next_visit[last_i])
    em = np.zeros(m, dtype=bool)
    em[care.ev_chain[care.ev_open]] = True
    red = em | (has & ~sat & prev_bad & ~ref)
    managed = people.managed(d0)
    listed = managed & (red | (due <= d0))
    per_team = np.bincount(people.reg_mteam[listed], minlength=int(people.reg_mteam.max()) + 1)
    over = listed & ~red & (d0 - due > 90)
    return {
        "followup_tasks_per_team_median": float(np.median(per_team)),
        "followup_tasks_red_share": round(float(red[listed].mean()) if listed.any() else 0.0, 3),
        "followup_tasks_overdue_90_share": round(
            float(over[listed].mean()) if listed.any() else 0.0, 3
        ),
    }


def build_followups(geo: Geography, people: People, seed: int, as_of: dt.date) -> FollowupBatches:
    """Three years of follow-up visits, simulated as the teams' work (``followups``).

    The visit days come from :func:`pipelines.sample.care.simulate_care`; this function
    turns each visit into a row (readings that agree with what the visit found, the
    classification on some rows, the next visit date, the visiting doctor).

    Parameters
    ----------
    geo : Geography
    people : People
        Registry filled; follow-up and emergency-reading arrays are stored back.
    seed : int
    as_of : datetime.date

    Returns
    -------
    FollowupBatches
        The row count and the rows as record batches of :data:`FOLLOWUP_CHUNK`, drawn
        when iterated (iterate once, before anything else uses ``seed``'s follow-up
        stream).
    """
    rng = sc.stream(seed, sc.K_FOLLOWUPS)
    d0 = sc.day_number(as_of)
    res, dis = people.reg_res, people.reg_dis
    m = res.size
    end = np.full(m, d0, dtype=np.int64)
    end = np.where(people.reg_closed >= 0, np.minimum(end, people.reg_closed - 1), end)
    end = np.minimum(end, people.status_day[res] - 1)
    hard = np.where(dis == HTN, people.mu_sbp[res] >= 140, people.mu_glu[res] >= 7.0)
    n_dis = np.bincount(res, minlength=people.n)
    # A blood-pressure emergency opens a task for every managed disease of the patient;
    # the simulation answers it in one chain, so only single-disease patients get them
    # (patients with both get glucose emergencies, which concern t2dm alone).
    may_alert = (n_dis[res] == 1) | (dis == T2DM)
    care = simulate_care(
        rng,
        d0=d0,
        enrolled=people.reg_enrolled,
        end=end,
        team=people.reg_mteam,
        cap=np.asarray(geo.team_max_visits, dtype=np.int64),
        hard=hard,
        may_alert=may_alert,
        poor=people.poor[res],
    )
    people.notes.update({k: v for k, v in care.stats.items()})
    people.ev_res = res[care.ev_chain]
    people.ev_dis = dis[care.ev_chain]
    people.ev_day = care.ev_day
    people.ev_open = care.ev_open
    people.ev_bp = n_dis[people.ev_res] == 1

    people.notes.update(_list_figures(care, people, d0))
    # File order: by visit date (a typical export), ties by resident and disease. The
    # visits are put in that order first and every value is drawn in it, chunk by chunk,
    # so nothing is re-ordered and only one chunk's columns are in memory at a time.
    v = care.chain.size
    key = (care.day * people.n + res[care.chain]) * 2 + dis[care.chain]
    order = np.argsort(key, kind="stable")
    del key
    rep = care.chain[order]
    date = care.day[order]
    sat = care.satisfactory[order]
    referred = care.referred[order]
    nxt = care.next_visit[order]
    in_person = care.in_person[order]
    people.fu_res = res[rep]
    people.fu_dis = dis[rep]
    people.fu_date = date
    people.fu_sat = sat
    height = np.round(np.where(people.sex == 1, 168.0, 157.0) + rng.normal(0, 6, people.n), 0)
    bmi = rng.normal(25.3, 3.0, people.n)
    # The day each patient turns 65 (the blood-pressure target is 150 from then on).
    turns_65 = sc.add_years(people.birth, 65)
    # The visiting doctor is a gp or village doctor of the managing team.
    sizes = np.asarray([d.size for d in geo.team_doctors])
    offsets = np.cumsum(sizes) - sizes
    flat = np.concatenate(geo.team_doctors)
    width = max(8, len(str(v)))

    def batch(lo: int, hi: int) -> pa.RecordBatch:
        k = hi - lo
        r_res, r_dis, day, ok = people.fu_res[lo:hi], people.fu_dis[lo:hi], date[lo:hi], sat[lo:hi]
        thr = np.where(day >= turns_65[r_res], 150, 140)
        is_htn = r_dis == HTN
        # Readings agree with what the visit found: below target when satisfactory.
        base = people.mu_sbp[r_res] + rng.normal(0, 7, k)
        sbp_ok = np.minimum(np.minimum(base, 136 + (thr - 140)), thr - 1)
        sbp_bad = np.maximum(base, thr + np.abs(rng.normal(0, 9, k)))
        sbp = np.where(is_htn, np.where(ok, sbp_ok, sbp_bad), np.minimum(base, thr - 1))
        dbp = people.mu_dbp[r_res] + 0.4 * (sbp - people.mu_sbp[r_res]) + rng.normal(0, 4, k)
        dbp = np.where(is_htn & ok | ~is_htn, np.minimum(dbp, 89), dbp)
        glu_ok = np.minimum(rng.normal(6.1, 0.4, k), 6.9)
        glu_bad = 7.0 + rng.exponential(1.6, k)
        glu = np.where(
            is_htn, people.mu_glu[r_res] + rng.normal(0, 0.6, k), np.where(ok, glu_ok, glu_bad)
        )
        sbp = np.clip(np.round(sbp), 90, 178)
        dbp = np.clip(np.round(dbp), 50, 108)
        dbp = np.minimum(dbp, sbp - 20)
        glu_hi = np.where(is_htn, 25.0, np.where(ok, 6.9, 16.0))
        glu = np.clip(np.round(glu, 1), np.where(is_htn | ok, 3.0, 7.0), glu_hi)
        hr = np.clip(np.round(rng.normal(76, 9, k)), 48, 130)
        weight = np.round(bmi[r_res] * (height[r_res] / 100) ** 2 + rng.normal(0, 0.8, k), 1)
        adverse = ~ok & (rng.random(k) < 0.03)
        given = rng.random(k) < 0.15
        complication = given & ~adverse & ~ok & (rng.random(k) < 0.05)
        # classification: 0 satisfactory, 1 unsatisfactory, 2 adverse, 3 complication.
        cls = np.where(ok, 0, np.where(adverse, 2, np.where(complication, 3, 1)))
        adh = np.where(
            ok,
            sc.pick_index(rng, [0.82, 0.14, 0.04], k),
            sc.pick_index(rng, [0.55, 0.30, 0.15], k),
        )
        method = np.where(
            in_person[lo:hi],
            sc.pick_index(rng, [0.6, 0.4], k),
            2 + sc.pick_index(rng, [0.85, 0.15], k),
        )
        s1 = rng.integers(0, SYMPTOMS.size, k)
        s2 = rng.integers(0, SYMPTOMS.size, k)
        two = (rng.random(k) < 0.4) & (s1 != s2)
        sym_missing = rng.random(k) > np.where(ok, 0.15, 0.45)
        sym = pc.if_else(
            pa.array(two),
            pc.binary_join_element_wise(sc.take_str(SYMPTOMS, s1), sc.take_str(SYMPTOMS, s2), ";"),
            sc.take_str(SYMPTOMS, s1),
        )
        team = people.reg_mteam[rep[lo:hi]]
        staff = flat[offsets[team] + (rng.random(k) * sizes[team]).astype(np.int64)]
        n_v = nxt[lo:hi]
        is_dm = r_dis == T2DM
        return pa.RecordBatch.from_pydict(
            {
                "followup_id": sc.make_ids("F", lo + 1, k, width),
                "resident_id": people.resident_id.take(pa.array(r_res)),
                "disease": sc.take_str(DISEASES, r_dis),
                "visit_date": sc.date_array(day),
                "method": sc.take_str(METHODS, method),
                "sbp": sbp.astype(np.int64),
                "dbp": dbp.astype(np.int64),
                "fasting_glucose": sc.num_array(glu, ~is_dm),
                "heart_rate": hr.astype(np.int64),
                "weight_kg": weight,
                "height_cm": height[r_res],
                "adherence": sc.take_str(ADHERENCE, adh),
                "adverse_reaction": adverse.astype(np.int64),
                "symptoms": pc.if_else(pa.array(sym_missing), pa.scalar(None, pa.string()), sym),
                "classification": sc.take_str(CLASSIFICATIONS, cls, ~given),
                "referred": referred[lo:hi].astype(np.int64),
                "next_visit_date": sc.date_array(np.maximum(n_v, 0), n_v < 0),
                "staff_id": sc.take_str(geo.staff_id, staff),
            }
        )

    return FollowupBatches(
        v, (batch(lo, min(lo + FOLLOWUP_CHUNK, v)) for lo in range(0, v, FOLLOWUP_CHUNK))
    )


def build_measurements(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Smart-terminal readings of managed patients over three years (``measurements``).

    Ordinary readings are kept below every emergency threshold, so the emergency readings
    are exactly those of the care simulation (``people.ev_*``): each was answered by a
    visit within three days, except those still open on D, which are recorded in
    ``people.planted`` (the manifest's ``planted_emergency_readings``).

    Parameters
    ----------
    geo : Geography
    people : People
    seed : int
    as_of : datetime.date

    Returns
    -------
    pyarrow.Table
    """
    rng = sc.stream(seed, sc.K_MEASUREMENTS)
    d0 = sc.day_number(as_of)
    lo = d0 - HISTORY_DAYS
    managed = people.managed(d0)
    pats = np.unique(people.reg_res[managed])
    has_dm = np.zeros(people.n, dtype=bool)
    has_dm[people.reg_res[managed & (people.reg_dis == T2DM)]] = True
    # About a third of patients measure at a terminal, a couple of times a year.
    k = rng.poisson(np.where(rng.random(pats.size) < 0.35, 2.0, 0.1) * HISTORY_DAYS / 365)
    res = np.repeat(pats, k)
    v = res.size
    day = d0 - rng.integers(0, HISTORY_DAYS, v)
    sec = rng.integers(6 * 3600, 21 * 3600, v)
    sbp = np.clip(np.round(people.mu_sbp[res] + rng.normal(0, 8, v)), 95, 175)
    dbp = np.clip(np.round(people.mu_dbp[res] + rng.normal(0, 5, v)), 55, 105)
    dbp = np.minimum(dbp, sbp - 15)
    hr = np.clip(np.round(rng.normal(75, 9, v)), 50, 120)
    gtype = sc.pick(rng, ["fasting", "random", "postprandial"], [0.5, 0.3, 0.2], v)
    glu = people.mu_glu[res] + np.where(gtype == "fasting", 0.0, 2.0) + rng.normal(0, 0.8, v)
    glu = np.clip(np.round(glu, 1), 4.2, 16.0)
    with_glu = has_dm[res] & (rng.random(v) < 0.75)

    # Emergency readings of the care simulation (after the last visit, in history).
    keep = people.ev_day >= lo
    chosen = people.ev_res[keep]
    p = chosen.size
    p_day = people.ev_day[keep]
    p_open = people.ev_open[keep]
    p_dis = people.ev_dis[keep]
    p_sec = rng.integers(7 * 3600, 20 * 3600, p)
    bp_ok = people.ev_bp[keep]
    glu_kind = (p_dis == T2DM) & (~bp_ok | (rng.random(p) < 0.5))
    kind = np.where(rng.random(p) < 0.6, "sbp", "dbp")
    kind = np.where(glu_kind, np.where(rng.random(p) < 0.7, "glucose_high", "glucose_low"), kind)
    p_sbp = np.where(kind == "sbp", rng.integers(182, 206, p), rng.integers(140, 170, p)).astype(
        float
    )
    p_dbp = np.where(kind == "dbp", rng.integers(111, 121, p), rng.integers(75, 100, p)).astype(
        float
    )
    p_dbp = np.where(kind == "sbp", rng.integers(95, 108, p), p_dbp)
    p_dbp = np.minimum(p_dbp, p_sbp - 15)
    p_glu = np.where(
        kind == "glucose_high",
        np.round(rng.uniform(17.0, 24.0, p), 1),
        np.round(rng.uniform(2.6, 3.7, p), 1),
    )
    p_glu = np.where(glu_kind, p_glu, np.nan)

    all_res = np.r_[res, chosen]
    all_day = np.r_[day, p_day]
    all_sec = np.r_[sec, p_sec]
    all_sbp = np.r_[sbp, p_sbp]
    all_dbp = np.r_[dbp, p_dbp]
    all_hr = np.r_[hr, rng.integers(70, 110, p).astype(float)]
    all_glu = np.r_[np.where(with_glu, glu, np.nan), p_glu]
    all_gt = np.r_[gtype, sc.pick(rng, ["random", "fasting"], [0.6, 0.4], p)]
    planted_flag = np.r_[np.zeros(v, bool), p_open]
    order = np.lexsort((all_res, all_sec, all_day))
    ts = (all_day[order] * 86400 + all_sec[order]).astype("datetime64[s]")
    measured_at = pc.strftime(pa.array(ts), format="%Y-%m-%dT%H:%M:%S")
    total = order.size
    mids = sc.make_ids("M", 1, total, max(7, len(str(total))))
    r_sorted = all_res[order]
    home = rng.random(total) < 0.4
    fac = geo.grid_clinic[geo.village_grid[people.village[r_sorted]]]
    device = np.where(
        home,
        np.strings.add("HD", np.char.zfill(r_sorted.astype(str), 7)),
        np.strings.add("CD", np.char.zfill(fac.astype(str), 4)),
    )
    glu_sorted = all_glu[order]
    sbp_sorted, dbp_sorted = all_sbp[order], all_dbp[order]
    last_visit = np.full((people.n, 2), -1, dtype=np.int64)
    np.maximum.at(last_visit, (people.fu_res, people.fu_dis), people.fu_date)
    # The open emergency readings (no visit after them by D), with the diseases they are
    # emergencies for.
    planted = []
    for i in np.flatnonzero(planted_flag[order]):
        r = int(r_sorted[i])
        mine = managed & (people.reg_res == r)
        diseases = [str(DISEASES[d]) for d in people.reg_dis[mine]]
        g = glu_sorted[i]
        bp_em = sbp_sorted[i] >= 180 or dbp_sorted[i] >= 110
        em = [d for d in diseases if bp_em or (d == "t2dm" and (g >= 16.7 or g <= 3.9))]
        lv = (
            max(int(last_visit[r, int(np.flatnonzero(d == DISEASES)[0])]) for d in em) if em else -1
        )
        planted.append(
            {
                "measurement_id": str(mids[i]),
                "resident_id": str(people.resident_id[r]),
                "measured_at": str(measured_at[i]),
                "sbp": int(sbp_sorted[i]),
                "dbp": int(dbp_sorted[i]),
                "glucose": None if np.isnan(g) else float(g),
                "emergency_for": em,
                "managed_diseases": diseases,
                "last_followup": None if lv < 0 else str(sc.to_date(lv)),
            }
        )
    people.planted = planted
    people.notes["emergency_readings_in_history"] = int(p)
    people.notes["emergency_readings_open_on_d"] = len(planted)
    return pa.table(
        {
            "measurement_id": mids,
            "resident_id": people.resident_id.take(pa.array(r_sorted)),
            "measured_at": measured_at,
            "device_id": pa.array(device.astype(str)),
            "facility_id": sc.str_array(geo.fac_id[fac], home),
            "sbp": sbp_sorted.astype(np.int64),
            "dbp": dbp_sorted.astype(np.int64),
            "heart_rate": all_hr[order].astype(np.int64),
            "glucose": sc.num_array(glu_sorted),
            "glucose_type": sc.str_array(all_gt[order], np.isnan(glu_sorted)),
        }
    )
