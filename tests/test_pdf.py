"""`poc report --format pdf`: A4 pages with a running header and page numbers, the report's text and
vector charts, Japanese in a Japanese font; a missing library or font is one line naming what to install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poc_cli.cli import app
from poc_cli.report import fonts
from poc_cli.report.i18n import TEXT

runner = CliRunner()
A4 = (595.28, 841.89)  # points


def _weasyprint_problem() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as error:
        return f"WeasyPrint cannot run here ({type(error).__name__}): pip install -e '.[pdf]' and Pango"
    return None


needs_weasyprint = pytest.mark.skipif(_weasyprint_problem() is not None, reason=str(_weasyprint_problem()))


def _squeezed(text: str) -> str:
    """Text without any white space: PDF extraction breaks lines where the layout did."""
    return re.sub(r"\s+", "", text)


@needs_weasyprint
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_pdf_has_a4_pages_numbers_the_summary_every_score_and_its_fonts(tiny_store: Path, tmp_path: Path,
                                                                            lang: str) -> None:
    from pypdf import PdfReader

    from poc_cli.report.build import build_sections
    from poc_cli.store import Store

    if lang == "ja" and fonts.cjk_family() is None:
        pytest.skip(f"no Japanese font here: {fonts.INSTALL}")
    out = tmp_path / f"r.{lang}.pdf"
    result = runner.invoke(app, ["report", "--store", str(tiny_store), "--recipe", "tiny", "--format", "pdf",
                                 "--lang", lang, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    reader = PdfReader(out)
    pages = reader.pages
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4, abs=1)
        text = page.extract_text()
        assert f"{number} / {len(pages)}" in text  # the page number, of all
        assert "tiny" in text  # the running header names the recipe
        images = [x for x in (page.get("/Resources", {}).get("/XObject") or {}).values()
                  if x.get_object().get("/Subtype") == "/Image"]
        assert not images  # charts are vectors, not pictures
    section = build_sections(Store(tiny_store), lang=lang, recipe="tiny")[0]
    everything = _squeezed("".join(page.extract_text() for page in pages))
    for bullet in section["summary"]:  # the glyphs are there: the text comes back whole
        assert _squeezed(bullet) in everything, bullet
    for row in section["quality"]["rows"]:
        assert _squeezed(row[2]) in everything, row  # every method's score with its interval
    assert _squeezed(TEXT[lang]["h_serving"]) in everything  # what serving costs (issue 43), in its language
    for row in section["serving"]["table"]["rows"]:
        assert _squeezed(row[2]) in everything, row  # each method's measured latency, merged / unmerged
    used = {str(f.get_object().get("/BaseFont")) for page in pages
            for f in (page.get("/Resources", {}).get("/Font") or {}).values()}
    if lang == "ja":
        assert any("CJK" in name or "IPA" in name for name in used), used  # embedded: the PDF needs no font


def test_without_weasyprints_libraries_the_pdf_is_one_line_naming_them(tiny_store: Path, tmp_path: Path) -> None:
    """As on a machine without Pango: importing WeasyPrint raises OSError (a stand-in package that does)."""
    site = tmp_path / "site" / "weasyprint"
    site.mkdir(parents=True)
    site.joinpath("__init__.py").write_text(
        "raise OSError(\"cannot load library 'libpango-1.0-0': error 0x7e\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "r.pdf"
    result = subprocess.run([sys.executable, "-m", "poc_cli", "report", "--store", str(tiny_store), "--format", "pdf",
                             "--output", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: --format pdf: WeasyPrint cannot load Pango (cannot load library 'libpango-1.0-0': error 0x7e); "
        "install it: apt-get install libpango-1.0-0 libpangoft2-1.0-0 (Debian, Ubuntu), dnf install pango "
        "(Fedora), brew install pango (macOS)"]
    assert not out.exists()


@needs_weasyprint
def test_a_japanese_pdf_without_a_japanese_font_says_what_to_install(tiny_store: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "cjk_family", lambda: None)  # as on a machine without one
    monkeypatch.setattr("poc_cli.report.pdf.cjk_family", lambda: None)
    out = tmp_path / "r.pdf"
    result = runner.invoke(app, ["report", "--store", str(tiny_store), "--format", "pdf", "--lang", "ja",
                                 "--output", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.strip().splitlines() == [
        f"error: --format pdf --lang ja: no Japanese font on this machine, and a PDF embeds its fonts; {fonts.INSTALL}"]


@pytest.mark.parametrize("font", ["found", "missing"])
def test_japanese_charts_print_no_glyph_warnings_with_or_without_a_japanese_font(
        tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, font: str) -> None:
    if font == "found" and fonts.cjk_family() is None:
        pytest.skip(f"no Japanese font here: {fonts.INSTALL}")
    if font == "missing":
        monkeypatch.setattr(fonts, "cjk_family", lambda: None)
        monkeypatch.setattr("poc_cli.report.charts.cjk_family", lambda: None)
    out = tmp_path / "r.html"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, ["report", "--store", str(tiny_store), "--recipe", "tiny", "--lang", "ja",
                                     "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if "Glyph" in str(w.message)]  # none reached the terminal
    assert "正解率" in out.read_text(encoding="utf-8").split("<svg", 1)[1]  # the charts keep their text as text
    notes = [line for line in result.stderr.splitlines() if line.strip()]
    assert notes == ([] if font == "found" else [f"note: no Japanese font here for the charts: {fonts.INSTALL}; "
                                                 "their text stays text, which a browser draws in its own fonts"])
