"""The report as a PDF for the approval file: WeasyPrint laying out the same HTML with CSS paged media.

WeasyPrint is chosen over printing from a headless browser: it is a Python library (no browser to
install or drive), it implements CSS paged media (margin boxes for a running header and page
numbers, `counter(pages)`), it draws inline SVG as vectors, and it embeds the fonts it uses (subset).
It needs the Pango library from the system; where it or a Japanese font is missing, one line says
what to install.
"""

from __future__ import annotations

from poc_cli.errors import RecipeError, first_line
from poc_cli.report.fonts import INSTALL, cjk_family

PDF_EXTRA = "pip install 'poc-cli[pdf]'"
PANGO = "apt-get install libpango-1.0-0 libpangoft2-1.0-0 (Debian, Ubuntu), dnf install pango (Fedora), " \
        "brew install pango (macOS)"
# A4 with a running header (the section's title and the date it was made) and page numbers; the
# screen-only padding and width of the HTML are dropped, and charts sit two to a row as inline
# blocks (WeasyPrint sizes inline SVG in grid cells poorly). WeasyPrint takes these as user styles,
# which the document's own override unless marked !important.
PAGED = """
@page {
  size: A4 !important; margin: 20mm 14mm 16mm !important;
  font-family: "Noto Sans CJK JP", "IPAexGothic", "Hiragino Sans", "Yu Gothic", "DejaVu Sans", sans-serif;
  font-size: 8pt; color: #555;
  @top-left { content: string(recipe); }
  @top-right { content: string(generated); }
  @bottom-center { content: counter(page) " / " counter(pages); }
}
body { max-width: none !important; padding: 0 !important; }
h1 { string-set: recipe content(); }
.generated { string-set: generated attr(data-date); }
.charts { display: block !important; }
figure { display: inline-block !important; width: 49% !important; vertical-align: top; }
figure.wide { width: 100% !important; }
"""


def _weasyprint():  # noqa: ANN202 - the module, imported only for PDF (it loads Pango)
    try:
        import weasyprint
    except ImportError:
        raise RecipeError(f"--format pdf: WeasyPrint is not installed: {PDF_EXTRA}") from None
    except OSError as error:  # its system libraries: Pango, HarfBuzz, fontconfig
        raise RecipeError(f"--format pdf: WeasyPrint cannot load Pango ({first_line(error)[:160]}); "
                          f"install it: {PANGO}") from None
    return weasyprint


def check(lang: str) -> None:
    """Before any rendering: what a PDF in `lang` needs is here (RecipeError: what to install)."""
    _weasyprint()
    if lang == "ja" and cjk_family() is None:
        raise RecipeError(f"--format pdf --lang ja: no Japanese font on this machine, and a PDF embeds its "
                          f"fonts; {INSTALL}")


def to_pdf(html: str) -> bytes:
    """The report's HTML laid out on A4 pages, with a running header and page numbers."""
    weasyprint = _weasyprint()
    return weasyprint.HTML(string=html).write_pdf(stylesheets=[weasyprint.CSS(string=PAGED)])
