"""The CJK font every server-side image and PDF draws its text with.

Debian's ``fonts-noto-cjk`` (installed by ``.ci/run``; README) is found through
matplotlib's font manager by family name, "Noto Sans CJK SC" first (simplified Chinese
glyph forms), then the other faces of the same file. matplotlib keeps a font cache that
may predate the font's installation, so a miss rescans the system font folders once
before giving up with an error that says what to install: without the font every
Chinese character would be drawn as an empty box, silently.
"""

from __future__ import annotations

import functools

from geo.errors import UnavailableError

#: Families tried in order; the first one matplotlib knows is used.
CJK_FAMILIES: tuple[str, ...] = ("Noto Sans CJK SC", "Noto Sans CJK JP")
#: What to do when none is found.
INSTALL_HINT = "install Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk)"


class CjkFontMissingError(UnavailableError):
    """No CJK font is installed: Chinese text cannot be drawn."""


def _find(family: str) -> str | None:
    from matplotlib import font_manager

    try:
        return str(
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        )
    except ValueError:
        return None


@functools.cache
def cjk_font_family() -> str:
    """The family name of the installed CJK font, for matplotlib's ``fontfamily``.

    Returns
    -------
    str
        One of :data:`CJK_FAMILIES`.

    Raises
    ------
    CjkFontMissingError
        When none of them is installed.
    """
    for family in CJK_FAMILIES:
        if _find(family):
            return family
    # The font may have been installed after matplotlib built its cache: add the system's
    # CJK font files to the running font manager (public API) and look again.
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        if "CJK" in path:
            font_manager.fontManager.addfont(path)
    for family in CJK_FAMILIES:
        if _find(family):
            return family
    raise CjkFontMissingError(
        f"no CJK font ({' or '.join(CJK_FAMILIES)}) for Chinese text: {INSTALL_HINT}"
    )


def font_families() -> list[str]:
    """matplotlib ``font.family`` list: the CJK font, then DejaVu Sans for other glyphs."""
    return [cjk_font_family(), "DejaVu Sans"]
