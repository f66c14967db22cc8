"""A Japanese font for the charts and the PDF, found on this machine.

matplotlib measures and draws chart text with the fonts it knows, and its font cache is written
once: a font installed afterwards (`apt-get install fonts-noto-cjk`) stays unknown to it, and every
Japanese label then prints a "Glyph ... missing" warning. So the search goes past the cache to the
system's font folders. Where no Japanese font exists at all, the report still renders (the charts
keep their text as text, which a browser draws in its own fonts) and the CLI says, in one line,
what to install; a PDF, which embeds its fonts, cannot be made in Japanese without one.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from matplotlib import font_manager

# In order of preference: what Linux distributions, macOS and Windows ship for Japanese.
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "Source Han Sans JP", "IPAexGothic", "IPAGothic",
                "TakaoGothic", "VL Gothic", "Hiragino Sans", "Yu Gothic", "Meiryo")
CJK_FILES = re.compile(r"(NotoSansCJK|NotoSansJP|SourceHanSans|ipaexg|ipag|Takao|VL-Gothic|Hiragino|YuGoth|meiryo)",
                       re.IGNORECASE)
INSTALL = ("install a Japanese font: apt-get install fonts-noto-cjk (Debian, Ubuntu), "
           "dnf install google-noto-sans-cjk-jp-fonts (Fedora), or IPAexGothic from https://moji.or.jp/ipafont/")

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _known(families: set[str]) -> str | None:
    return next((f for f in CJK_FAMILIES if f in families), None)


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """The first installed Japanese font family (added to matplotlib's fonts if its cache predates
    it), or None."""
    found = _known({f.name for f in font_manager.fontManager.ttflist})
    if found is not None:
        return found
    for path in font_manager.findSystemFonts():
        if CJK_FILES.search(path):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a damaged or unreadable font file: skip it
                continue
    return _known({f.name for f in font_manager.fontManager.ttflist})
