"""Health-education items: safe Markdown and who an item is for (docs/health-education.md).

Markdown is rendered on the server, never in a browser, by markdown-it-py with raw HTML
off, and the result is cleaned once more by ``nh3`` (an allow-list HTML sanitiser):

* raw HTML (``<script>``, ``<img onerror=…>``) is escaped as text by the parser, and any
  tag or attribute that still got through would be dropped by the sanitiser;
* links may only point inside the service: a path (``/r/``), a relative path or an anchor
  (``#top``). A URL with a scheme (``https:``, ``javascript:``, ``mailto:``…) or a
  protocol-relative one (``//host/…``) is refused when the item is saved
  (:func:`markdown_problems`), and rendered as plain text should one ever reach the
  renderer;
* images are refused when saved (a resident's terminal must never fetch anything from the
  internet, and the service has no image store); at render time an image becomes its alt
  text.

Matching (:func:`item_matches`) is plain logic over a resident's facts, so it is tested
here without a store.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from geo.rules import age_on_scalar

#: Tags the rendered HTML may hold (CommonMark's output plus tables and strikethrough).
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
        "code", "pre", "blockquote", "ul", "ol", "li", "a",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
#: Attributes per tag: a link's target and title, a list's start number; nothing else.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href", "title"}, "ol": {"start"}}

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")


def _parser() -> MarkdownIt:
    # "commonmark" with html=False: raw HTML blocks and inline tags become text.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # markdown-it's own check drops javascript:/vbscript:/file:/data: links before ours
    # sees them; accept every URL here so that :func:`markdown_problems` can name it.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


_MD = _parser()


def link_allowed(url: str) -> bool:
    """Whether a link may stay a link: a path or anchor inside the service.

    >>> [link_allowed(u) for u in ("/r/", "tips.html", "#top", "https://x.cn", "//x.cn")]
    [True, True, True, False, False]
    >>> link_allowed("javascript:alert(1)"), link_allowed(" JaVaScRiPt:x")
    (False, False)
    """
    u = "".join(ch for ch in url if not ch.isspace() and ch.isprintable())
    if not u:
        return False
    if u.startswith("//") or u.startswith("\\") or u.startswith("/\\"):
        return False  # protocol-relative: another host
    return _SCHEME.match(u) is None


def _walk(tokens: Sequence[Token]) -> list[Token]:
    out: list[Token] = []
    for tok in tokens:
        out.append(tok)
        if tok.children:
            out.extend(_walk(tok.children))
    return out


def markdown_problems(markdown: str) -> list[str]:
    """What in ``markdown`` is refused at save time, one sentence per offending URL.

    Images (every one: nothing is fetched, no image store) and links leaving the service
    (any URL with a scheme, or ``//host``). Empty when the text may be saved.

    >>> markdown_problems("[ok](/r/) ![x](https://e.cn/a.png) [no](https://e.cn)")
    ['image not allowed: https://e.cn/a.png (images are not supported; describe it in words)', \
'external link not allowed: https://e.cn (link only to pages of this service, e.g. /r/)']
    """
    problems: list[str] = []
    for tok in _walk(_MD.parse(markdown)):
        if tok.type == "image":
            src = str(tok.attrGet("src") or "")
            problems.append(
                f"image not allowed: {src} (images are not supported; describe it in words)"
            )
        elif tok.type == "link_open":
            href = str(tok.attrGet("href") or "")
            if not link_allowed(href):
                problems.append(
                    f"external link not allowed: {href} "
                    "(link only to pages of this service, e.g. /r/)"
                )
    return problems


def _defuse(tokens: list[Token]) -> None:
    """Links leaving the service become their text; images their alt text (in place)."""
    for tok in tokens:
        if tok.children:
            kept: list[Token] = []
            dropping = 0
            for child in tok.children:
                if child.type == "link_open" and not link_allowed(str(child.attrGet("href"))):
                    dropping += 1
                    continue
                if child.type == "link_close" and dropping:
                    dropping -= 1
                    continue
                if child.type == "image":
                    text = Token("text", "", 0)
                    text.content = child.content
                    kept.append(text)
                    continue
                kept.append(child)
            tok.children = kept


def render_markdown(markdown: str) -> str:
    """Safe HTML of an item's Markdown body (no raw HTML, no external link, no image).

    >>> render_markdown("**多喝水** <script>alert(1)</script>")
    '<p><strong>多喝水</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>'
    """
    tokens = _MD.parse(markdown)
    _defuse(tokens)
    html = _MD.renderer.render(tokens, _MD.options, {})
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(),  # absolute URLs of any scheme lose their href
        link_rel=None,
        strip_comments=True,
    ).strip()


# ----------------------------------------------------------------------------------------
# Who an item is for
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Audience:
    """Whom a published item targets.

    Attributes
    ----------
    diseases : collection of str
        Disease codes; empty: every resident, managed or not.
    min_age, max_age : int or None
        Inclusive bounds of the age in completed years on the day; None: open.
    grids : collection of str
        Grid ids; empty: every grid of ``town_code`` (or of the county when that is None).
    town_code : str or None
        The township the item belongs to (its author's); None: county-wide.
    valid_from, valid_to : date, date or None
        The days it is shown, both inclusive; ``valid_to`` None: until withdrawn.
    """

    diseases: Collection[str]
    min_age: int | None
    max_age: int | None
    grids: Collection[str]
    town_code: str | None
    valid_from: dt.date
    valid_to: dt.date | None


@dataclass(frozen=True)
class ResidentFacts:
    """What matching needs of a resident: birth date, open registry diseases, grid, town."""

    birth_date: dt.date
    diseases: Collection[str]
    grid_id: str | None
    town_code: str | None


def item_matches(audience: Audience, resident: ResidentFacts, today: dt.date) -> bool:
    """Whether a published item is shown to ``resident`` on ``today``.

    All of: valid today; the resident manages one of the item's diseases (if it names
    any); the resident's age is within the band; the resident's grid is one of the item's
    grids, or, for an item naming none, the resident lives in the item's township (any
    township for a county-wide item).

    >>> a = Audience(("htn",), 60, None, (), "370783001000", dt.date(2026, 1, 1), None)
    >>> r = ResidentFacts(dt.date(1950, 5, 6), ("htn",), "G01", "370783001000")
    >>> item_matches(a, r, dt.date(2026, 6, 1))
    True
    >>> item_matches(a, ResidentFacts(dt.date(1980, 1, 1), ("htn",), "G01", "370783001000"),
    ...              dt.date(2026, 6, 1))
    False
    """
    if today < audience.valid_from or (audience.valid_to is not None and today > audience.valid_to):
        return False
    if audience.diseases and not set(audience.diseases) & set(resident.diseases):
        return False
    age = age_on_scalar(resident.birth_date, today)
    if audience.min_age is not None and age < audience.min_age:
        return False
    if audience.max_age is not None and age > audience.max_age:
        return False
    if audience.grids:
        return resident.grid_id is not None and resident.grid_id in set(audience.grids)
    return audience.town_code is None or resident.town_code == audience.town_code
