"""What each method costs to serve (issue 43): measured in real jobs of the tiny BERT, merged and unmerged,
adapter sizes against the files, conversion to LoRA through peft, the serving arithmetic by hand, and the
section in every report format and language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import recipe_dict, write_recipe
from peft import PeftModel, RandLoraConfig, convert_to_lora, get_peft_model, set_peft_model_state_dict
from test_run import poc
from typer.testing import CliRunner

from poc_cli.business_spec import ServingSpec
from poc_cli.cli import app
from poc_cli.report.i18n import TEXT
from poc_cli.serving_cost import capacity, serving_cost
from poc_cli.serving_summary import ServingSummary

runner = CliRunner()
# Half a MiB: six of the tiny model (76 KiB) fit an instance, so full fine-tuning's ten models need two.
SERVING = {"tasks": 10, "requests_per_month": 2_000_000, "gpu_memory_gib": 0.0005}


@pytest.fixture(scope="module")
def serving_store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """Real runs (about 25 s): LoRA, RandLoRA, VeRA (off budget) and full fine-tuning in fp32 with a serving
    block; and LoRA under bf16-mixed, whose base is held in bfloat16 (a merge that rounds). DoRA and every
    other tuner merge and convert in test_peft_methods' run."""
    folder = tmp_path_factory.mktemp("serving")
    store = folder / "store"
    every = recipe_dict(tiny_model_dir, tiny_data, name="served", cost={"gpu_hourly_price": 2.0},
                        training={"epochs": 6, "batch_size": 16, "max_length": 16},
                        business={"serving": SERVING},
                        methods=[{"method": "lora", "lr": 1e-2}, {"method": "randlora", "lr": 1e-2, "alpha_ratio": 2},
                                 {"method": "vera", "lr": 1e-2, "off_budget": True}, {"method": "full", "lr": 3e-3}])
    bf16 = recipe_dict(tiny_model_dir, tiny_data, name="served-bf16", methods=[{"method": "lora", "lr": 1e-2}],
                       training={"epochs": 6, "batch_size": 16, "max_length": 16, "precision": "bf16-mixed"})
    for recipe in (every, bf16):
        result = poc("run", str(write_recipe(folder / f"{recipe['name']}.yaml", recipe)), "--store", str(store))
        assert result.returncode == 0, result.stdout + result.stderr
    return store


def _served(store: Path, recipe: str = "served") -> dict[str, dict[str, Any]]:
    """The recipe's stored records by method."""
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in (store / recipe).glob("*.json"))}


def test_each_adapter_merges_exactly_in_fp32_and_full_fine_tuning_serves_itself(serving_store: Path) -> None:
    runs = _served(serving_store)
    for method in ("lora", "randlora", "vera"):
        serving = runs[method]["serving"]
        assert serving["merge"]["status"] == "exact", (method, serving["merge"])
        assert serving["merge"]["max_relative_difference"] <= serving["merge"]["tolerance"] == 1e-4
        assert serving["merge"]["answers_changed"] == 0 and serving["merge"]["answers_compared"] == 40
        for way in ("merged", "unmerged"):
            assert serving[way]["latency_ms"] > 0 and serving[way]["throughput_per_s"] > 0, (method, way)
        assert serving["merge"]["merged_dtype"] == "float32" and serving["device"] == "cpu" and serving["seconds"] > 0
        # A tiny model is timed on the most requests and batches the bounds allow (the test split is one batch).
        assert (serving["unmerged"]["requests"], serving["unmerged"]["batches"], serving["batch_size"]) == (10, 1, 64)
    full = runs["full"]["serving"]
    assert full["merge"] == {"status": "nothing to merge"} and "unmerged" not in full and "lora" not in full
    assert "adapter_bytes" not in full and "adapter_mib" not in full
    # The merged model's tensors are the base model's, whichever adapter was merged.
    assert len({round(r["serving"]["weights_mib"], 6) for r in runs.values()}) == 1


def test_a_merge_into_bfloat16_weights_is_flagged_not_exact(serving_store: Path) -> None:
    serving = _served(serving_store, "served-bf16")["lora"]["serving"]
    merge = serving["merge"]
    assert merge["status"] == "inexact" and merge["merged_dtype"] == "bfloat16"
    assert merge["max_relative_difference"] > merge["tolerance"]
    assert "bfloat16" in merge["reason"]
    out = runner.invoke(app, ["compare", "--store", str(serving_store), "--recipe", "served-bf16", "--json"])
    assert json.loads(out.stdout)[1]["serving"]["merge"] == "inexact"


def _dir_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_adapter_sizes_are_the_files_and_randlora_s_bases_are_what_peft_s_default_saves(
        serving_store: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    runs = _served(serving_store)
    for method in ("lora", "randlora", "vera"):
        record = runs[method]
        folder = Path(record["adapter"]["path"])
        assert record["serving"]["adapter_bytes"] == record["adapter"]["bytes"] == _dir_bytes(folder), method
    for method in ("randlora", "vera"):
        serving = runs[method]["serving"]
        assert serving["default_saves_bases"] is True
        assert serving["adapter_bytes_with_bases"] > serving["adapter_bytes"]
    # peft's default (save_projection=True) on the same adapter config: the size poc reports, to a header's bytes.
    stored = Path(runs["randlora"]["adapter"]["path"])
    config = RandLoraConfig.from_pretrained(stored)
    config.save_projection = True
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    get_peft_model(model, config).save_pretrained(tmp_path / "default")
    assert abs(_dir_bytes(tmp_path / "default") - runs["randlora"]["serving"]["adapter_bytes_with_bases"]) < 300


def test_each_other_adapter_is_converted_to_lora_at_lora_s_rank_and_scored_as_peft_scores_it(
        serving_store: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    """The converted score is recomputed here through peft itself: the stored RandLoRA adapter, converted at
    rank 4 (LoRA's rank at this budget) and scored on the same test examples."""
    from poc_cli.data import load_splits
    from poc_cli.recipe import Recipe
    from poc_cli.tasks import task_for
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    runs = _served(serving_store)
    assert runs["lora"]["serving"]["lora"] == {"status": "is LoRA"}
    lora_bytes = runs["lora"]["adapter"]["bytes"]
    for method in ("randlora", "vera"):
        converted = runs[method]["serving"]["lora"]
        assert converted["status"] == "converted" and converted["rank"] == 4, (method, converted)
        assert abs(converted["bytes"] - lora_bytes) < 0.02 * lora_bytes  # the LoRA row's size
        original = runs[method]["metrics"]["test"]["accuracy"]
        assert converted["score"] == pytest.approx(original + converted["difference"])
    record = runs["randlora"]
    recipe = Recipe.model_validate(record["job"]["recipe"])
    task = task_for(recipe)
    splits = load_splits(recipe.data, task, include_test=True)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    model = PeftModel.from_pretrained(base, record["adapter"]["path"])
    config, state = convert_to_lora(model, 4)
    lora = get_peft_model(model.unload(), config)
    set_peft_model_state_dict(lora, state)
    processor = AutoTokenizer.from_pretrained(tiny_model_dir)
    encoded = task.encode(splits.test, processor, splits.labels, recipe.training)
    with torch.no_grad():
        batches = task.loader(encoded, processor, batch_size=64, shuffle=False, seed=0)
        score = task.evaluate(task.predict(lora, batches, device=torch.device("cpu")), splits.labels)["accuracy"]
    assert score == pytest.approx(record["serving"]["lora"]["score"])


def _summary(weights: float, adapter: float | None, merged: float, unmerged: float | None) -> ServingSummary:
    return ServingSummary(
        runs=1, device="cuda:0", merge="exact" if adapter else "nothing to merge", merge_difference=None,
        merge_tolerance=1e-4, answers_changed=None, answers_compared=None, merge_reason=None, latency_merged_ms=10.0,
        latency_unmerged_ms=12.0 if adapter else None, throughput_merged_per_s=merged,
        throughput_unmerged_per_s=unmerged, weights_mib=weights, adapter_mib=adapter, adapter_bytes=None,
        adapter_bytes_with_bases=None, default_saves_bases=None, lora=None, lora_rank=None, lora_bytes=None,
        lora_metric=None, lora_difference=None, lora_reason=None)


def test_the_serving_arithmetic_by_hand_for_one_task_and_ten() -> None:
    """Models of 5,000 MiB (4 fit a 24 GiB instance), adapters of 10 MiB, 50 requests/s merged and 40/s
    unmerged, planned at half; 730 hours at 2.0 an hour (1,460 a month an instance); one training 5.0."""
    full, lora = _summary(5000, None, 50, None), _summary(5000, 10, 50, 40)
    one = ServingSpec(tasks=1, requests_per_month=1_000_000, gpu_memory_gib=24)
    ten = one.model_copy(update={"tasks": 10})
    assert capacity(one, 50) == 50 * 3600 * 730 * 0.5 == 65_700_000
    for spec, full_instances, lora_adapters in ((one, 1, 1), (ten, 3, 1)):  # full: ceil(10 / 4) = 3 instances
        full_cost = serving_cost(spec, full, price_per_hour=2.0, training=5.0)
        assert full_cost.adapters is None and full_cost.merged.instances == full_instances
        assert full_cost.merged.monthly == full_instances * 1460 and full_cost.merged.bound == "memory"
        assert full_cost.total == spec.tasks * 5.0 + 12 * full_instances * 1460
        lora_cost = serving_cost(spec, lora, price_per_hour=2.0, training=5.0)
        assert lora_cost.adapters is not None and lora_cost.adapters.instances == lora_adapters
        assert lora_cost.cheaper.monthly == 1460  # one instance: its base and every adapter
    assert serving_cost(ten, lora, price_per_hour=2.0, training=5.0).cheaper.name == "adapters"
    busy = ten.model_copy(update={"requests_per_month": 100_000_000})  # 1e9 requests: throughput decides
    merged = serving_cost(busy, lora, price_per_hour=2.0, training=5.0)
    assert (merged.merged.instances, merged.merged.bound) == (16, "requests")  # 1e9 / 65.7e6 = 15.2
    assert (merged.adapters.instances, merged.adapters.bound) == (20, "requests")  # 1e9 / 52.56e6 = 19.03
    assert merged.cheaper.name == "merged" and merged.total == 50 + 12 * 16 * 1460
    huge = _summary(30_000, 10, 50, 40)  # a model larger than the instance fits neither way
    cost = serving_cost(one, huge, price_per_hour=2.0, training=5.0)
    assert cost.merged.bound == cost.adapters.bound == "does not fit" and cost.total is None


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_report_has_the_serving_section_with_its_costs(serving_store: Path, tmp_path: Path, fmt: str,
                                                           lang: str) -> None:
    out = tmp_path / f"r.{lang}.{fmt}"
    result = runner.invoke(app, ["report", "--store", str(serving_store), "--recipe", "served", "--format", fmt,
                                 "--lang", lang, "--output", str(out)])
    assert result.exit_code == 0, result.output
    body = out.read_text(encoding="utf-8")
    words = TEXT[lang]
    for key in ("h_serving", "sv_c_lora", "sv_exact", "sv_note_cpu"):
        assert words[key].split("{")[0].replace("_", "\\_" if fmt == "md" else "_")[:20] in body, key
    assert words["sv_c_total"].format(months=12) in body and words["sv_c_merged_cost"].format(n=10) in body
    # Full fine-tuning's ten models need two instances, every adapter method's ten adapters one.
    assert {"en": "Full fine-tuning costs most", "ja": "最も高いのはフルファインチューニング"}[lang] in body
    # The summary's trade line prices serving the ten tasks, training included.
    assert words["trade_serving"].format(tasks=10, months=12, values="").strip()[:25] in body


def test_compare_carries_the_serving_figures(serving_store: Path) -> None:
    rows = json.loads(runner.invoke(app, ["compare", "--store", str(serving_store), "--recipe", "served",
                                          "--json"]).stdout)
    by = {r["method"]: r["serving"] for r in rows}
    assert by["majority-class"] is None and by["full"]["merge"] == "nothing to merge"
    assert by["randlora"]["lora"] == "converted" and by["randlora"]["latency_unmerged_ms"] > 0
    csv = runner.invoke(app, ["compare", "--store", str(serving_store), "--recipe", "served", "--csv"]).stdout
    header = csv.splitlines()[0].split(",")
    assert {"serving_merge", "serving_latency_merged_ms", "serving_lora_difference"} <= set(header)
    wide = runner.invoke(app, ["compare", "--store", str(serving_store), "--recipe", "served", "--wide"],
                         env={"COLUMNS": "400"}).stdout
    assert "serving" in wide and "LoRA: is LoRA" in wide and "LoRA: r=4, Δ" in wide and "b=1: " in wide


@pytest.mark.parametrize(("serving", "message"), [
    ({"tasks": 0, "requests_per_month": 10}, "business.serving.tasks"),
    ({"tasks": 2}, "business.serving.requests_per_month"),
    ({"tasks": 2, "requests_per_month": 10, "utilisation": 1.5}, "business.serving.utilisation"),
])
def test_a_bad_serving_block_is_one_line_naming_its_field(tmp_path: Path, tiny_model_dir: Path,
                                                          tiny_data: dict[str, Path], serving: dict[str, Any],
                                                          message: str) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, business={"serving": serving}))
    result = runner.invoke(app, ["plan", str(recipe)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert message in result.output


def test_on_a_gpu_the_serving_peak_is_torch_s_and_timings_wait_for_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: torch.cuda's peak and synchronize are faked, to show which figures a GPU job records."""
    from poc_cli import serving

    waited: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: waited.append(device))
    gpu = torch.device("cuda", 0)
    assert serving._peak(gpu) == 3072.0 and serving._peak(torch.device("cpu")) is None
    serving._sync(gpu)
    serving._sync(torch.device("cpu"))
    assert waited == [gpu]


def test_measure_serving_false_leaves_the_job_without_serving_figures(tmp_path: Path, tiny_model_dir: Path,
                                                                      tiny_data: dict[str, Path]) -> None:
    recipe = recipe_dict(tiny_model_dir, tiny_data, methods=[{"method": "lora", "lr": 1e-2}],
                         training={"epochs": 1, "batch_size": 16, "max_length": 16}, measure={"serving": False})
    store = tmp_path / "store"
    result = poc("run", str(write_recipe(tmp_path / "r.yaml", recipe)), "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    record = _served(store, "tiny")["lora"]
    assert record["status"] == "ok" and record["serving"] == {}
    out = tmp_path / "r.md"
    assert runner.invoke(app, ["report", "--store", str(store), "--format", "md", "--output", str(out)]).exit_code == 0
    assert TEXT["en"]["h_serving"] not in out.read_text(encoding="utf-8")  # no section without a measurement
