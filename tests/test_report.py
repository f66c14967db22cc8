"""`poc report`: self-contained HTML and Markdown, in English and Japanese, from real stores."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import XSS_NAME
from poc_cli.business import business_outcome
from poc_cli.compare import MethodRow
from poc_cli.cost import Price
from poc_cli.recipe import BusinessSpec
from poc_cli.report.conclusion import decide
from poc_cli.report.i18n import TEXT
from poc_cli.stats import PairedDifference, Summary

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Collector(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def write(store: Path, tmp_path: Path, fmt: str, lang: str, *extra: str) -> str:
    out = tmp_path / f"report.{lang}.{fmt}"
    result = runner.invoke(app_(), ["report", "--store", str(store), "--format", fmt, "--lang", lang,
                                    "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def app_():  # noqa: ANN201 - the Typer app, imported late so fixtures build first
    from poc_cli.cli import app

    return app


def stored(store: Path) -> dict[tuple[str, int], dict]:
    return {(r["method"], r["seed"]): r for r in (json.loads(p.read_text()) for p in store.glob("tiny/*.json"))}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_html_is_self_contained_and_shows_the_store_numbers(tiny_store: Path, tmp_path: Path, lang: str) -> None:
    html = write(tiny_store, tmp_path, "html", lang, "--recipe", "tiny")
    parser = Collector()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    for _, attrs in parser.tags:
        for name in ("src", "href"):
            assert name not in attrs, attrs
    assert "url(" not in html and "@import" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert tags.count("svg") >= 4  # three scatter plots and the loss curves
    text = " ".join(parser.text)
    runs = stored(tiny_store)
    for method in ("lora", "randlora", "full"):
        accuracies = [runs[(method, s)]["metrics"]["test"]["accuracy"] for s in (0, 1)]
        assert f"{100 * sum(accuracies) / 2:.1f}" in text, method
        assert f"{runs[(method, 0)]['parameters']['trainable_counted']:,}" in text
    heading = [TEXT[lang][key] for key in ("h_conclusion", "h_table", "h_cost", "h_business", "h_talking",
                                           "h_risk", "h_method")]
    assert heading[0] == {"en": "Conclusion", "ja": "結論"}[lang]
    positions = [html.index(f"<h2>{h}</h2>") for h in heading]
    assert positions == sorted(positions)  # conclusion first
    assert "EUR" in text


def test_user_text_is_escaped(tiny_store: Path, tmp_path: Path) -> None:
    html = write(tiny_store, tmp_path, "html", "en")
    assert XSS_NAME not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = write(tiny_store, tmp_path, "md", "en")
    assert XSS_NAME not in markdown and r"\<script\>alert(1)\</script\>" in markdown


def test_markdown_in_japanese(tiny_store: Path, tmp_path: Path) -> None:
    markdown = write(tiny_store, tmp_path, "md", "ja")
    assert "# ファインチューニング手法 PoC 報告書：tiny" in markdown
    assert "NVIDIA GPU がありません" in markdown  # the measurement's reason, in Japanese
    assert "## 結論" in markdown and "| 手法 |" in markdown and "時間切れ" in markdown


def test_default_output_and_bad_options(tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app_(), ["report", "--store", str(tiny_store), "--recipe", "tiny"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "tiny-report.en.html").is_file()
    assert runner.invoke(app_(), ["report", "--store", str(tiny_store), "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app_(), ["report", "--store", str(tiny_store), "--lang", "fr"]).exit_code == 2
    missing = runner.invoke(app_(), ["report", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "store not found" in missing.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_renders_in_headless_chromium(tiny_store: Path, tmp_path: Path, lang: str) -> None:
    write(tiny_store, tmp_path, "html", lang)
    png = tmp_path / f"report.{lang}.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--window-size=1240,3400", f"--screenshot={png}", (tmp_path / f"report.{lang}.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 20_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    keep = Path(__file__).resolve().parents[1] / "reports"
    if keep.is_dir():  # keep the screenshots where a person can look at them
        shutil.copy(png, keep / png.name)


# --- rules and business, by hand ------------------------------------------------------------------


def row(method: str, kind: str, acc: float, diff: PairedDifference | None = None, memory: float = 100.0) -> MethodRow:
    return MethodRow(recipe="r", method=method, method_kind=kind, settings={}, lr=1e-3, selection={},
                     trainable_parameters=10,
                     percent_of_full=1.0, metric="accuracy", higher_is_better=True, score=Summary(acc, 0.01, 3),
                     scores={"accuracy": Summary(acc, 0.01, 3), "macro_f1": Summary(acc, 0.01, 3)},
                     units={"accuracy": "fraction", "macro_f1": "fraction"},
                     baseline="lora", difference=diff, peak_memory_mib=memory, memory_label="GPU peak (NVML)",
                     train_s=Summary(10.0, 1.0, 3), examples_per_s=5.0, energy_j=None, cost_per_run=0.1,
                     price=Price(1.0, "USD", "test"), adapter_bytes=1000, statuses={"ok": 3})


def diff(mean: float, low: float, high: float) -> PairedDifference:
    return PairedDifference(mean, low, high, 3, "paired t over seeds")


def test_rules() -> None:
    lora = row("lora", "lora", 0.80)
    better = row("randlora", "randlora", 0.84, diff(0.04, 0.01, 0.07))
    same = row("randlora", "randlora", 0.81, diff(0.01, -0.02, 0.04))
    worse = row("randlora", "randlora", 0.75, diff(-0.05, -0.08, -0.02))
    full = row("full", "full", 0.90, memory=5000.0)
    assert decide([lora, better], full_vs_best=None, best_peft=None, memory_limit_mib=None).rule == "randlora"
    assert decide([lora, same], full_vs_best=None, best_peft=None, memory_limit_mib=None).rule == "inconclusive"
    assert decide([lora, worse], full_vs_best=None, best_peft=None, memory_limit_mib=None).rule == "lora"
    sig = diff(0.06, 0.03, 0.09)
    assert decide([lora, better, full], full_vs_best=sig, best_peft="randlora", memory_limit_mib=None).rule == "full"
    # Full fine-tuning does not fit the memory: the PEFT rules decide.
    assert decide([lora, better, full], full_vs_best=sig, best_peft="randlora", memory_limit_mib=4000).rule == "randlora"
    assert decide([lora], full_vs_best=None, best_peft=None, memory_limit_mib=None).rule == "insufficient"


def test_business_by_hand() -> None:
    spec = BusinessSpec(positive_class="defect", cost_missed=100, cost_false_alarm=10, monthly_items=1000,
                        minutes_per_item=6, hourly_rate=30)
    # 10 defects: 8 found, 2 missed; 90 fine: 9 false alarms.
    y_true = [1] * 10 + [0] * 90
    y_pred = [1] * 8 + [0] * 2 + [1] * 9 + [0] * 81
    out = business_outcome(spec, y_true=y_true, y_pred=y_pred, labels=["fine", "defect"], training_cost=500)
    assert out.detection_rate == pytest.approx(0.8) and out.false_alarm_rate == pytest.approx(0.1)
    assert out.precision == pytest.approx(8 / 17) and out.prevalence == pytest.approx(0.1)
    assert out.monthly_missed == pytest.approx(20) and out.monthly_false_alarms == pytest.approx(90)
    assert out.monthly_error_cost == pytest.approx(20 * 100 + 90 * 10)
    assert out.monthly_hours_saved == pytest.approx((1000 - 80 - 90) * 6 / 60)
    assert out.monthly_value == pytest.approx(83 * 30 - 2900)
    assert out.payback_months is None  # the errors cost more than the hours save


def test_no_recommendation_while_a_searched_setting_did_not_hold_up() -> None:
    lora, rand = row("lora", "lora", 0.80), row("randlora", "randlora", 0.90, diff=diff(0.1, 0.05, 0.15))
    assert decide([lora, rand], full_vs_best=None, best_peft="randlora", memory_limit_mib=None).rule == "randlora"
    verdict = decide([lora, rand], full_vs_best=None, best_peft="randlora", memory_limit_mib=None,
                     not_held=frozenset({"lora"}))
    assert verdict.rule == "unreliable" and verdict.recommended is None
