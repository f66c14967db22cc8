"""`poc report`: self-contained HTML and Markdown, in English and Japanese, from real stores."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import XSS_NAME, row_name
from poc_cli.business import business_outcome
from poc_cli.compare import Chosen, MethodRow
from poc_cli.cost import Price
from poc_cli.learning import LearningCheck
from poc_cli.numbers import money, payback
from poc_cli.business_spec import BusinessSpec
from poc_cli.report.conclusion import Conclusion, decide
from poc_cli.report.i18n import TEXT
from poc_cli.stats import PairedDifference, Summary, paired_t, wilson

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
    # Nothing fetched: only references to fragments of the document itself (a chart's clip paths).
    assert not re.search(r"url\((?!#)", html) and "@import" not in html
    assert not re.search(r'(?:src|href)="(?!#)', html)
    assert "http://" not in re.sub(r'xmlns(:xlink)?="http://www\.w3\.org/[0-9]+/(svg|xlink)"', "", html)
    assert tags.count("svg") >= 4  # scores, against parameters and cost, the loss curves
    text = " ".join(parser.text)
    runs = stored(tiny_store)
    for method in ("lora", "randlora", "full"):
        accuracies = [runs[(method, s)]["metrics"]["test"]["accuracy"] for s in (0, 1)]
        assert f"{100 * sum(accuracies) / 2:.1f}" in text, method
        assert f"{runs[(method, 0)]['parameters']['trainable_counted']:,}" in text
        assert runs[(method, 0)]["job_id"] in text  # traceable to its record
    assert runs[("lora", 0)]["model"]["sha256"] in text  # the full hash, not a prefix
    trained = runs[("full", 0)]["runtime"]["parameter_dtypes"]["trainable"]  # what the record says ran
    assert list(trained) == ["float32"]
    assert {"en": "Full fine-tuning frozen none, trained float32", "ja": "フルファインチューニングは固定 なし・学習 float32"}[lang] in text
    assert {"en": "LoRA frozen float32, trained float32", "ja": "LoRAは固定 float32・学習 float32"}[lang] in text
    heading = [TEXT[lang][key] for key in ("h_summary", "h_conclusion", "h_quality", "h_resources", "h_memory",
                                           "h_cost", "h_business", "h_charts", "h_risk", "h_method")]
    assert heading[0] == {"en": "Summary", "ja": "要旨"}[lang]
    positions = [html.index(f"<h2>{h}</h2>") for h in heading]
    assert positions == sorted(positions)  # the summary and the conclusion first
    assert ("EUR" if lang == "en" else "ユーロ") in text
    summary = html[html.index('<ul class="summary"'):html.index("</ul>")]
    assert summary.count("<li>") == 3
    if lang == "ja":
        assert "lora" not in text.replace("LoRA", "").replace("RandLoRA", "")  # display names, not ids
        assert "フルファインチューニング" in text and "本番学習" not in text and "精度" not in text


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
    assert runner.invoke(app_(), ["report", "--store", str(tiny_store), "--format", "docx"]).exit_code == 2
    assert runner.invoke(app_(), ["report", "--store", str(tiny_store), "--lang", "fr"]).exit_code == 2
    missing = runner.invoke(app_(), ["report", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "store not found" in missing.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("which", ["tiny", "collapsed"])
def test_renders_in_headless_chromium(request: pytest.FixtureRequest, tmp_path: Path, lang: str, which: str) -> None:
    store = request.getfixturevalue("tiny_store" if which == "tiny" else "collapsed_store")
    write(store, tmp_path, "html", lang)
    png = tmp_path / f"report.{which}.{lang}.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--window-size=1240,6400", f"--screenshot={png}", (tmp_path / f"report.{lang}.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 20_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    keep = Path(__file__).resolve().parents[1] / "reports"
    if keep.is_dir():  # keep the screenshots where a person can look at them
        shutil.copy(png, keep / png.name)


# --- rules and business, by hand ------------------------------------------------------------------


def row(method: str, kind: str, acc: float, diff: PairedDifference | None = None, memory: float = 100.0,
        learned: bool | None = True) -> MethodRow:
    check = LearningCheck(learned, None if learned else "one_answer", 1.0 if learned is False else 0.5, "majority-class",
                          None)
    return MethodRow(recipe="r", method=method, method_kind=kind, settings={}, lr=1e-3, selection=Chosen(None),
                     trainable_parameters=10, adapter_parameters=8, head_parameters=2, total_parameters=1000,
                     percent_of_full=1.0, metric="accuracy", higher_is_better=True, score=Summary(acc, 0.01, 3),
                     interval=(acc - 0.02, acc + 0.02),
                     scores={"accuracy": Summary(acc, 0.01, 3), "macro_f1": Summary(acc, 0.01, 3)},
                     units={"accuracy": "fraction", "macro_f1": "fraction"},
                     baseline="lora", difference=diff, learning=check, n_test=100, peak_memory_mib=memory,
                     memory_label="GPU peak (NVML)", gpu_need_mib=memory, train_s=Summary(10.0, 1.0, 3),
                     steady_s=None, warmup_s=None,
                     examples_per_s=5.0, loaded=False, other_cores=0.0, energy_j=None, cost_per_run=0.1,
                     price=Price(1.0, "USD", "test"), adapter_bytes=1000, statuses={"ok": 3}, job_ids={0: "x"})


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
    # A method that did not learn is never recommended, and a comparison with it is never merely inconclusive.
    collapsed = row("randlora", "randlora", 0.50, diff(-0.30, -0.35, -0.25), learned=False)
    verdict = decide([lora, collapsed], full_vs_best=None, best_peft="lora", memory_limit_mib=None)
    assert verdict.rule == "did_not_learn" and verdict.recommended is None and verdict.not_learned == ("randlora",)
    both = decide([row("lora", "lora", 0.5, learned=False), row("randlora", "randlora", 0.5, diff(0, 0, 0),
                                                                 learned=False)],
                  full_vs_best=None, best_peft="lora", memory_limit_mib=None)
    assert both.rule == "did_not_learn" and set(both.not_learned) == {"lora", "randlora"}
    # Full fine-tuning that did not learn is left out; the PEFT rules decide.
    stuck = row("full", "full", 0.95, learned=False)
    verdict = decide([lora, better, stuck], full_vs_best=sig, best_peft="randlora", memory_limit_mib=None)
    assert verdict.rule == "randlora" and verdict.not_learned == ("full",)


def test_rules_among_many_methods_by_hand() -> None:
    """Among N methods (differences already Holm-adjusted by compare): the best of those significantly better
    than the baseline is recommended; none better leaves the baseline; one that did not learn never wins."""
    lora = row("lora", "lora", 0.80)
    same_rand = row("randlora", "randlora", 0.81, diff(0.01, -0.02, 0.04))
    dora = row("dora", "dora", 0.84, diff(0.04, 0.01, 0.07))
    vera = row("vera", "vera", 0.86, diff(0.06, 0.02, 0.10))
    loha_ns = row("loha", "peft", 0.88, diff(0.08, -0.01, 0.17))  # best mean, but not significant after Holm
    rslora_ns = row("rslora", "rslora", 0.79, diff(-0.01, -0.04, 0.02))

    def verdict(*rows: MethodRow) -> Conclusion:
        return decide([lora, same_rand, *rows], full_vs_best=None, best_peft=None, memory_limit_mib=None)

    one = verdict(dora, rslora_ns)  # one method better than LoRA
    assert (one.rule, one.recommended, one.baseline) == ("better", "dora", "lora")
    two = verdict(dora, vera, loha_ns)  # two better: the better one, not the best mean that is not significant
    assert (two.rule, two.recommended) == ("better", "vera")
    none = verdict(rslora_ns, loha_ns)  # none better: LoRA stays
    assert (none.rule, none.recommended) == ("inconclusive", "lora")
    failed = row("vera", "vera", 0.86, diff(0.06, 0.02, 0.10), learned=False)  # better, but did not learn
    left_out = verdict(failed, rslora_ns)
    assert (left_out.rule, left_out.recommended, left_out.not_learned) == ("inconclusive", "lora", ("vera",))
    assert verdict(failed, dora).recommended == "dora"
    # RandLoRA significantly better than LoRA and the best of the better ones: the headline rule
    assert verdict(row("randlora", "randlora", 0.90, diff(0.10, 0.05, 0.15)), dora).rule == "randlora"


def test_business_by_hand() -> None:
    spec = BusinessSpec(positive_class="defect", cost_missed=100, cost_false_alarm=10, monthly_items=1000,
                        minutes_per_item=6, hourly_rate=30)
    # 10 defects: 8 found, 2 missed; 90 fine: 9 false alarms.
    y_true = [1] * 10 + [0] * 90
    y_pred = [1] * 8 + [0] * 2 + [1] * 9 + [0] * 81
    out = business_outcome(spec, y_true=y_true, y_pred=y_pred, labels=["fine", "defect"], investment=500)
    assert out.detection_rate == pytest.approx(0.8) and out.false_alarm_rate == pytest.approx(0.1)
    assert out.precision == pytest.approx(8 / 17) and out.prevalence == pytest.approx(0.1)
    month = out.month
    assert month.missed == pytest.approx(20) and month.false_alarms == pytest.approx(90)
    assert month.error_cost == pytest.approx(20 * 100 + 90 * 10)
    assert month.hours_saved == pytest.approx((1000 - 80 - 90) * 6 / 60)
    assert month.work_value == pytest.approx(83 * 30) and month.missed_cost == pytest.approx(2000)
    assert month.alarm_cost == pytest.approx(900)
    assert out.monthly_value == pytest.approx(83 * 30 - 2900)
    assert out.payback_months is None  # the errors cost more than the hours save
    # the ranges follow from the Wilson intervals: 8 of 10 detected, 9 of 90 false alarms
    assert out.detection_interval == pytest.approx(wilson(0.8, 10)) and out.false_alarm_interval == pytest.approx(
        wilson(0.1, 90))
    assert out.value_range[0] < out.monthly_value < out.value_range[1]
    assert not out.reliable and out.positives == 10 and out.positives_for_reliable == 385


@pytest.mark.parametrize(("positives", "reliable", "needed"), [(4, False, 384), (30, True, None), (300, True, None)])
def test_business_with_few_and_many_positives(positives: int, reliable: bool, needed: int | None) -> None:
    """Half of the positives found, 5% false alarms on 1,000 negatives: below 30 positives the figures
    cannot be relied on, and the outcome says how many a +-5-point detection interval needs."""
    spec = BusinessSpec(positive_class="defect", cost_missed=100, cost_false_alarm=10, monthly_items=10_000,
                        minutes_per_item=6, hourly_rate=30)
    found = positives // 2
    y_true = [1] * positives + [0] * 1000
    y_pred = [1] * found + [0] * (positives - found) + [1] * 50 + [0] * 950
    out = business_outcome(spec, y_true=y_true, y_pred=y_pred, labels=["fine", "defect"], investment=10_000)
    assert out.reliable is reliable and out.positives_for_reliable == (385 if needed and found else needed)
    low, high = out.detection_interval
    assert (low, high) == pytest.approx(wilson(found / positives, positives))
    assert high - low > 0.3 if positives == 4 else high - low < (0.4 if positives == 30 else 0.12)
    shortest, longest = out.payback_range
    assert out.value_range[0] <= out.monthly_value <= out.value_range[1]
    if out.payback_months is not None and longest is not None:
        assert shortest <= out.payback_months <= longest


def test_a_method_that_detects_nothing_is_flagged_whatever_its_value() -> None:
    """The 150-intent case: 4 positives, none detected, yet a positive value from automated work alone."""
    spec = BusinessSpec(positive_class="defect", cost_missed=1000, cost_false_alarm=100, monthly_items=10_000,
                        minutes_per_item=2, hourly_rate=2600)
    out = business_outcome(spec, y_true=[1] * 4 + [0] * 996, y_pred=[0] * 1000, labels=["fine", "defect"],
                           investment=100)
    assert out.detects_nothing and out.monthly_value > 0 and out.month.missed_cost > 0
    assert out.month.work_value == pytest.approx(out.monthly_value + out.month.error_cost)


@pytest.mark.parametrize(("months", "en", "ja"), [
    (None, "never", "回収できない"), (0.001, "under a day", "1日未満"), (0.5, "15 days", "15日"),
    (3.21, "3.2 months", "3.2か月"), (200.0, "over 10 years", "10年超"),
])
def test_payback_reads_as_people_say_it(months: float | None, en: str, ja: str) -> None:
    assert payback(months, "en") == en and payback(months, "ja") == ja


def test_no_recommendation_while_a_searched_setting_did_not_hold_up() -> None:
    lora, rand = row("lora", "lora", 0.80), row("randlora", "randlora", 0.90, diff=diff(0.1, 0.05, 0.15))
    assert decide([lora, rand], full_vs_best=None, best_peft="randlora", memory_limit_mib=None).rule == "randlora"
    verdict = decide([lora, rand], full_vs_best=None, best_peft="randlora", memory_limit_mib=None,
                     not_held=frozenset({"lora"}))
    assert verdict.rule == "unreliable" and verdict.recommended is None


# --- honesty: the trivial reference, "did not learn", charts, money -------------------------------


def test_a_collapsed_method_is_flagged_first_and_never_recommended(collapsed_store: Path, tmp_path: Path) -> None:
    from poc_cli.compare import compare
    from poc_cli.store import Store

    rows = {r.method: r for r in compare(Store(collapsed_store))}
    runs = {r["method"]: r for r in (json.loads(p.read_text()) for p in collapsed_store.glob("collapsed/*.json"))}
    y_true = runs["lora"]["predictions"]["test"]["y_true"]
    majority = max(y_true.count(c) for c in set(y_true)) / len(y_true)
    assert rows["majority-class"].score.mean == pytest.approx(majority)  # the reference row, from the labels
    assert set(runs["lora"]["predictions"]["test"]["y_pred"]) == {runs["lora"]["predictions"]["test"]["y_pred"][0]}
    lora, rand = rows["lora"], rows["randlora"]
    assert lora.learning.learned is False and lora.learning.reason == "one_answer" and lora.learning.top_share == 1.0
    assert rand.learning.learned is True and rand.learning.versus_reference.significant
    for lang, first_words in (("en", "Did not learn: LoRA gave the same answer for 100%"),
                              ("ja", "学習できていません：LoRAはテストデータの 100% に同じ答え")):
        html = write(collapsed_store, tmp_path, "html", lang)
        conclusion = html[html.index('<p class="conclusion" data-rule="did_not_learn">'):]
        conclusion = conclusion.split(">", 1)[1].split("</p>")[0]
        assert conclusion.startswith(first_words)
        summary = html[html.index('<ul class="summary"'):].split("</ul>")[0]
        for words in (conclusion, summary):
            assert "nconclusive" not in words and "結論保留" not in words and "difference" not in words
        assert ("learning-rate search" if lang == "en" else "学習率の探索") in summary  # the next step
        markdown = write(collapsed_store, tmp_path, "md", lang)
        assert "**" + first_words in markdown
        risks = markdown[markdown.index("## " + TEXT[lang]["h_risk"]):]
        assert ("learning-rate search (search: true)" if lang == "en" else "学習率の探索（search: true）") in risks
    table = runner.invoke(app_(), ["compare", "--store", str(collapsed_store)], env={"COLUMNS": "100"})
    assert table.exit_code == 0 and "did not learn" in table.output and "majority-class" in table.output


def _ticks(svg: str, axis: str) -> list[float]:
    """The numbers matplotlib wrote as the tick labels of one axis ("x" or "y") of an SVG chart."""
    import re

    values = []
    for group in re.split(rf'<g id="{axis}tick_\d+">', svg)[1:]:  # each tick's group starts with its label's text
        label = re.search(r"<text[^>]*>([^<]*)</text>", group)
        if label:
            values.append(float(label.group(1).replace("\u2212", "-")))
    return values


def test_score_axes_start_at_the_reference_or_below(collapsed_store: Path, tiny_store: Path, tmp_path: Path) -> None:
    for store in (collapsed_store, tiny_store):
        html = write(store, tmp_path, "html", "en", "--recipe", "collapsed" if store == collapsed_store else "tiny")
        svgs = html.split(f">{TEXT['en']['h_charts']}</h2>")[1].split("<svg")[1:]  # the Charts section's
        reference = float(svgs[0].split("Majority class ")[1].split("%")[0])  # the legend of the reference line
        scores = _ticks(svgs[0], "x")  # scores, along x
        against_parameters = _ticks(svgs[1], "y")
        for ticks in (scores, against_parameters):
            assert ticks and min(ticks) <= reference and ticks == sorted(ticks)
            steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:])}
            assert len(steps) == 1 and all(float(t).is_integer() for t in ticks)  # round, evenly spaced
    # matplotlib keeps text as text (the browser renders Japanese) and the charts print at >= 8 pt
    ja = write(collapsed_store, tmp_path, "html", "ja")
    assert "<text" in ja and "正解率" in ja.split(f">{TEXT['ja']['h_charts']}</h2>")[1].split("<svg")[1]
    import re
    sizes = {float(s) for s in re.findall(r"font-size: ([0-9.]+)px", ja)}
    assert sizes and min(sizes) >= 7.5  # px in a chart drawn at its printed size, pt = px here


def test_money_in_the_recipes_currency_both_languages() -> None:
    assert money(1234.567, "USD", "en") == "1,234.57 USD" and money(0.0042, "USD", "en") == "0.0042 USD"
    assert money(12345.6, "JPY", "en") == "12,346 JPY" and money(0.2, "JPY", "en") == "< 1 JPY"
    assert money(5000, "JPY", "ja") == "5,000円" and money(123_456, "JPY", "ja") == "12.3万円"
    assert money(12_345_678, "JPY", "ja") == "1,235万円" and money(3e8, "JPY", "ja") == "3.0億円"
    assert money(2.5, "EUR", "ja") == "2.50ユーロ" and money(None, "USD", "en") == "-"


def test_japanese_yen_report_has_no_decimals_and_no_usd(collapsed_store: Path, tmp_path: Path) -> None:
    import re

    for lang in ("en", "ja"):
        text = write(collapsed_store, tmp_path, "md", lang)
        assert "USD" not in text and "ドル" not in text
        unit = "JPY" if lang == "en" else "円"
        amounts = re.findall(rf"([0-9][0-9,.]*) ?{unit}", text)
        assert amounts and all("." not in a for a in amounts), amounts
        cost = text[text.index("## " + TEXT[lang]["h_cost_poc"]):text.index("## " + TEXT[lang]["h_business"])]
        assert "- (LoRA did not learn)" in cost or "－（LoRAは学習できていません）" in cost  # no price per point over a failure


def test_payback_is_the_investment_over_the_monthly_value(tiny_store: Path) -> None:
    from poc_cli.report.build import build_sections
    from poc_cli.store import Store

    section = build_sections(Store(tiny_store), lang="en", recipe="tiny")[0]
    store = Store(tiny_store)
    records = [r.stored() for r in store.records() if r.recipe_name == "tiny"]
    poc = sum(r["timing"]["train_s"] / 3600 * 2.0 for r in records if r["status"] == "ok")
    lora = [r for r in records if r["method"] == "lora"]
    throughput = sum(r["throughput"]["examples_per_s"] for r in lora) / len(lora)
    projected = 100_000 * 2 / throughput / 3600 * 2.0  # cost.target_*: 100,000 examples x 2 epochs at 2 EUR/h
    spec = BusinessSpec(positive_class="positive", cost_missed=100, cost_false_alarm=5, monthly_items=20000,
                        minutes_per_item=1.5, hourly_rate=40)
    out = business_outcome(spec, y_true=[y for r in lora for y in r["predictions"]["test"]["y_true"]],
                           y_pred=[y for r in lora for y in r["predictions"]["test"]["y_pred"]],
                           labels=lora[0]["data"]["labels"], investment=projected + poc, seeds=2)
    monthly = {row[0]: row for row in section["business"]["monthly"]["rows"]}
    assert monthly["LoRA"][4].startswith(money(out.monthly_value, "EUR", "en") + " [")
    assert monthly["LoRA"][5].startswith(payback(out.payback_months, "en") + " [")
    if out.payback_months is not None:
        assert out.payback_months == pytest.approx((projected + poc) / out.monthly_value, rel=0.02)
    assert section["cost"]["title"] == "Cost"  # at target scale, not "at PoC scale"
    assert any("Payback = (training at production scale" in note for note in section["business"]["notes"])
    # 20 positive test examples (the two seeds share them): too few to rely on, and said so
    assert section["business"]["warnings"][0].startswith("Only 20 positive test examples")


@pytest.mark.parametrize("width", [80, 100, 200])
def test_compare_fits_the_terminal_without_cutting_a_number_or_a_word(tiny_store: Path, width: int) -> None:
    """A row per method on at most two lines; every name, score, interval and cost whole; the parameter
    counts from 100 columns."""
    result = runner.invoke(app_(), ["compare", "--store", str(tiny_store), "--recipe", "tiny"],
                           env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "…" not in result.output and max(len(line) for line in lines) <= width
    rows = json.loads(runner.invoke(app_(), ["compare", "--store", str(tiny_store), "--recipe", "tiny",
                                             "--json"]).stdout)
    names = [r["method"] for r in rows]
    rule = next(k for k, line in enumerate(lines) if line.strip().startswith("─"))
    body_end = next(k for k in range(rule, len(lines)) if not lines[k].strip())  # the footnotes follow
    starts = [k for k in range(rule, body_end) if row_name(lines[k]) in names]
    assert [row_name(lines[k]) for k in starts] == names  # each name whole, in order
    ends = [*starts[1:], body_end]
    assert all(end - start <= 2 for start, end in zip(starts, ends)), lines
    table = "\n".join(lines[:ends[-1]])
    for r in rows:
        if r["interval"]:
            assert f"[{100 * r['interval'][0]:.1f},{100 * r['interval'][1]:.1f}]" in table, r["method"]
        if r["cost_per_run"] is not None:
            assert money(r["cost_per_run"], "EUR", "en").removesuffix(" EUR") in table
        if r["trainable_parameters"] is not None:
            assert (f"{r['trainable_parameters']:,}" in table) == (width >= 100)
    assert "did not learn" in table or all(r["learning"] is None or r["learning"]["learned"] for r in rows)
    wide = runner.invoke(app_(), ["compare", "--store", str(tiny_store), "--recipe", "tiny", "--wide"],
                         env={"COLUMNS": "400"})
    assert "examples/s" in wide.output and rows[1]["job_ids"]["0"] in wide.output


def test_timings_under_load_are_marked(tiny_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(tiny_store / "tiny", store / "tiny")
    for path in (store / "tiny").glob("*.json"):  # as if another job had shared the machine with full's runs only
        record = json.loads(path.read_text())
        loaded = record["method"] == "full"
        record["load"] = {**record["load"], "loaded": loaded, "other_cores": 1.7 if loaded else 0.1}
        path.write_text(json.dumps(record))
    html = write(store, tmp_path, "html", "en")
    assert "‡ Measured while other processes kept up to 1.7 CPU cores busy" in html
    assert "Time and cost of Full fine-tuning were measured under load" in html
    table = runner.invoke(app_(), ["compare", "--store", str(store)], env={"COLUMNS": "100"})
    assert "‡" in table.output and "not a clean time or cost" in table.output


def test_machine_load_sees_other_processes() -> None:
    import sys
    import time

    from poc_cli.trackers.load import LoadMeter

    burn = f"{sys.executable} -c 'import time\nt=time.time()\nwhile time.time()-t<1.5: pass' &"
    with LoadMeter() as meter:  # two CPU burners that are not our children (the shell leaves them orphaned)
        subprocess.run(["sh", "-c", f"{burn} {burn}"], check=True)
        time.sleep(1.8)
    assert meter.result.other_cpu_s > 1.0 and meter.result.loaded


def test_gpu_runs_get_a_sizing_table(tiny_store: Path, tmp_path: Path) -> None:
    """Records as a GPU machine writes them (this machine has none: the NVML figures are injected)."""
    store = tmp_path / "store"
    shutil.copytree(tiny_store / "tiny", store / "tiny")
    peaks = {"lora": 9_000.0, "randlora": 20_000.0, "full": 50_000.0}
    for path in (store / "tiny").glob("*.json"):
        record = json.loads(path.read_text())
        record["gpu"] = {**record["gpu"], "peak_job_mib": peaks[record["method"]], "reason": None,
                         "device": {"name": "NVIDIA H100 80GB HBM3", "total_mib": 81_559.0}}
        record["memory"]["torch_peak_reserved_mib"] = peaks[record["method"]] - 500
        path.write_text(json.dumps(record))
    from poc_cli.report.build import build_sections
    from poc_cli.store import Store

    section = build_sections(Store(store), lang="en", recipe="tiny")[0]
    fits = {row[0]: row[3:] for row in section["sizing"]["rows"]}  # 16, 24, 40, 80 GB
    assert fits == {"LoRA": ["yes"] * 4, "RandLoRA": ["no", "yes", "yes", "yes"],
                    "Full fine-tuning": ["no", "no", "no", "yes"]}
    assert "NVIDIA H100 80GB HBM3" in section["sizing"]["note"]
    assert any(caption == "Accuracy against GPU peak memory" for caption, _ in section["charts"])
    html = write(store, tmp_path, "html", "ja")
    assert "80 GB に収まるか" in html and "GPUのピークメモリ" in html  # the trade names GPU memory


# --- one procedure per verdict, business uncertainty, one number formatter ---------------------------


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_report_names_its_one_test_and_what_the_poc_could_see(tiny_store: Path, tmp_path: Path, lang: str,
                                                                 fmt: str) -> None:
    """Two seeds and two methods against LoRA: the paired t-test, Holm-adjusted; beside each difference that
    is not significant, what the PoC could have detected; the business figures with 20 positives flagged."""
    page = write(tiny_store, tmp_path, fmt, lang, "--recipe", "tiny")
    expected = {"en": ["by a paired t-test over the 2 seeds", "method adjusts their p-values",
                       "p (Holm, 2 comparisons)", "(97.5%)", "not significant (could detect",
                       "Only 20 positive test examples", "Detection rate", "Payback"],
                "ja": ["2 個のシードにわたる対応のある t 検定", "Holm 法で p 値を調整し", "p 値（Holm 法、2 件の比較）",
                       "(97.5%)", "有意差なし（検出可能な最小の差", "テストデータの検出対象はわずか 20 件",
                       "検出率［95%］", "投資回収期間［範囲］"]}[lang]
    if fmt == "html":  # the table headings as written (Markdown escapes their brackets)
        expected += {"en": ["Detection rate [95%]", "Payback [range]"], "ja": []}[lang]
    for fragment in expected:
        assert fragment in page, fragment


def test_compare_and_report_print_the_same_money(collapsed_store: Path, tmp_path: Path) -> None:
    table = runner.invoke(app_(), ["compare", "--store", str(collapsed_store), "--wide"], env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    amounts = set(re.findall(r"([0-9][0-9,.]*|< 1) JPY", table.output))
    assert amounts and all("." not in a for a in amounts)  # yen without decimals, as the report writes them
    report = write(collapsed_store, tmp_path, "md", "en")
    for amount in amounts:
        assert f"{amount} JPY" in report or f"{amount}\u00a0JPY" in report, amount


def test_a_method_that_detects_nothing_is_flagged_in_the_report(collapsed_store: Path, tmp_path: Path) -> None:
    """The collapsed LoRA answers "negative" for all 40 test examples: with a business block about the
    positive class it detects none of the 20 positives, and the report says so beside its value."""
    store = tmp_path / "store"
    shutil.copytree(collapsed_store, store)
    business = {"positive_class": "positive", "cost_missed": 500, "cost_false_alarm": 50, "monthly_items": 20000,
                "minutes_per_item": 1.5, "hourly_rate": 4000}
    for path in (store / "collapsed").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["job"]["recipe"]["business"] = business
        path.write_text(json.dumps(record), encoding="utf-8")
    expected = {"en": "LoRA detected none of the 20 positive test examples: its monthly value",
                "ja": "LoRAはテストデータの検出対象 20 件を 1 件も検出していません"}
    for lang, flag in expected.items():
        page = write(store, tmp_path, "md", lang)
        assert flag in page
        assert "RandLoRA detected none" not in page and "RandLoRAはテストデータの検出対象" not in page


def test_the_next_step_of_an_inconclusive_comparison_is_sized_by_power() -> None:
    """One seed (McNemar over 300 examples): label more test data, as many as a 2-point difference needs;
    seeds: as many as the t-test needs, with the time they take."""
    from types import SimpleNamespace

    from poc_cli.report.conclusion import Conclusion
    from poc_cli.report.summary import _power_step
    from poc_cli.stats import mcnemar

    a = [1.0] * 30 + [0.0] * 25 + [1.0] * 200 + [0.0] * 45
    b = [0.0] * 30 + [1.0] * 25 + [1.0] * 200 + [0.0] * 45
    one_seed = mcnemar(a, b)
    assert not one_seed.significant and one_seed.needed is not None

    def inputs(lang: str, seeds: int) -> SimpleNamespace:
        methods = [SimpleNamespace(method=m, score=Summary(0.8, None, seeds)) for m in ("lora", "randlora")]
        runs = {s: SimpleNamespace(timing=SimpleNamespace(total_s=60.0)) for s in range(seeds)}
        return SimpleNamespace(lang=lang, trained=methods, measured=methods, ok_runs={"lora": runs, "randlora": runs})

    def step(d: PairedDifference, lang: str, seeds: int) -> str:
        return _power_step(inputs(lang, seeds), Conclusion("inconclusive", "lora", d, None, None))  # type: ignore[arg-type]

    text_en = step(one_seed, "en", 1)
    assert f"with 300 test examples this PoC can only detect differences of about " \
           f"{100 * one_seed.detectable:.1f} points" in text_en
    assert f"a 2-point difference needs about {one_seed.needed:,} test examples" in text_en
    assert f"テストデータが約 {one_seed.needed:,} 件必要です" in step(one_seed, "ja", 1)
    seeds = paired_t([0.01, -0.01, 0.02])
    assert seeds.needed is not None and seeds.needed <= 20
    assert step(seeds, "en", 3).startswith(f"Next step: {seeds.needed - 3} more seed(s) per method "
                                           f"({seeds.needed} in all), enough to detect a 2-point difference")
    noisy = paired_t([0.2, -0.2, 0.1])
    assert noisy.needed is None or noisy.needed > 20
    assert "treat the two as equal and choose LoRA" in step(noisy, "en", 3)


# Run as `poc` itself, reporting what it imported: a manager's machine reads the store without torch.
IMPORTS_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write(f"heavy={sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)}"))
from poc_cli.cli import main
sys.argv = ["poc", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("argv", [["compare"], ["compare", "--json"], ["report", "--format", "md"],
                                  ["report", "--format", "html"]])
def test_compare_and_report_never_import_torch(tiny_store: Path, tmp_path: Path, argv: list[str]) -> None:
    import sys

    output = ["--output", str(tmp_path / "out")] if argv[0] == "report" else []
    done = subprocess.run([sys.executable, "-c", IMPORTS_PROBE, *argv, "--store", str(tiny_store), *output],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("heavy=[]"), done.stderr[-300:]
