"""The CJK font of server-side images (Debian's fonts-noto-cjk, a hard dependency).

Chinese text drawn in it must differ from the same text drawn without it (empty boxes
or nothing), in a plain figure and in the static map renderer; and without the font the
code refuses with an error that says what to install.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from sqlalchemy import Engine

from service.reports import fonts

TEXT = "寿光市 圣城街道 村卫生室覆盖"


@pytest.fixture
def fresh_font_lookup() -> Iterator[None]:
    fonts.cjk_font_family.cache_clear()
    yield
    fonts.cjk_font_family.cache_clear()


def _text_pixels(family: str | list[str]) -> np.ndarray:
    fig = Figure(figsize=(4, 1), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.02, 0.4, TEXT, family=family, fontsize=16)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return np.asarray(Image.open(buffer).convert("L"))


def test_cjk_font_is_installed_and_found_by_family(fresh_font_lookup: None) -> None:
    family = fonts.cjk_font_family()
    assert family in fonts.CJK_FAMILIES
    from matplotlib import font_manager

    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    assert "NotoSansCJK" in path
    assert fonts.font_families()[0] == family


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_chinese_text_differs_with_and_without_the_font(fresh_font_lookup: None) -> None:
    with_font = _text_pixels(fonts.font_families())
    without = _text_pixels("DejaVu Sans")  # no CJK glyphs: boxes
    assert (with_font < 128).sum() > 200  # something is drawn
    assert (np.abs(with_font.astype(int) - without.astype(int)) > 64).sum() > 200


def test_missing_font_is_a_clear_error(
    fresh_font_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "CJK_FAMILIES", ("No Such CJK Font",))
    with pytest.raises(fonts.CjkFontMissingError, match="fonts-noto-cjk"):
        fonts.cjk_font_family()


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_static_map_draws_chinese_titles_in_the_font(
    engine: Engine, fresh_font_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.tiles import render_png, static_map

    def render() -> np.ndarray:
        png = render_png(engine, "boundaries", width=500, height=300, title=TEXT)
        return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)

    with_font = render()
    monkeypatch.setattr(static_map, "font_families", lambda: ["DejaVu Sans"])
    without = render()
    title = slice(0, 40)  # the title's band at the top of the image
    assert (np.abs(with_font[title] - without[title]) > 64).sum() > 200


def test_scale_bar_length_is_measured_on_the_ground() -> None:
    from service.tiles.static_map import add_scale_bar

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    # 40 km of Web Mercator x at latitude 60°: 20 km on the ground; a quarter is 5 km.
    y = 6378137.0 * np.log(np.tan(np.pi / 4 + np.radians(60) / 2))
    ax.set_xlim(0, 40_000)
    ax.set_ylim(y - 10_000, y + 10_000)
    assert add_scale_bar(ax) == pytest.approx(5_000)
    texts = [t.get_text() for t in ax.texts]
    assert "5 km" in texts
