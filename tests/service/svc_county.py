"""A small hand-made county in the store, for the API tests (plain functions, no fixtures).

Two towns, two villages each, one grid and one family-doctor team per town, six residents,
their registry, visits and readings, and one build's result rows inserted directly (a real
``run_build`` on this would take tens of seconds per test on a busy machine). Matches
``svc_helpers.USERS``: doctor1 is team T01 (town A), doctor2 team T02 (town B), center1 the
centre of town A.

What the live push lists hold on ``TODAY`` (RULES.md follow-up tasks):

=====  =====  =====  ===================================================
R01    T01    htn    ``routine_followup`` (due 30 days ago: still green)
R02    T01    t2dm   ``uncontrolled_recheck`` (unsatisfactory 20 days ago), yellow
R03    T01    htn    ``first_followup`` (enrolled 30 days ago, no visit), yellow
R04    T02    htn    ``routine_followup`` (due 10 days ago), green
R05    T02    t2dm   nothing due (visited 10 days ago, next visit in 80 days)
R06    T01    —      not a patient (lives in G01, no registry row)
=====  =====  =====  ===================================================
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from store.models import (
    Area,
    ChronicRegistry,
    Facility,
    Followup,
    Grid,
    GridVillage,
    Measurement,
    Resident,
    Staff,
    Team,
)
from store.results import (
    Build,
    BuildCurrent,
    BurdenRow,
    HealthIndex,
    HotspotResult,
    IndicatorValue,
    RiskCell,
    SurveillanceAlert,
    VaccinationTarget,
)

TZ = ZoneInfo("Asia/Shanghai")
TODAY = dt.datetime.now(TZ).date()
MONTH_END = TODAY.replace(day=1) - dt.timedelta(days=1)

COUNTY = "370783000000"
TOWN_A, TOWN_B = "370783001000", "370783002000"
VA1, VA2 = "370783001001", "370783001002"
VB1, VB2 = "370783002001", "370783002002"
# Villages are 0.05° boxes: town A to the west, town B to the east.
LNG0, LAT0, D = 118.70, 36.80, 0.05
VILLAGE_BOX = {
    VA1: (0, 0),
    VA2: (0, 1),
    VB1: (1, 0),
    VB2: (1, 1),
}
VILLAGE_NAME = {VA1: "东关村", VA2: "西关村", VB1: "南园村", VB2: "北园村"}
H3_CELLS = ("8830a5570bfffff", "8830a5545dfffff")

#: A resident's name and phone that must never leave in a masked or aggregate view.
SECRET_NAME, SECRET_PHONE = "张三丰", "13812345678"


def village_box(code: str) -> shapely.Polygon:
    col, row = VILLAGE_BOX[code]
    west, south = LNG0 + col * D, LAT0 + row * D
    return shapely.box(west, south, west + D, south + D)


def village_centre(code: str) -> tuple[float, float]:
    c = village_box(code).centroid
    return float(c.y), float(c.x)  # lat, lng


def days(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def seed_geography(session: Session) -> None:
    town_a = shapely.union_all([village_box(VA1), village_box(VA2)])
    town_b = shapely.union_all([village_box(VB1), village_box(VB2)])
    county = shapely.union_all([town_a, town_b])
    areas = [
        Area(area_code=COUNTY, name="寿光市", level="county", geom=county),
        Area(area_code=TOWN_A, name="圣城街道", level="town", parent_code=COUNTY, geom=town_a),
        Area(area_code=TOWN_B, name="文家街道", level="town", parent_code=COUNTY, geom=town_b),
    ]
    for code, name in VILLAGE_NAME.items():
        lat, lng = village_centre(code)
        town = TOWN_A if code.startswith("370783001") else TOWN_B
        areas.append(
            Area(
                area_code=code,
                name=name,
                level="village",
                parent_code=town,
                lat=lat,
                lng=lng,
                geom=village_box(code),
            )
        )
    session.add_all(areas)
    la, lna = village_centre(VA1)
    lb, lnb = village_centre(VB1)
    session.add_all(
        [
            Facility(
                facility_id="F01",
                name="圣城卫生院",
                type="township_hc",
                area_code=TOWN_A,
                town_code=TOWN_A,
                lat=la,
                lng=lna,
                beds=40,
                open=True,
            ),
            Facility(
                facility_id="F02",
                name="文家卫生院",
                type="township_hc",
                area_code=TOWN_B,
                town_code=TOWN_B,
                lat=lb,
                lng=lnb,
                beds=30,
                open=True,
            ),
            Team(team_id="T01", name="一队", facility_id="F01", max_daily_visits=12),
            Team(team_id="T02", name="二队", facility_id="F02", max_daily_visits=12),
            Staff(staff_id="S01", name="李医生", facility_id="F01", role="gp", team_id="T01"),
            Staff(staff_id="S02", name="王医生", facility_id="F02", role="gp", team_id="T02"),
            Grid(
                grid_id="G01",
                name="东西关网格",
                village_codes=f"{VA1};{VA2}",
                team_id="T01",
                town_code=TOWN_A,
            ),
            Grid(
                grid_id="G02",
                name="南北园网格",
                village_codes=f"{VB1};{VB2}",
                team_id="T02",
                town_code=TOWN_B,
            ),
            GridVillage(grid_id="G01", area_code=VA1),
            GridVillage(grid_id="G01", area_code=VA2),
            GridVillage(grid_id="G02", area_code=VB1),
            GridVillage(grid_id="G02", area_code=VB2),
        ]
    )


def _resident(rid: str, name: str, village: str, team: str | None, **kw: Any) -> Resident:
    lat, lng = village_centre(village)
    grid = "G01" if village.startswith("370783001") else "G02"
    values: dict[str, Any] = dict(
        resident_id=rid,
        id_hash="h" + rid,
        id_masked="3707**********" + rid[-2:] + "12",
        name=name,
        sex=1,
        birth_date=dt.date(1955, 5, 6),
        area_code=village,
        town_code=village[:9] + "000",
        grid_id=grid,
        address=f"{VILLAGE_NAME[village]}{rid[-1]}号",
        lat=lat + 0.001 * int(rid[-1]),
        lng=lng + 0.001 * int(rid[-1]),
        loc_precision="exact",
        phone="1380000000" + rid[-1],
        signed_team_id=team,
        signed_date=days(400) if team else None,
        status="active",
    )
    values.update(kw)
    return Resident(**values)


def seed_people(session: Session) -> None:
    session.add_all(
        [
            _resident("R01", SECRET_NAME, VA1, "T01", phone=SECRET_PHONE),
            _resident("R02", "李四", VA2, "T01", sex=2),
            _resident("R03", "王五", VA1, "T01"),
            _resident("R04", "赵六", VB1, "T02"),
            _resident("R05", "钱七", VB2, "T02", sex=2),
            _resident("R06", "孙八", VA2, None),
            ChronicRegistry(
                resident_id="R01", disease="htn", enrolled_date=days(500), team_id="T01"
            ),
            ChronicRegistry(
                resident_id="R02", disease="t2dm", enrolled_date=days(500), team_id="T01"
            ),
            ChronicRegistry(
                resident_id="R03", disease="htn", enrolled_date=days(30), team_id="T01"
            ),
            ChronicRegistry(
                resident_id="R04", disease="htn", enrolled_date=days(500), team_id="T02"
            ),
            ChronicRegistry(
                resident_id="R05", disease="t2dm", enrolled_date=days(500), team_id="T02"
            ),
            _visit("V01", "R01", "htn", 120, sbp=132, dbp=82, classification="satisfactory"),
            _visit("V02", "R02", "t2dm", 110, fasting_glucose=6.5, classification="satisfactory"),
            _visit("V03", "R02", "t2dm", 20, fasting_glucose=9.1, classification="unsatisfactory"),
            _visit("V04", "R04", "htn", 100, sbp=128, dbp=80, classification="satisfactory"),
            _visit(
                "V05",
                "R05",
                "t2dm",
                10,
                fasting_glucose=6.1,
                classification="satisfactory",
                next_visit_date=days(-80),
            ),
            Measurement(
                measurement_id="M01",
                resident_id="R01",
                measured_at=dt.datetime.combine(days(5), dt.time(1, 30), dt.UTC),
                measured_date=days(5),
                device_id="D1",
                sbp=135,
                dbp=85,
                heart_rate=70,
            ),
        ]
    )


def _visit(fid: str, rid: str, disease: str, ago: int, **kw: Any) -> Followup:
    values: dict[str, Any] = dict(
        followup_id=fid,
        resident_id=rid,
        disease=disease,
        visit_date=days(ago),
        method="clinic",
        classification_source="source",
        referred=False,
        staff_id="S01",
    )
    values.update(kw)
    return Followup(**values)


# ----------------------------------------------------------------------------------------
# One build's results
# ----------------------------------------------------------------------------------------
INDICATORS = ("htn_management_rate", "htn_control_rate", "signing_rate")
#: (level, unit) pairs whose rows are stored suppressed (their real values must not leak).
SUPPRESSED_UNITS = {("village", VA2), ("grid", "G02"), ("h3:8", H3_CELLS[1])}
#: A numerator no response may carry: the suppressed rows' true count.
LEAK_NUMERATOR = 7.0


def _units() -> dict[str, list[str]]:
    return {
        "county": [COUNTY],
        "town": [TOWN_A, TOWN_B],
        "village": [VA1, VA2, VB1, VB2],
        "grid": ["G01", "G02"],
        "team": ["T01", "T02"],
        "h3:8": list(H3_CELLS),
    }


def result_rows(build_id: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of every result table for one build (as the build would store them)."""
    values = []
    for period in (TODAY, MONTH_END):
        for level, units in _units().items():
            for u, unit in enumerate(units):
                for i, indicator in enumerate(INDICATORS):
                    suppressed = (level, unit) in SUPPRESSED_UNITS
                    den = 40.0 + 10 * u + i
                    num = 30.0 + u + i
                    values.append(
                        dict(
                            build_id=build_id,
                            period=period,
                            level=level,
                            unit_id=unit,
                            indicator=indicator,
                            numerator=None if suppressed else num,
                            denominator=None if suppressed else den,
                            value=None if suppressed else num / den,
                            suppressed=suppressed,
                            suppression_reason="denominator_below_k" if suppressed else None,
                        )
                    )
    index = [
        dict(
            build_id=build_id,
            period=p,
            grid_id=g,
            value=v,
            components={"htn_control_rate": v, "signing_rate": None},
        )
        for p in (TODAY, MONTH_END)
        for g, v in (("G01", 71.5), ("G02", 64.0))
    ]
    burden = [
        dict(
            build_id=build_id,
            town_code=town,
            block=block,
            block_name=name,
            visits=120.0 + r,
            patients=40.0 + r,
            cost=5000.0,
            rate_per_1000=12.5,
            county_rate_per_1000=11.0,
            ratio_to_county=1.14,
            rank_visits=r,
            rank_patients=r,
            rank_cost=r,
            suppressed=False,
            suppression_reason=None,
        )
        for town in (TOWN_A, TOWN_B)
        for r, (block, name) in enumerate((("I10-I15", "高血压病"), ("E10-E14", "糖尿病")), 1)
    ]
    hotspots = []
    for level, units in (("h3:8", list(H3_CELLS)), ("grid", ["G01", "G02"])):
        for u, unit in enumerate(units):
            suppressed = (level, unit) in SUPPRESSED_UNITS
            hotspots.append(
                dict(
                    build_id=build_id,
                    indicator="htn_prevalence",
                    level=level,
                    unit_id=unit,
                    rate=None if suppressed else 0.21,
                    smoothed_rate=0.2,
                    numerator=None if suppressed else 21.0,
                    denominator=100.0,
                    neighbours=1,
                    z=2.5 if u == 0 else -0.3,
                    p=0.01,
                    q=0.02,
                    p_sim=0.01,
                    hotspot_class="hot" if u == 0 else "none",
                    suppressed=suppressed,
                    suppression_reason="count_below_k" if suppressed else None,
                )
            )
    return {
        "indicator_values": values,
        "health_index": index,
        "burden": burden,
        "hotspot_results": hotspots,
        **surveillance_rows(build_id),
    }


#: A third res-8 cell, in town A (village VA2).
H3_A2 = "8830a5cca7fffff"


def surveillance_rows(build_id: int) -> dict[str, list[dict[str, Any]]]:
    """The early warning of a build (docs/surveillance.md), small numbers included.

    Alerts: 1 a scan cluster in town A (observed 25), 2 one in town B (observed 4: its
    relative risk is withheld), 3 EARS C1 of town A, 4 EARS C2 of town B, 5 EARS C3 of the
    county. Risk cells: H3_CELLS[0] (A) 300 residents and 12 cases (rate shown),
    H3_CELLS[1] (B) 5 residents (withheld), H3_A2 (A) 200 residents and 3 cases
    (withheld). Vaccination targets: R01, R02, R03, R06 of T01 and R04 of T02.
    """
    day = {"build_id": build_id, "day": TODAY, "start_day": TODAY}
    scan = {**day, "kind": "scan", "method": "space_time_permutation", "area_level": "h3:8"}
    scan |= {"threshold": 0.05, "n_cells": 1, "radius_km": 0.0}
    ears = {**day, "kind": "ears", "threshold": 3.0, "statistic": 4.2}
    ears |= {"relative_risk": None, "llr": None, "p_value": None, "n_cells": None}
    ears |= {"radius_km": None, "cells": None}
    alerts = [
        {
            **scan,
            "alert_id": 1,
            "area_id": H3_CELLS[0],
            "cells": [H3_CELLS[0]],
            "observed": 25.0,
            "expected": 8.0,
            "statistic": 9.1,
            "llr": 9.1,
            "relative_risk": 3.4,
            "p_value": 0.002,
        },
        {
            **scan,
            "alert_id": 2,
            "area_id": H3_CELLS[1],
            "cells": [H3_CELLS[1]],
            "observed": 4.0,
            "expected": 0.5,
            "statistic": 5.5,
            "llr": 5.5,
            "relative_risk": 8.5,
            "p_value": 0.03,
        },
        {
            **ears,
            "alert_id": 3,
            "method": "C1",
            "area_level": "town",
            "area_id": TOWN_A,
            "observed": 12.0,
            "expected": 3.0,
        },
        {
            **ears,
            "alert_id": 4,
            "method": "C2",
            "area_level": "town",
            "area_id": TOWN_B,
            "observed": 6.0,
            "expected": 1.0,
        },
        {
            **ears,
            "alert_id": 5,
            "method": "C3",
            "area_level": "county",
            "area_id": COUNTY,
            "observed": 18.0,
            "expected": 4.0,
        },
    ]
    risk = [
        dict(
            h3=H3_CELLS[0],
            residents=300,
            recent_cases=12,
            rate_per_1000=40.0,
            rate_score=1.0,
            mobility_share=1.0,
            mobility_source="heat",
            alert_cell=True,
            score=1.0,
            at_risk=True,
        ),
        dict(
            h3=H3_CELLS[1],
            residents=5,
            recent_cases=1,
            rate_per_1000=200.0,
            rate_score=0.0,
            mobility_share=0.3,
            mobility_source="heat",
            alert_cell=False,
            score=0.15,
            at_risk=False,
        ),
        dict(
            h3=H3_A2,
            residents=200,
            recent_cases=3,
            rate_per_1000=15.0,
            rate_score=1.0,
            mobility_share=0.2,
            mobility_source="od",
            alert_cell=False,
            score=0.6,
            at_risk=True,
        ),
    ]
    targets = []
    for rid, team, reason, cell in (
        ("R01", "T01", "age", H3_CELLS[0]),
        ("R02", "T01", "managed", H3_A2),
        ("R03", "T01", "age", H3_CELLS[0]),
        ("R06", "T01", "age", H3_A2),
        ("R04", "T02", "age", H3_CELLS[1]),
    ):
        targets.append(
            dict(
                build_id=build_id,
                resident_id=rid,
                team_id=team,
                household_id=f"hh-{rid}",
                age=71,
                reason=reason,
                diseases="t2dm" if reason == "managed" else None,
                last_flu_vaccination=None,
                h3=cell,
                risk_score=0.7,
                grid_id="G01" if team == "T01" else "G02",
                area_code=VA1 if team == "T01" else VB1,
                lat=None,
                lng=None,
                due_date=TODAY + dt.timedelta(days=14),
            )
        )
    return {
        "surveillance_alerts": alerts,
        "risk_cells": [{"build_id": build_id, **r} for r in risk],
        "vaccination_targets": targets,
    }


def seed_build(engine: Engine) -> int:
    """Insert one ready build for ``TODAY`` (and the month-end before it) and make it current."""
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        build = Build(as_of=TODAY, started_at=now, finished_at=now, status="ready")
        session.add(build)
        session.flush()
        build_id = build.build_id
        build.summary = {
            "build_id": build_id,
            "as_of": TODAY.isoformat(),
            "periods": [TODAY.isoformat(), MONTH_END.isoformat()],
        }
        tables = {
            "indicator_values": IndicatorValue,
            "health_index": HealthIndex,
            "burden": BurdenRow,
            "hotspot_results": HotspotResult,
            "surveillance_alerts": SurveillanceAlert,
            "risk_cells": RiskCell,
            "vaccination_targets": VaccinationTarget,
        }
        for name, rows in result_rows(build_id).items():
            session.execute(insert(tables[name]), rows)
        session.add(BuildCurrent(name="current", build_id=build_id))
        session.commit()
    return build_id


#: Residents' accounts (activated, role ``resident``): username -> resident. Their tokens
#: are minted (``svc_helpers.token_headers``); a login through /auth/resident/token needs a
#: doctor's activation (tests/service/test_api_residents_self.py).
RESIDENT_USERS: dict[str, str] = {
    "resident1": "R01",  # a T01 patient (htn)
    "resident2": "R04",  # a T02 patient (htn)
}


def seed_resident_accounts(engine: Engine) -> None:
    """Activated residents' accounts of :data:`RESIDENT_USERS` (as a doctor's activation and
    the resident's PIN would leave them; the username is the matrix's name for them)."""
    from service.auth import hash_password
    from store.accounts import User
    from store.resident_accounts import ResidentAccount

    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        for username, rid in RESIDENT_USERS.items():
            user = User(
                username=username,
                password_hash=hash_password("271828"),
                role="resident",
                resident_id=rid,
                disabled=False,
                created_at=now,
                failed_count=0,
            )
            session.add(user)
            session.flush()
            session.add(
                ResidentAccount(
                    resident_id=rid,
                    user_id=user.id,
                    issued_at=now,
                    issued_by=0,
                    activated_at=now,
                    failures=0,
                )
            )
        session.commit()


def seed_county(engine: Engine, *, build: bool = True) -> None:
    """The whole small county (and, by default, its build), and the residents' accounts."""
    with Session(engine) as session:
        seed_geography(session)
        session.flush()
        seed_people(session)
        session.commit()
    seed_resident_accounts(engine)
    if build:
        seed_build(engine)


def r02_controlled_visit(followup_id: str) -> dict[str, Any]:
    """A visit body: R02's diabetes found controlled today, which closes their open
    ``uncontrolled_recheck`` (the next visit in 90 days)."""
    return {
        "followup_id": followup_id,
        "resident_id": "R02",
        "disease": "t2dm",
        "visit_date": TODAY.isoformat(),
        "method": "home",
        "fasting_glucose": 6.2,
        "next_visit_date": (TODAY + dt.timedelta(days=90)).isoformat(),
    }
