"""The management report: HTML (self-contained, printable on A4), PDF (A4, for the approval file) or
Markdown, English or Japanese."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from poc_cli.cost import Price
from poc_cli.errors import PocError, RecipeError
from poc_cli.paths import why, writable_file
from poc_cli.report import pdf
from poc_cli.report.i18n import TEXT
from poc_cli.store import Scan, Store, write_atomic

FORMATS = {"html": "report.html.j2", "md": "report.md.j2", "pdf": "report.html.j2"}  # a PDF is laid out HTML
REPORTS_DIR = Path("reports")


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _markdown_escape(value: object) -> str:
    """Keep user text from breaking tables or turning into markup or raw HTML: line breaks (\\n, \\r)
    and other control characters become spaces, markup characters are backslash-escaped."""
    text = CONTROL.sub(" ", str(value).replace("\r\n", " "))
    return re.sub(r"([\\`*_\[\]|<>#])", r"\\\1", text)


def render(store: Store, *, fmt: str, lang: str, recipe: str | None = None, baseline: str | None = None,
           price: Price | None = None, scan: Scan | None = None) -> str:
    """The report as text."""
    from poc_cli.report.build import build_sections  # compare, statistics and charts: seconds to import

    sections = build_sections(store, lang=lang, recipe=recipe, baseline=baseline, price=price, scan=scan)
    env = Environment(loader=PackageLoader("poc_cli.report", "templates"), autoescape=fmt != "md",
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["md"] = _markdown_escape
    return env.get_template(FORMATS[fmt]).render(sections=sections, t=TEXT[lang], lang=lang)


def default_output(fmt: str, lang: str, recipe: str | None) -> Path:
    """reports/<recipe or poc>-report.<lang>.<format>"""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", recipe or "poc").strip("-") or "poc"
    return REPORTS_DIR / f"{stem}-report.{lang}.{fmt}"


# What each report extension holds: a file named for one format must not hold another's bytes.
EXTENSIONS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".md": "md", ".markdown": "md"}


def check_extension(path: Path, fmt: str) -> None:
    """An --output whose extension names another format is a usage error (PDF bytes in `n.html` open as
    garbage in a browser and would be mailed on as HTML)."""
    named = EXTENSIONS.get(path.suffix.lower())
    if named is not None and named != fmt:
        raise RecipeError(f"--output: {path} ends in {path.suffix} but --format is {fmt}; name the file "
                          f"*.{fmt} or pass --format {named}")


def write_report(store: Store, *, fmt: str, lang: str, output: Path | None = None, recipe: str | None = None,
                 baseline: str | None = None, price: Price | None = None, scan: Scan | None = None) -> Path:
    """Render (from `scan` when the caller has read the store) and write atomically; returns the path."""
    path = output or default_output(fmt, lang, recipe)
    check_extension(path, fmt)
    writable_file(path, "--output")  # before the work of rendering
    if fmt == "pdf":
        pdf.check(lang)  # a missing library or font: one line before the work of rendering
    content = render(store, fmt=fmt, lang=lang, recipe=recipe, baseline=baseline, price=price, scan=scan)
    try:
        write_atomic(path, pdf.to_pdf(content) if fmt == "pdf" else content.encode("utf-8"))
    except OSError as error:
        raise PocError(f"--output: {path} could not be written ({why(error)}); nothing was left behind") from None
    return path
