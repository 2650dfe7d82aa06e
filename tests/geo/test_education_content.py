"""Safe Markdown of health-education items, and who an item is for (geo.education_content)."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from geo.education_content import (
    ALLOWED_TAGS,
    Audience,
    ResidentFacts,
    item_matches,
    link_allowed,
    markdown_problems,
    render_markdown,
)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def parsed(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


# Hand-written attempts, each with what must not survive.
ATTEMPTS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](&#106;&#97;vascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](https://evil.example)",
    "[x](//evil.example)",
    "<https://evil.example>",
    "![x](https://evil.example/a.png)",
    '![x" onerror="alert(1)](https://evil.example/a.png)',
    "<iframe src=https://evil.example></iframe>",
    "<style>body{background:url(https://evil.example)}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("markdown", ATTEMPTS)
def test_rendered_html_is_inert(markdown: str) -> None:
    html = render_markdown(markdown)
    p = parsed(html)
    assert set(p.tags) <= ALLOWED_TAGS, html
    assert "img" not in p.tags and "script" not in p.tags and "iframe" not in p.tags
    assert not [name for name, _ in p.attrs if name.startswith("on") or name in ("src", "style")]
    assert all(link_allowed(v or "") for name, v in p.attrs if name == "href"), html


@pytest.mark.parametrize(
    ("markdown", "named"),
    [
        ("[x](javascript:alert(1))", "javascript:alert(1)"),
        ("[x](https://evil.example/p)", "https://evil.example/p"),
        ("[x](//evil.example/p)", "//evil.example/p"),
        ("![图](https://evil.example/a.png)", "https://evil.example/a.png"),
        ("![图](/static/a.png)", "/static/a.png"),
        ("<mailto:a@b.cn>", "mailto:a@b.cn"),
    ],
)
def test_save_time_check_names_the_url(markdown: str, named: str) -> None:
    problems = markdown_problems(markdown)
    assert len(problems) == 1 and named in problems[0]


def test_safe_markdown_renders_and_passes() -> None:
    md = "# 少盐\n\n- 每天不超过 **5 克**\n- 见[我的页面](/r/)、[上文](#top)\n\n`<b>`"
    assert markdown_problems(md) == []
    html = render_markdown(md)
    assert "<h1>少盐</h1>" in html
    assert "<strong>5 克</strong>" in html
    assert '<a href="/r/">我的页面</a>' in html and '<a href="#top">上文</a>' in html
    assert "<code>&lt;b&gt;</code>" in html


def test_an_external_link_becomes_its_text() -> None:
    assert render_markdown("去[这里](https://evil.example)看") == "<p>去这里看</p>"
    assert render_markdown("![血压计](https://evil.example/a.png)") == "<p>血压计</p>"


# ----------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------
TODAY = dt.date(2026, 6, 15)
TOWN_A, TOWN_B = "370783001000", "370783002000"


def aud(**kw: object) -> Audience:
    values: dict[str, object] = dict(
        diseases=(),
        min_age=None,
        max_age=None,
        grids=(),
        town_code=TOWN_A,
        valid_from=dt.date(2026, 1, 1),
        valid_to=None,
    )
    values.update(kw)
    return Audience(**values)  # type: ignore[arg-type]


# Ages on TODAY: born 1956-06-15 → 70 (birthday today); 1956-06-16 → 69.
SEVENTY = ResidentFacts(dt.date(1956, 6, 15), ("htn",), "G01", TOWN_A)
SIXTY_NINE = ResidentFacts(dt.date(1956, 6, 16), ("t2dm",), "G02", TOWN_A)
TOWN_B_HTN = ResidentFacts(dt.date(1950, 1, 1), ("htn",), "G09", TOWN_B)


@pytest.mark.parametrize(
    ("audience", "resident", "expected"),
    [
        (aud(), SEVENTY, True),
        (aud(), TOWN_B_HTN, False),  # another township
        (aud(town_code=None), TOWN_B_HTN, True),  # county-wide
        (aud(diseases=("htn",)), SEVENTY, True),
        (aud(diseases=("htn",)), SIXTY_NINE, False),
        (aud(diseases=("htn", "t2dm")), SIXTY_NINE, True),
        (aud(min_age=70), SEVENTY, True),  # inclusive, birthday today
        (aud(min_age=70), SIXTY_NINE, False),
        (aud(max_age=69), SIXTY_NINE, True),
        (aud(max_age=69), SEVENTY, False),
        (aud(grids=("G02",)), SIXTY_NINE, True),
        (aud(grids=("G02",)), SEVENTY, False),
        (aud(valid_from=TODAY), SEVENTY, True),
        (aud(valid_from=TODAY + dt.timedelta(days=1)), SEVENTY, False),
        (aud(valid_to=TODAY), SEVENTY, True),
        (aud(valid_to=TODAY - dt.timedelta(days=1)), SEVENTY, False),
    ],
)
def test_item_matches(audience: Audience, resident: ResidentFacts, expected: bool) -> None:
    assert item_matches(audience, resident, TODAY) is expected
