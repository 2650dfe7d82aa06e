"""Synthetic chronic-disease management: the registry, follow-ups and terminal readings.

Built from the residents of :mod:`pipelines.sample.people`; everything is vectorised
over patients / visits with numpy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample import common as sc
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
    recent = rng.random(m) < 0.10
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


def build_followups(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """A year of follow-up visits for registered patients (``followups``).

    Parameters
    ----------
    geo : Geography
    people : People
        Registry filled; follow-up arrays are stored back.
    seed : int
    as_of : datetime.date

    Returns
    -------
    pyarrow.Table
    """
    rng = sc.stream(seed, sc.K_FOLLOWUPS)
    d0 = sc.day_number(as_of)
    res, dis = people.reg_res, people.reg_dis
    m = res.size
    ws = np.maximum(d0 - 364, people.reg_enrolled)
    end = np.full(m, d0, dtype=np.int64)
    end = np.where(people.reg_closed >= 0, np.minimum(end, people.reg_closed - 1), end)
    end = np.minimum(end, people.status_day[res] - 1)

    ctrl = np.where(dis == HTN, people.mu_sbp[res] < 140, people.mu_glu[res] < 7.0)
    q = rng.random(m)
    good = q < np.where(ctrl, 0.62, 0.45)
    medium = ~good & (q < np.where(ctrl, 0.90, 0.82))
    n = np.where(
        good,
        rng.choice([4, 5, 6], m, p=[0.5, 0.3, 0.2]),
        np.where(medium, rng.integers(2, 4, m), 1),
    )
    recent = people.reg_enrolled > d0 - 365
    none = rng.random(m) < np.where(recent, 0.25, 0.03)
    overdue = rng.random(m) < 0.12
    lag = np.where(overdue, rng.integers(121, 221, m), rng.integers(0, 86, m))
    last = end - lag
    last = np.where(last < ws, end, last)
    span = last - ws
    n = np.where(none | (span < 0), 0, np.minimum(n, span // 25 + 1))
    people.notes["registry_rows_without_visit_in_window"] = int((n == 0).sum())

    rep = np.repeat(np.arange(m), n)
    first = np.cumsum(n) - n
    kk = np.arange(rep.size) - first[rep]
    from_end = n[rep] - 1 - kk
    jitter = np.where(from_end == 0, 0.0, rng.uniform(-0.3, 0.3, rep.size))
    date = last[rep] - np.round(span[rep] * (from_end + jitter) / n[rep]).astype(np.int64)
    date = np.clip(date, ws[rep], last[rep])
    keep = np.r_[True, (rep[1:] != rep[:-1]) | (date[1:] != date[:-1])]
    rep, date, from_end = rep[keep], date[keep], from_end[keep]
    v = rep.size
    r_res = res[rep]
    r_dis = dis[rep]

    sbp = people.mu_sbp[r_res] + rng.normal(0, 7, v)
    dbp = people.mu_dbp[r_res] + 0.4 * (sbp - people.mu_sbp[r_res]) + rng.normal(0, 4, v)
    glu = people.mu_glu[r_res] + rng.normal(0, 0.6, v)
    # Planted pattern: the last two visits both uncontrolled (referral suggested).
    n_kept = np.bincount(rep, minlength=m)
    two_bad = (n_kept >= 2) & (rng.random(m) < 0.02)
    tb = two_bad[rep] & (from_end <= 1)
    sbp[tb] = np.maximum(sbp[tb], 0) + 32
    glu[tb & (r_dis == T2DM)] += 4.0
    sbp = np.clip(np.round(sbp), 90, 230)
    dbp = np.clip(np.round(dbp), 50, 130)
    dbp = np.minimum(dbp, sbp - 20)
    glu = np.clip(np.round(glu, 1), 3.0, 25.0)
    hr = np.clip(np.round(rng.normal(76, 9, v)), 48, 130)
    height = np.round(np.where(people.sex == 1, 168.0, 157.0) + rng.normal(0, 6, people.n), 0)
    bmi = rng.normal(25.3, 3.0, people.n)
    weight = np.round(bmi[r_res] * (height[r_res] / 100) ** 2 + rng.normal(0, 0.8, v), 1)

    adverse = rng.random(v) < 0.03
    adverse[tb] = False
    age_v = sc.age_on(people.birth[r_res], date)
    bp_ok = (sbp < np.where(age_v >= 65, 150, 140)) & (dbp < 90)
    target = np.where(r_dis == HTN, bp_ok, glu < 7.0)
    cls = np.where(adverse, "adverse", np.where(target, "satisfactory", "unsatisfactory"))
    not_sat = cls != "satisfactory"
    referred = not_sat & (rng.random(v) < 0.03)
    referred[tb] = False
    given = rng.random(v) < 0.15
    complication = given & (cls == "unsatisfactory") & (rng.random(v) < 0.05)
    cls_out = np.where(complication, "complication", cls)
    adh = np.where(
        target,
        sc.pick(rng, ["regular", "intermittent", "none"], [0.82, 0.14, 0.04], v),
        sc.pick(rng, ["regular", "intermittent", "none"], [0.55, 0.30, 0.15], v),
    )
    method = sc.pick(rng, ["clinic", "home", "phone", "online"], [0.45, 0.30, 0.20, 0.05], v)
    nxt = date + np.where(not_sat & (rng.random(v) < 0.5), 14, 90 + rng.integers(-5, 6, v))
    nxt_missing = rng.random(v) < 0.05
    s1 = SYMPTOMS[rng.integers(0, SYMPTOMS.size, v)]
    s2 = SYMPTOMS[rng.integers(0, SYMPTOMS.size, v)]
    two = rng.random(v) < 0.4
    sym = np.where(two & (s1 != s2), np.strings.add(np.strings.add(s1, ";"), s2), s1)
    sym_missing = rng.random(v) > np.where(target, 0.15, 0.45)

    # The visiting doctor is a gp or village doctor of the managing team.
    team = people.reg_mteam[rep]
    sizes = np.asarray([d.size for d in geo.team_doctors])
    offsets = np.cumsum(sizes) - sizes
    flat = np.concatenate(geo.team_doctors)
    staff = flat[offsets[team] + (rng.random(v) * sizes[team]).astype(np.int64)]

    # File order: by visit date (a typical export), ties by resident.
    order = np.lexsort((r_dis, r_res, date))
    people.fu_res = r_res[order]
    people.fu_dis = r_dis[order]
    people.fu_date = date[order]
    people.notes["two_unsatisfactory_last_visits_planted"] = int(two_bad.sum())
    is_dm = r_dis == T2DM

    def o(a: np.ndarray) -> np.ndarray:
        return a[order]

    return pa.table(
        {
            "followup_id": sc.make_ids("F", 1, v, max(8, len(str(v)))),
            "resident_id": people.resident_id.take(pa.array(o(r_res))),
            "disease": sc.take_str(DISEASES, o(r_dis)),
            "visit_date": sc.date_array(o(date)),
            "method": pa.array(o(method)),
            "sbp": o(sbp).astype(np.int64),
            "dbp": o(dbp).astype(np.int64),
            "fasting_glucose": sc.num_array(o(glu), ~o(is_dm)),
            "heart_rate": o(hr).astype(np.int64),
            "weight_kg": o(weight),
            "height_cm": o(height[r_res]),
            "adherence": pa.array(o(adh)),
            "adverse_reaction": o(adverse).astype(np.int64),
            "symptoms": sc.str_array(o(sym).astype(str), o(sym_missing)),
            "classification": sc.str_array(o(cls_out), ~o(given)),
            "referred": o(referred).astype(np.int64),
            "next_visit_date": sc.date_array(o(nxt), o(nxt_missing)),
            "staff_id": sc.take_str(geo.staff_id, o(staff)),
        }
    )


def build_measurements(geo: Geography, people: People, seed: int, as_of: dt.date) -> pa.Table:
    """Smart-terminal readings of managed patients in the last 60 days (``measurements``).

    Ordinary readings are kept below every emergency threshold, so the planted
    emergency readings (recorded in ``people.planted``) are exactly the emergencies.

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
    managed = people.managed(d0)
    pats = np.unique(people.reg_res[managed])
    has_dm = np.zeros(people.n, dtype=bool)
    has_dm[people.reg_res[managed & (people.reg_dis == T2DM)]] = True
    k = rng.poisson(0.3, pats.size)
    res = np.repeat(pats, k)
    v = res.size
    day = d0 - rng.integers(0, 60, v)
    sec = rng.integers(6 * 3600, 21 * 3600, v)
    sbp = np.clip(np.round(people.mu_sbp[res] + rng.normal(0, 8, v)), 95, 175)
    dbp = np.clip(np.round(people.mu_dbp[res] + rng.normal(0, 5, v)), 55, 105)
    dbp = np.minimum(dbp, sbp - 15)
    hr = np.clip(np.round(rng.normal(75, 9, v)), 50, 120)
    gtype = sc.pick(rng, ["fasting", "random", "postprandial"], [0.5, 0.3, 0.2], v)
    glu = people.mu_glu[res] + np.where(gtype == "fasting", 0.0, 2.0) + rng.normal(0, 0.8, v)
    glu = np.clip(np.round(glu, 1), 4.2, 16.0)
    with_glu = has_dm[res] & (rng.random(v) < 0.75)

    # Planted emergencies: after every follow-up of the patient, within the last 7 days.
    n_plant = max(3, round(20 * people.n / 1_000_000))
    last_visit = np.full(people.n, -1, dtype=np.int64)
    np.maximum.at(last_visit, people.fu_res, people.fu_date)
    first_enrol = np.full(people.n, 10**7, dtype=np.int64)
    np.minimum.at(first_enrol, people.reg_res[managed], people.reg_enrolled[managed])
    cand = pats[
        (last_visit[pats] >= 0) & (last_visit[pats] < d0 - 8) & (first_enrol[pats] < d0 - 8)
    ]
    chosen = rng.choice(cand, size=min(n_plant, cand.size), replace=False)
    chosen.sort()
    p = chosen.size
    p_day = d0 - rng.integers(0, 6, p)
    p_sec = rng.integers(7 * 3600, 20 * 3600, p)
    kind = np.where(rng.random(p) < 0.6, "sbp", "dbp")
    dm_c = has_dm[chosen]
    glu_kind = dm_c & (rng.random(p) < 0.5)
    kind = np.where(glu_kind, np.where(rng.random(p) < 0.7, "glucose_high", "glucose_low"), kind)
    p_sbp = np.where(kind == "sbp", rng.integers(182, 206, p), rng.integers(135, 170, p)).astype(
        float
    )
    p_dbp = np.where(kind == "dbp", rng.integers(111, 121, p), rng.integers(80, 100, p)).astype(
        float
    )
    p_dbp = np.where(kind == "sbp", rng.integers(95, 108, p), p_dbp)
    p_glu = np.where(
        kind == "glucose_high",
        np.round(rng.uniform(17.0, 24.0, p), 1),
        np.round(rng.uniform(2.6, 3.7, p), 1),
    )
    p_with_glu = glu_kind
    p_glu = np.where(p_with_glu, p_glu, np.nan)

    all_res = np.r_[res, chosen]
    all_day = np.r_[day, p_day]
    all_sec = np.r_[sec, p_sec]
    all_sbp = np.r_[sbp, p_sbp]
    all_dbp = np.r_[dbp, p_dbp]
    all_hr = np.r_[hr, rng.integers(70, 110, p).astype(float)]
    all_glu = np.r_[np.where(with_glu, glu, np.nan), p_glu]
    all_gt = np.r_[gtype, sc.pick(rng, ["random", "fasting"], [0.6, 0.4], p)]
    planted_flag = np.r_[np.zeros(v, bool), np.ones(p, bool)]
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
    # Record the planted readings with the diseases they are emergencies for.
    pos = np.flatnonzero(planted_flag[order])
    planted = []
    for i in pos:
        r = int(r_sorted[i])
        mine = managed & (people.reg_res == r)
        diseases = [str(DISEASES[d]) for d in people.reg_dis[mine]]
        g = glu_sorted[i]
        bp_em = all_sbp[order][i] >= 180 or all_dbp[order][i] >= 110
        em = [d for d in diseases if bp_em or (d == "t2dm" and (g >= 16.7 or g <= 3.9))]
        planted.append(
            {
                "measurement_id": str(mids[i]),
                "resident_id": str(people.resident_id[r]),
                "measured_at": str(measured_at[i]),
                "sbp": int(all_sbp[order][i]),
                "dbp": int(all_dbp[order][i]),
                "glucose": None if np.isnan(g) else float(g),
                "emergency_for": em,
                "managed_diseases": diseases,
                "last_followup": str(sc.to_date(last_visit[r])),
            }
        )
    people.planted = planted
    return pa.table(
        {
            "measurement_id": mids,
            "resident_id": people.resident_id.take(pa.array(r_sorted)),
            "measured_at": measured_at,
            "device_id": pa.array(device.astype(str)),
            "facility_id": sc.str_array(geo.fac_id[fac], home),
            "sbp": all_sbp[order].astype(np.int64),
            "dbp": all_dbp[order].astype(np.int64),
            "heart_rate": all_hr[order].astype(np.int64),
            "glucose": sc.num_array(glu_sorted),
            "glucose_type": sc.str_array(all_gt[order], np.isnan(glu_sorted)),
        }
    )
