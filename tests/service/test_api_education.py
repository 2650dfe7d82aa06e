"""Health education over the API: workflow, permissions, safe Markdown, matching, reads layer.

On the small county of ``svc_county``: town A (grid G01: R01 htn, R02 t2dm, R03 htn, R06
no registry), town B (grid G02: R04 htn, R05 t2dm). doctor1 is team T01 (town A), doctor2
team T02 (town B), center1 the centre of town A. Added here: center1b (a second reviewer
of town A), center2 (the centre of town B) and residents' accounts.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from svc_county import TODAY, TOWN_A, TOWN_B, _resident, days
from svc_education import ITEM_BODY, add_resident_user, headers_of, insert_item
from svc_helpers import assert_problem

from geo.education_content import ALLOWED_TAGS
from service.accounts import add_user
from service.settings import Settings
from store.accounts import AuditLog, User
from store.education import EducationRead
from store.models import Resident

ITEMS = "/api/v1/education/items"


@pytest.fixture
def h(api: TestClient, engine: Engine, api_settings: Settings) -> dict[str, dict[str, str]]:
    """Headers of the USERS accounts, two more centres, and residents R01…R06."""
    with Session(engine) as session:
        add_user(session, "center1b", "center-password-1b", "chronic_center", town_code=TOWN_A)
        add_user(session, "center2", "center-password-2", "chronic_center", town_code=TOWN_B)
    # ``res<n>`` is R0n's account: the county's own (svc_county.RESIDENT_USERS) or a new one.
    accounts: dict[str, str] = {}
    with Session(engine) as session:
        existing = dict(
            session.execute(
                select(User.resident_id, User.username).where(User.resident_id.is_not(None))
            ).all()
        )
    for n in range(1, 7):
        rid = f"R0{n}"
        if rid not in existing:
            add_resident_user(engine, f"res{n}", rid)
        accounts[f"res{n}"] = existing.get(rid, f"res{n}")
    names = ["doctor1", "doctor2", "center1", "center1b", "center2", "bureau1", "planner1"]
    names.append("admin1")
    out = {u: headers_of(engine, api_settings, u) for u in names}
    out.update({key: headers_of(engine, api_settings, u) for key, u in accounts.items()})
    return out


def body(**kw: Any) -> dict[str, Any]:
    return {**ITEM_BODY, **kw}


def create(api: TestClient, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    r = api.post(ITEMS, json=body(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def step(api: TestClient, headers: dict[str, str], item_id: str, name: str, **kw: Any) -> Any:
    return api.post(f"{ITEMS}/{item_id}/{name}", headers=headers, **kw)


def published(api: TestClient, author: dict[str, str], reviewer: dict[str, str], **kw: Any) -> str:
    """An item written by ``author`` and published by ``reviewer``; its id."""
    item_id = create(api, author, **kw)["item_id"]
    assert step(api, author, item_id, "submit").status_code == 200
    r = step(api, reviewer, item_id, "publish")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "published"
    return str(item_id)


# ----------------------------------------------------------------------------------------
# Workflow
# ----------------------------------------------------------------------------------------
def test_write_submit_send_back_publish_withdraw(
    api: TestClient, h: dict[str, dict[str, str]], engine: Engine
) -> None:
    item = create(api, h["doctor1"])
    iid = item["item_id"]
    assert item["state"] == "draft"
    assert item["town_code"] == TOWN_A  # the team's township
    assert item["author_username"] == "doctor1" and item["author_team_id"] == "T01"
    assert '<a href="/r/">我的页面</a>' in item["body_html"]

    edited = api.put(f"{ITEMS}/{iid}", json=body(title="冬季血压 v2"), headers=h["doctor1"])
    assert edited.status_code == 200 and edited.json()["title"] == "冬季血压 v2"
    assert step(api, h["doctor1"], iid, "submit").json()["state"] == "in_review"
    # In review: the author can no longer change it.
    assert_problem(api.put(f"{ITEMS}/{iid}", json=body(), headers=h["doctor1"]), 409)
    # A doctor does not review; sending back needs a note.
    assert_problem(step(api, h["doctor1"], iid, "publish"), 403)
    assert_problem(step(api, h["center1"], iid, "send-back", json={}), 422)
    back = step(api, h["center1"], iid, "send-back", json={"note": "请补充饮食建议"})
    assert back.json()["state"] == "draft" and back.json()["review_note"] == "请补充饮食建议"
    assert api.put(f"{ITEMS}/{iid}", json=body(), headers=h["doctor1"]).status_code == 200
    assert step(api, h["doctor1"], iid, "submit").status_code == 200
    pub = step(api, h["center1"], iid, "publish").json()
    assert pub["state"] == "published" and pub["reviewer_username"] == "center1"
    assert pub["published_at"] is not None
    assert_problem(step(api, h["center1"], iid, "publish"), 409)
    gone = step(api, h["center1"], iid, "withdraw", json={"note": "季节已过"})
    assert gone.json()["state"] == "withdrawn" and gone.json()["withdrawn_at"]

    with Session(engine) as session:
        steps = [
            (r.username, r.detail["step"])
            for r in session.scalars(
                select(AuditLog)
                .where(AuditLog.resource_type == "education_item", AuditLog.resource_id == iid)
                .order_by(AuditLog.id)
            )
        ]
    assert steps == [
        ("doctor1", "create"),
        ("doctor1", "edit"),
        ("doctor1", "submit"),
        ("center1", "send_back"),
        ("doctor1", "edit"),
        ("doctor1", "submit"),
        ("center1", "publish"),
        ("center1", "withdraw"),
    ]


def test_lists_use_the_page_envelope_and_the_scope(
    api: TestClient, h: dict[str, dict[str, str]]
) -> None:
    a1 = create(api, h["doctor1"])["item_id"]
    a2 = create(api, h["center1"], grids=["G01"])["item_id"]
    b1 = create(api, h["doctor2"])["item_id"]
    county = create(api, h["bureau1"])["item_id"]
    assert step(api, h["doctor1"], a1, "submit").status_code == 200

    def ids(who: str, query: str = "") -> set[str]:
        r = api.get(f"{ITEMS}{query}", headers=h[who])
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"total", "limit", "offset", "items"}
        assert page["total"] == len(page["items"])
        return {i["item_id"] for i in page["items"]}

    assert ids("doctor1") == {a1}  # own items (nothing published yet)
    assert ids("center1") == {a1, a2}  # its township's, drafts included
    assert ids("center2") == {b1}
    assert ids("bureau1") == ids("admin1") == {a1, a2, b1, county}
    assert ids("center1", "?state=in_review") == {a1}
    assert ids("bureau1", "?mine=true") == {county}
    assert_problem(api.get(ITEMS, headers=h["planner1"]), 403)
    assert_problem(api.get(ITEMS, headers=h["res1"]), 403)
    page = api.get(f"{ITEMS}?limit=1&offset=1", headers=h["bureau1"]).json()
    assert page["total"] == 4 and len(page["items"]) == 1 and page["limit"] == 1


def test_permissions_and_scope(api: TestClient, h: dict[str, dict[str, str]]) -> None:
    a1 = create(api, h["doctor1"])["item_id"]
    # Out of scope answers like unknown.
    for who in ("doctor2", "center2"):
        unknown = assert_problem(api.get(f"{ITEMS}/E000000000000", headers=h[who]), 404)
        other = assert_problem(api.get(f"{ITEMS}/{a1}", headers=h[who]), 404)
        assert unknown["detail"] == other["detail"]
    # Seen but not one's own: 403.
    assert_problem(api.put(f"{ITEMS}/{a1}", json=body(), headers=h["center1"]), 403)
    assert_problem(step(api, h["center1"], a1, "submit"), 403)
    assert_problem(api.post(ITEMS, json=body(), headers=h["planner1"]), 403)
    assert_problem(api.post(ITEMS, json=body(), headers=h["res1"]), 403)
    # Nobody publishes their own item; a second reviewer of the township does.
    own = create(api, h["center1"])["item_id"]
    assert step(api, h["center1"], own, "submit").status_code == 200
    assert_problem(step(api, h["center1"], own, "publish"), 403)
    assert step(api, h["center1b"], own, "publish").json()["state"] == "published"
    # Another township's centre does not see it in review; the bureau reviews anything.
    b1 = create(api, h["doctor2"])["item_id"]
    assert step(api, h["doctor2"], b1, "submit").status_code == 200
    assert_problem(step(api, h["center1"], b1, "publish"), 404)
    assert step(api, h["bureau1"], b1, "publish").status_code == 200
    # A county-wide item is the bureau's to review; a centre sees it only once published.
    county = create(api, h["bureau1"])["item_id"]
    assert step(api, h["bureau1"], county, "submit").status_code == 200
    assert_problem(step(api, h["center1"], county, "publish"), 404)
    assert step(api, h["admin1"], county, "publish").status_code == 200
    assert api.get(f"{ITEMS}/{county}", headers=h["center1"]).status_code == 200
    assert_problem(step(api, h["center1"], county, "withdraw"), 403)


def test_grids_must_lie_in_the_items_township(
    api: TestClient, h: dict[str, dict[str, str]]
) -> None:
    r = api.post(ITEMS, json=body(grids=["G01", "G02"]), headers=h["center1"])
    problem = assert_problem(r, 422)
    assert "G02" in problem["detail"] and "G01" not in problem["detail"].split(":")[-1]
    assert_problem(api.post(ITEMS, json=body(grids=["G99"]), headers=h["doctor1"]), 422)
    assert create(api, h["bureau1"], grids=["G01", "G02"])["town_code"] is None
    assert_problem(api.post(ITEMS, json=body(min_age=70, max_age=60), headers=h["doctor1"]), 422)
    r = api.post(
        ITEMS, json=body(valid_from="2026-02-01", valid_to="2026-01-01"), headers=h["doctor1"]
    )
    assert_problem(r, 422)
    assert_problem(api.post(ITEMS, json=body(diseases=["flu"]), headers=h["doctor1"]), 422)


# ----------------------------------------------------------------------------------------
# Safe Markdown
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("markdown", "url"),
    [
        ("![血压计](https://evil.example/pixel.png)", "https://evil.example/pixel.png"),
        ("![x](//evil.example/a.gif)", "//evil.example/a.gif"),
        ("![本地图](/static/a.png)", "/static/a.png"),
        ("[点我](https://evil.example/phish)", "https://evil.example/phish"),
        ("[点我](javascript:alert(1))", "javascript:alert(1)"),
        ("<https://evil.example/auto>", "https://evil.example/auto"),
        ("[x][r]\n\n[r]: JavaScript:alert(document.cookie)", "JavaScript:alert(document.cookie)"),
    ],
)
def test_refused_urls_are_named_at_save_time(
    api: TestClient, h: dict[str, dict[str, str]], markdown: str, url: str
) -> None:
    problem = assert_problem(
        api.post(ITEMS, json=body(body_markdown=markdown), headers=h["doctor1"]), 422
    )
    assert url in problem["detail"]
    assert problem["errors"][0]["loc"] == "body.body_markdown"
    # The preview says the same, and renders no link or image from it.
    preview = api.post(
        "/api/v1/education/render", json={"body_markdown": markdown}, headers=h["doctor1"]
    )
    assert preview.status_code == 200
    assert any(url in p for p in preview.json()["problems"])
    assert "href" not in preview.json()["html"] and "<img" not in preview.json()["html"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


XSS = "\n\n".join(
    [
        "<script>alert('xss')</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">点我</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<svg onload="alert(1)"></svg>',
        '<p style="background:url(https://evil.example/x.png)" onclick="x()">段落</p>',
        "[合法链接](/r/#bp) 和 [锚点](#top)",
        "**粗体** `<script>code</script>`",
    ]
)


def test_xss_attempts_render_to_inert_html(api: TestClient, h: dict[str, dict[str, str]]) -> None:
    item = create(api, h["doctor1"], body_markdown=XSS)
    for html in (
        item["body_html"],
        api.post(
            "/api/v1/education/render", json={"body_markdown": XSS}, headers=h["center1"]
        ).json()["html"],
    ):
        parser = _Tags()
        parser.feed(html)
        tags = {t for t, _ in parser.tags}
        assert tags <= ALLOWED_TAGS, tags
        assert not tags & {"script", "img", "iframe", "svg", "style"}
        attrs = [(t, name, value) for t, a in parser.tags for name, value in a]
        assert not [a for a in attrs if a[1].startswith("on") or a[1] in ("style", "src")]
        hrefs = sorted(v for _, name, v in attrs if name == "href")
        assert hrefs == ["#top", "/r/#bp"]
        assert "<strong>粗体</strong>" in html
        assert "&lt;script&gt;" in html  # shown as text, not run


# ----------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------
def _born(age: int) -> dt.date:
    # 1 January: the age on TODAY is exactly ``age`` whatever TODAY is.
    return dt.date(TODAY.year - age, 1, 1)


def test_residents_see_the_items_that_match_them(
    api: TestClient, h: dict[str, dict[str, str]], engine: Engine
) -> None:
    ages = {"R01": 70, "R02": 50, "R03": 30, "R04": 70, "R05": 70, "R06": 70}
    with Session(engine) as session:
        for rid, age in ages.items():
            session.execute(
                update(Resident).where(Resident.resident_id == rid).values(birth_date=_born(age))
            )
        session.commit()
    d1, c1, c1b = h["doctor1"], h["center1"], h["center1b"]
    i1 = published(api, d1, c1, diseases=["htn"], min_age=60)  # town A, htn, 60+
    i2 = published(api, c1, c1b, diseases=[], min_age=None, max_age=55, grids=["G01"])
    i3 = published(api, h["bureau1"], h["admin1"], diseases=["t2dm"], min_age=None)  # county
    i8 = published(api, c1, c1b, diseases=[], min_age=None)  # all of town A
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    published(api, h["doctor2"], h["center2"], diseases=["htn"], min_age=None, valid_from=tomorrow)
    published(
        api, d1, c1, diseases=[], min_age=None,
        valid_from=days(10).isoformat(), valid_to=days(1).isoformat(),
    )  # fmt: skip
    create(api, d1, diseases=[], min_age=None)  # a draft
    gone = published(api, d1, c1, diseases=[], min_age=None)
    assert step(api, c1, gone, "withdraw").status_code == 200

    expected = {
        "R01": {i1, i8},  # htn 70, town A
        "R02": {i2, i3, i8},  # t2dm 50, G01
        "R03": {i2, i8},  # htn but 30: not i1
        "R04": set(),  # town B: i4 not valid yet
        "R05": {i3},  # t2dm anywhere in the county
        "R06": {i8},  # 70, not managed: not i2 (≤55)
    }
    for n in range(1, 7):
        r = api.get("/api/v1/me/education", headers=h[f"res{n}"])
        assert r.status_code == 200, r.text
        page = r.json()
        assert {i["item_id"] for i in page["items"]} == expected[f"R0{n}"], f"R0{n}"
        assert page["total"] == len(expected[f"R0{n}"])
        assert all(i["read_at"] is None and "<strong>" not in i["title"] for i in page["items"])

    # A closed registry file no longer counts: R05's diabetes file closed yesterday.
    from store.models import ChronicRegistry

    with Session(engine) as session:
        session.execute(
            update(ChronicRegistry)
            .where(ChronicRegistry.resident_id == "R05")
            .values(closed_date=days(1), close_reason="迁出")
        )
        session.commit()
    assert api.get("/api/v1/me/education", headers=h["res5"]).json()["total"] == 0

    # Reading: idempotent; an item that is not the resident's is 404 like an unknown one.
    first = api.post(f"/api/v1/me/education/{i1}/read", headers=h["res1"])
    again = api.post(f"/api/v1/me/education/{i1}/read", headers=h["res1"])
    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] == again.json()["read_at"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(EducationRead)) == 1
    listed = api.get("/api/v1/me/education", headers=h["res1"]).json()["items"]
    assert {i["item_id"]: bool(i["read_at"]) for i in listed} == {i1: True, i8: False}
    not_mine = assert_problem(api.post(f"/api/v1/me/education/{i3}/read", headers=h["res1"]), 404)
    unknown = assert_problem(api.post("/api/v1/me/education/E0/read", headers=h["res1"]), 404)
    assert not_mine["detail"] == unknown["detail"]
    assert_problem(api.post(f"/api/v1/me/education/{gone}/read", headers=h["res1"]), 404)
    assert_problem(api.get("/api/v1/me/education", headers=h["doctor1"]), 403)
    assert_problem(api.post(f"/api/v1/me/education/{i1}/read", headers=h["doctor1"]), 403)


# ----------------------------------------------------------------------------------------
# The reads layer
# ----------------------------------------------------------------------------------------
def test_reads_layer_suppresses_small_numbers(
    api: TestClient, h: dict[str, dict[str, str]], engine: Engine
) -> None:
    """G01: 4 residents (below k = 10: nothing shown). G02: 2 + 12 = 14 residents; 11 of
    them read something (shown: 11/14), 3 read item X (withheld: 1–9 people)."""
    insert_item(engine, "EX", "bureau1", "published")
    insert_item(engine, "EY", "bureau1", "published")
    with Session(engine) as session:
        extra = [
            _resident(f"R1{n:02d}", "某某", "370783002001", "T02", status="active")
            for n in range(12)
        ]
        session.add_all(extra)
        session.flush()
        now = dt.datetime.now(dt.UTC)
        readers_any = ["R04", "R05", *(f"R1{n:02d}" for n in range(9))]  # 11 people
        for rid in readers_any:
            session.add(EducationRead(item_id="EY", resident_id=rid, read_at=now))
        for rid in ("R04", "R100", "R101"):  # 3 read EX too (still 11 distinct for "any")
            session.add(EducationRead(item_id="EX", resident_id=rid, read_at=now))
        session.add(EducationRead(item_id="EY", resident_id="R01", read_at=now))  # G01
        session.commit()

    def layer(who: str, query: str = "") -> dict[str, dict[str, Any]]:
        r = api.get(f"/api/v1/education/reads?level=grid{query}", headers=h[who])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        doc = r.json()
        assert doc["type"] == "FeatureCollection" and doc["suppression_k"] == 10
        return {f["id"]: f["properties"] for f in doc["features"]}

    grids = layer("bureau1")
    assert grids["G01"]["suppression_reason"] == "denominator_below_k"
    assert grids["G01"]["readers"] is None and grids["G01"]["residents"] is None
    assert grids["G01"]["value"] is None
    assert grids["G02"]["suppressed"] is False
    assert (grids["G02"]["readers"], grids["G02"]["residents"]) == (11, 14)
    assert grids["G02"]["value"] == pytest.approx(11 / 14)
    one = layer("planner1", "&item_id=EX")["G02"]
    assert one["suppression_reason"] == "count_below_k"
    assert one["readers"] is None and one["value"] is None and one["residents"] == 14
    assert layer("bureau1", "&item_id=EY")["G02"]["readers"] == 11
    # A centre sees its township's grids only; doctors and residents not at all.
    assert set(layer("center1")) == {"G01"}
    assert_problem(api.get("/api/v1/education/reads?level=grid", headers=h["doctor1"]), 403)
    assert_problem(api.get("/api/v1/education/reads?level=grid", headers=h["res1"]), 403)
    assert_problem(api.get("/api/v1/education/reads?level=town", headers=h["bureau1"]), 422)
    assert_problem(api.get("/api/v1/education/reads?item_id=NOPE", headers=h["bureau1"]), 404)
    # The raw counts never leave for a suppressed cell (3 readers of EX in G02).
    body_ = api.get("/api/v1/education/reads?item_id=EX", headers=h["bureau1"]).text
    assert '"readers": 3' not in body_ and '"readers":3' not in body_
