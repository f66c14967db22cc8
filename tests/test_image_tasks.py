"""Image classification and CLIP-style image-text tasks on real images, with tiny random models.

No pretrained vision weights exist offline, so the models are tiny random ViT, DINOv2,
CLIP and SigLIP models built from configs and saved like hub models; the images are the
real ELPV solar cells and Fashion-MNIST clothes from ../shared/data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import CLIPConfig, ViTConfig

from conftest import ELPV, FASHION, image_recipe, needs_shared_data, write_jsonl, write_recipe
from poc_cli.budget import allocate
from poc_cli.data import load_splits
from poc_cli.errors import RecipeError
from poc_cli.methods import get_method
from poc_cli.modelhub import describe, towers
from poc_cli.recipe import DataSpec, Recipe, TrainingSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.tasks import checked_task
from poc_cli.tasks.image_classification import ImageClassification
from poc_cli.tasks.image_text import ImageText

pytestmark = needs_shared_data()
ENV = {**os.environ, "COLUMNS": "200"}


def poc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=900, cwd=cwd)


def records(store: Path) -> dict[str, dict[str, Any]]:
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}


# --- data ----------------------------------------------------------------------------------------


def test_image_folder_and_table_read_real_images() -> None:
    folder = DataSpec(train=str(FASHION / "train"), test=str(FASHION / "test"))
    splits = load_splits(folder, ImageClassification(folder))
    assert splits.sizes() == {"train": 2000, "test": 500} and len(splits.labels) == 10
    assert splits.labels[0] == "ankle-boot" and Path(splits.train["image"][0]).is_file()
    table = DataSpec(train=str(ELPV / "train.jsonl"), test=str(ELPV / "test.jsonl"), max_train_examples=50)
    splits = load_splits(table, ImageClassification(table))
    assert splits.labels == ("defect", "ok") and splits.sizes()["test"] == 624
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in splits.train["image"])  # relative to the table
    again = load_splits(folder, ImageClassification(folder)).sources[0]
    assert again.sha256 == load_splits(folder, ImageClassification(folder)).sources[0].sha256


def test_shots_per_class_keeps_k_of_every_class_seeded() -> None:
    spec = DataSpec(train=str(FASHION / "train"), test=str(FASHION / "test"), shots_per_class=4)
    first = load_splits(spec, ImageText(spec)).train
    assert len(first) == 40 and set(first["label"].value_counts()) == {4}
    assert first.equals(load_splits(spec, ImageText(spec)).train)
    other = spec.model_copy(update={"split_seed": 1})
    assert not first.equals(load_splits(other, ImageText(other)).train)
    many = spec.model_copy(update={"shots_per_class": 500})
    with pytest.raises(RecipeError, match=r"data.shots_per_class: 500 shots asked, but class .* has only 200"):
        load_splits(many, ImageText(many))


def test_bad_image_data_gives_one_line_naming_the_file(tmp_path: Path, vision_models: dict[str, Path]) -> None:
    good = [{"image": str(ELPV / "images" / f"cell{i:04d}.png"), "label": "defect" if i % 2 else "ok"}
            for i in range(1, 9)]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    table = write_jsonl(tmp_path / "train.jsonl", good + [{"image": "broken.png", "label": "ok"}])
    recipe = write_recipe(tmp_path / "r.yaml", image_recipe(vision_models["vit"], "image-classification",
                                                            {"train": str(table), "test_fraction": 0.3}))
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "data.train: cannot read image" in lines[0] and str(broken) in lines[0], lines
    assert "Traceback" not in result.stderr

    (tmp_path / "folder" / "ok").mkdir(parents=True)
    (tmp_path / "folder" / "defect").mkdir()
    for i in range(3):
        (tmp_path / "folder" / "ok" / f"{i}.png").write_bytes((ELPV / "images" / f"cell{i + 1:04d}.png").read_bytes())
    recipe = write_recipe(tmp_path / "f.yaml", image_recipe(vision_models["vit"], "image-classification",
                                                            {"train": str(tmp_path / "folder"), "test_fraction": 0.3}))
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2 and "class folder" in result.stderr and "defect has no images" in result.stderr
    (tmp_path / "folder" / "defect").rmdir()
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2 and "needs at least 2 distinct labels, found ['ok']" in result.stderr


@pytest.mark.parametrize(("task", "data", "message"), [
    ("image-text", {"prompt_template": "a photo"}, "data.prompt_template: 'a photo' has no '{label}'"),
    ("image-text", {"prompt_template": "a {label} {oops}"}, "data.prompt_template: 'a {label} {oops}' is not a valid"),
    ("image-classification", {"prompt_template": "a {label}"}, "data.prompt_template: not read by task"),
    ("image-classification", {"text_pair_column": "b"}, "data.text_pair_column: not read by task"),
    ("text-classification", {"image_column": "path"}, "data.image_column: not read by task text-classification"),
    ("segmentation", {}, "task: unknown task 'segmentation'; available: text-classification, image-classification"),
])
def test_recipe_fields_belong_to_their_task(task: str, data: dict, message: str) -> None:
    with pytest.raises(Exception) as error:
        checked_task(Recipe.model_validate({"name": "r", "model": "m", "task": task, "methods": [{"method": "lora"}],
                                        "data": {"train": "t", "test": "t", **data}}))
    assert message in str(error.value)


def test_image_text_needs_an_image_text_model(tmp_path: Path, vision_models: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", image_recipe(vision_models["vit"], "image-text", {
        "train": str(FASHION / "train"), "test": str(FASHION / "test"), "shots_per_class": 2}))
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2
    assert "model: ViTModel is not an image-text model (task image-text needs get_image_features" in result.stderr


# --- budgets on the real architectures -----------------------------------------------------------

LORA_RANK = 8


def _counted_by_peft(model: torch.nn.Module, method: str, r: int, arch: Any) -> int:
    spec = {"lora": LoraSpec(method="lora"), "randlora": RandLoraSpec(method="randlora")}[method]
    built = get_method(method).apply(model, spec=spec, r=r, arch=arch, seed=0)
    return built.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("kind", ["vit-b16", "clip-b32"])
def test_budget_counts_equal_peft_on_real_architectures(kind: str) -> None:
    """ViT-B/16 (google/vit-base-patch16-224) and CLIP ViT-B/32 (openai/clip-vit-base-patch32) are the
    default configs of their classes; poc counts on the meta device, peft on the built model."""
    data = DataSpec(train="t", test="t")
    if kind == "vit-b16":
        task, config = ImageClassification(data), ViTConfig(num_labels=2)
    else:
        task, config = ImageText(data), CLIPConfig()
    arch = describe(task.skeleton(config), None, task)
    recipe = Recipe.model_validate({"name": "b", "model": "m", "task": task.name, "data": {"train": "t", "test": "t"},
                                    "budget": {"lora_rank": LORA_RANK}, "methods": [{"method": "lora"},
                                                                                    {"method": "randlora"}]})
    allocations = {a.method: a for a in allocate(recipe, arch)}
    assert allocations["lora"].deviation == 0 and abs(allocations["randlora"].deviation) < 0.05
    if kind == "clip-b32":
        assert towers(arch) == {"text_model": 72, "vision_model": 72, "visual_projection": 1, "text_projection": 1}
        assert arch.head_modules == () and allocations["lora"].head_parameters == 0
    else:
        assert towers(arch) == {"vit": 72} and arch.head_modules == ("classifier",)
    for method, allocation in allocations.items():
        torch.manual_seed(0)
        model = _real_model(task, config)
        assert _counted_by_peft(model, method, allocation.r, describe(model, None, task)) == \
            allocation.trainable_parameters, method


def _real_model(task: Any, config: Any) -> torch.nn.Module:
    from transformers import AutoModel, AutoModelForImageClassification

    build = AutoModel if task.name == "image-text" else AutoModelForImageClassification
    return build.from_config(config)


@pytest.mark.parametrize(("recipe", "config", "layers"), [
    ("fashion-mnist-clip.yaml", CLIPConfig,
     {"text_model": 72, "vision_model": 72, "visual_projection": 1, "text_projection": 1}),
    ("elpv-inspection.yaml", ViTConfig, {"vit": 72}),
])
def test_shipped_recipes_plan_on_the_real_architectures(tmp_path: Path, recipe: str, config: Any,
                                                        layers: dict[str, int]) -> None:
    """`poc plan` on a shipped recipe, run from the project root as the docs say, with `model:` pointed
    at a local folder holding the real architecture's config alone (planning needs no weights)."""
    import yaml

    from conftest import PROJECT

    folder = tmp_path / "model"
    config().save_pretrained(folder)
    raw = yaml.safe_load((PROJECT / "recipes" / recipe).read_text())
    path = write_recipe(tmp_path / recipe, {**raw, "model": str(folder)})
    result = poc("plan", str(path), "--json", "--no-estimate", cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["target_layers_by_module"] == layers
    methods = {m["name"]: m for m in plan["methods"]}
    assert methods["lora"]["deviation"] == 0 and abs(methods["randlora"]["deviation"]) < 0.05
    for method in ("lora", "randlora"):
        split = methods[method]["adapter_by_module"]
        assert set(split) == set(layers) and sum(split.values()) == methods[method]["adapter_parameters"]
    if config is CLIPConfig:  # both towers fitted, the zero-shot reference first, 4 shots of 10 classes
        assert plan["reference"]["method"] == "zero-shot" and plan["reference"]["trainable_parameters"] == 0
        assert plan["data"]["sizes"]["train"] == 40 and plan["head"]["parameters"] == 0
        shown = poc("plan", str(path), "--no-estimate", cwd=PROJECT).stdout
        assert "72 in text_model, 72 in vision_model" in shown and "zero-shot" in shown
        assert "randlora by module: text_model" in shown and "+ the zero-shot reference" in shown
    else:
        assert plan["reference"] is None and plan["data"]["labels"] == ["defect", "ok"]


# --- end to end: real `poc run` subprocesses on real images --------------------------------------


def _loss_fell(curve: list[float]) -> bool:
    """The last quarter's mean loss is clearly below the first quarter's (batches of 16 are noisy)."""
    quarter = len(curve) // 4
    return sum(curve[-quarter:]) / quarter < 0.95 * sum(curve[:quarter]) / quarter


FAST = [{"method": "lora", "lr": 2e-2}, {"method": "randlora", "lr": 2e-2, "alpha_ratio": 2},
        {"method": "full", "lr": 2e-3}]


@pytest.fixture(scope="module")
def image_stores(tmp_path_factory: pytest.TempPathFactory, vision_models: dict[str, Path]) -> dict[str, Path]:
    """One store per model, trained by `poc run`: ViT on ELPV (a business block), DINOv2 on Fashion-MNIST,
    CLIP and SigLIP 16-shot on Fashion-MNIST."""
    folder = tmp_path_factory.mktemp("image-runs")
    elpv = {"train": str(ELPV / "train.jsonl"), "test": str(ELPV / "test.jsonl"), "max_train_examples": 160,
            "max_test_examples": 120}
    fashion = {"train": str(FASHION / "train"), "test": str(FASHION / "test"), "max_test_examples": 100}
    training = {"epochs": 5, "batch_size": 16, "eval_batch_size": 32}
    recipes = {
        "vit": image_recipe(vision_models["vit"], "image-classification", elpv, name="elpv-vit", methods=FAST,
                            training=training, business={"positive_class": "defect", "cost_missed": 500,
                                                         "cost_false_alarm": 20, "monthly_items": 10000,
                                                         "minutes_per_item": 1, "hourly_rate": 40}),
        "dinov2": image_recipe(vision_models["dinov2"], "image-classification", {**fashion, "max_train_examples": 160},
                               name="fashion-dinov2", methods=FAST, training=training, budget={"lora_rank": 4}),
        "clip": image_recipe(vision_models["clip"], "image-text", {**fashion, "shots_per_class": 16},
                             name="fashion-clip", methods=FAST, training=training),
        "siglip": image_recipe(vision_models["siglip"], "image-text", {**fashion, "shots_per_class": 16},
                               name="fashion-siglip", methods=FAST, training=training),
    }
    stores = {}
    for kind, recipe in recipes.items():
        path = write_recipe(folder / f"{kind}.yaml", recipe)
        stores[kind] = folder / f"store-{kind}"
        result = poc("run", str(path), "--store", str(stores[kind]))
        assert result.returncode == 0, result.stdout + result.stderr
    return stores


@pytest.mark.parametrize("kind", ["vit", "dinov2", "clip", "siglip"])
def test_every_method_trains_on_real_images(image_stores: dict[str, Path], kind: str) -> None:
    runs = records(image_stores[kind])
    trained = {m: r for m, r in runs.items() if m != "zero-shot"}
    assert set(trained) == {"lora", "randlora", "full"}
    for method, record in trained.items():
        assert record["status"] == "ok" and record["task"]["metrics"][0]["name"] == "accuracy"
        assert _loss_fell(record["loss_curve"]), (method, record["loss_curve"])
        missing = record["parameters"]["without_gradient"]
        if method == "full":  # DINOv2's mask token serves masked pre-training only: flagged, never trained
            assert all(name.endswith("embeddings.mask_token") for name in missing), missing
            assert bool(missing) == (kind == "dinov2") and bool(record["warnings"]) == (kind == "dinov2")
        else:
            assert missing == []  # every targeted tensor trains
        assert record["throughput"]["examples_per_s"] > 0 and record["throughput"]["tokens_per_s"] is None
        assert len(record["predictions"]["test"]["per_example"]["accuracy"]) == record["metrics"]["test"]["n"]
    if kind in ("clip", "siglip"):
        zero = runs["zero-shot"]
        assert zero["status"] == "ok" and zero["parameters"]["trainable_counted"] == 0 and zero["loss_curve"] == []
        assert zero["adapter"]["kind"] == "nothing trained" and "train_s" not in zero["timing"]
        assert trained["full"]["metrics"]["test"]["accuracy"] > zero["metrics"]["test"]["accuracy"]
        assert trained["lora"]["job"]["allocation"]["head_parameters"] == 0
    else:
        assert "zero-shot" not in runs and trained["lora"]["job"]["allocation"]["head_parameters"] > 0


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_both_towers_receive_gradients(vision_models: dict[str, Path], kind: str) -> None:
    """The paper's CLIP code counted attention adapters it never trained: every PEFT tensor of both towers,
    attention included, must get a gradient from the image-text loss."""
    from poc_cli.train import _check_gradients

    data = DataSpec(train=str(FASHION / "train"), test=str(FASHION / "test"), shots_per_class=2)
    task = ImageText(data)
    splits = load_splits(data, task)
    config = task.config(str(vision_models[kind]), splits.labels)
    processor = task.processor(str(vision_models[kind]), config)
    batch = next(iter(task.loader(task.encode(splits.train, processor, splits.labels, TrainingSpec()), processor,
                                  batch_size=8, shuffle=True, seed=0)))
    for method, spec, r in (("lora", LoraSpec(method="lora"), 2), ("randlora", RandLoraSpec(method="randlora"), 8)):
        model = task.load_model(str(vision_models[kind]), config)
        arch = describe(model, None, task)
        model = get_method(method).apply(model, spec=spec, r=r, arch=arch, seed=0)
        task.loss(model, batch).backward()
        check = _check_gradients(model)
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        assert check.missing == () and check.effective_parameters == check.trainable_parameters
        for tower in ("text_model", "vision_model"):
            assert any(tower in n and ("q_proj" in n or "k_proj" in n) for n in names), (tower, names[:5])


@pytest.mark.parametrize("kind", ["vit", "clip"])
def test_compare_and_report_end_to_end(image_stores: dict[str, Path], kind: str, tmp_path: Path) -> None:
    store = image_stores[kind]
    rows = json.loads(poc("compare", "--store", str(store), "--json").stdout)
    methods = [r["method"] for r in rows]
    assert methods[0] == "majority-class" and rows[0]["method_kind"] == "trivial"  # the trivial reference first
    if kind == "clip":
        assert methods[1] == "zero-shot" and rows[1]["trainable_parameters"] == 0
    assert {"lora", "randlora", "full"} <= set(methods)
    runs = records(store)
    for row in rows[1:]:
        assert row["metric"] == "accuracy"
        assert row["score"]["mean"] == pytest.approx(runs[row["method"]]["metrics"]["test"]["accuracy"])
    for fmt in ("html", "md"):
        for lang in ("en", "ja"):
            out = tmp_path / f"report.{lang}.{fmt}"
            result = poc("report", "--store", str(store), "--format", fmt, "--lang", lang, "--output", str(out))
            assert result.returncode == 0, result.stderr
            body = out.read_text(encoding="utf-8")
            accuracy = runs["randlora"]["metrics"]["test"]["accuracy"]
            assert f"{100 * accuracy:.1f}" in body
            if kind == "clip":
                assert {"en": "Zero-shot (not trained)", "ja": "ゼロショット（学習なし）"}[lang] in body
                if lang == "en":  # the schedule and the budget come from a trained run, not the reference
                    assert "160 examples x 5 epochs" in body and "The task adds no head" in body
            else:  # the business block: detection rate of the defect class
                assert {"en": "Detection rate", "ja": "検出率"}[lang] in body


def test_multihead_attention_projections_are_never_targeted() -> None:
    """SigLIP's pooling head is an nn.MultiheadAttention that reads out_proj.weight without calling
    out_proj: an adapter there would be counted and never trained (the run above caught it)."""
    from transformers import SiglipConfig

    from poc_cli.targets import find_layers

    task = ImageText(DataSpec(train="t", test="t"))
    model = task.skeleton(SiglipConfig())
    names = [layer.name for layer in describe(model, None, task).layers]
    assert "vision_model.head.mlp.fc1" in names and not any("head.attention" in n for n in names)
    with pytest.raises(RecipeError, match="belongs to an nn.MultiheadAttention, which never calls it"):
        find_layers(model, ["out_proj"], ())
