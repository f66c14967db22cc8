"""A bad recipe exits 2 with one line naming the field and what is allowed, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import recipe_dict, write_jsonl, write_recipe
from poc_cli.cli import app
from poc_cli.errors import RecipeError
from poc_cli.methods.lora import LoraSpec
from poc_cli.recipe import load_recipe
from poc_cli.tasks import search_metric, task_for

runner = CliRunner()


def plan_error(path: Path) -> str:
    """Run `poc plan` on a recipe that must fail; return its one-line error."""
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "Traceback" not in result.output + message
    assert len(message.splitlines()) == 1, message
    return message


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base}
    for dotted, value in changes.items():
        node = out
        keys = dotted.split("__")
        for key in keys[:-1]:
            node[key] = dict(node[key])
            node = node[key]
        node[keys[-1]] = value
    return out


@pytest.fixture()
def base(tiny_model_dir: Path, tiny_data: dict[str, Path]) -> dict[str, Any]:
    return recipe_dict(tiny_model_dir, tiny_data)


def test_valid_recipe_loads_with_method_defaults(tmp_path: Path, base: dict[str, Any]) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", with_changes(base, methods=[{"method": "lora"}])))
    assert recipe.methods[0].learning_rate == LoraSpec.DEFAULT_LR
    assert recipe.methods[0].label == "lora"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"data__txt_column": "x"}, ["data:", "unknown key 'txt_column'", "allowed:", "text_column"]),
        ({"colour": "red"}, ["recipe:", "unknown key 'colour'", "methods"]),
        ({"training__batch_size": "big"}, ["training.batch_size", "valid integer", "'big'"]),
        ({"training__scheduler": "warp"}, ["training.scheduler", "'linear'", "'cosine'"]),
        ({"methods": [{"method": "qlora"}]},
         ["methods.0", "'qlora'", "'lora', 'dora', 'rslora', 'pissa', 'olora', 'randlora', 'vera', 'peft', 'full'"]),
        ({"methods": [{"method": "lora", "rank": 4}]}, ["methods.0", "unknown key 'rank'", "alpha_ratio"]),
        ({"methods": []}, ["methods", "at least 1"]),
        ({"budget": {"lora_rank": 4, "parameters": 100}}, ["budget", "exactly one of"]),
        ({"seeds": [1, 1]}, ["seeds must be distinct"]),
        ({"data": {"train": "x.jsonl"}}, ["data", "test split is required"]),
    ],
)
def test_schema_errors_name_the_field(
    tmp_path: Path, base: dict[str, Any], changes: dict[str, Any], expected: list[str]
) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, **changes)))
    for fragment in expected:
        assert fragment in message, message


def test_missing_data_file(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, data__test="nope/test.jsonl")))
    assert "data.test: file not found: nope/test.jsonl" in message


def test_missing_recipe_file(tmp_path: Path) -> None:
    assert "recipe file not found" in plan_error(tmp_path / "absent.yaml")


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nmethods: [lora\n", encoding="utf-8")
    assert "not valid YAML at line" in plan_error(path)


def test_absent_column(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, data__label_column="target")))
    assert "data.label_column: column 'target' not in" in message and "columns: text, label" in message


def test_empty_split(tmp_path: Path, base: dict[str, Any]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, data__test=str(empty))))
    assert message.startswith("error: data.test:")


def test_test_label_never_seen_in_train(tmp_path: Path, base: dict[str, Any]) -> None:
    test = write_jsonl(tmp_path / "t.jsonl", [{"text": "good", "label": "positive"}, {"text": "meh", "label": "neutral"}])
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, data__test=str(test))))
    assert "data.test: 1 label(s) never seen in train: 'neutral'" in message


def test_impossible_budget(tmp_path: Path, base: dict[str, Any]) -> None:
    # Neither LoRA (r=1 has 832) nor RandLoRA can come near 50 parameters on the tiny model.
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, budget={"parameters": 50})))
    assert "budget: lora cannot match the budget of 50 parameters within 5%: r=1 gives 832" in message
    assert "allow_deviation" in message


def test_budget_above_model_size(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, budget={"parameters": 10**9})))
    assert "budget: 1,000,000,000 adapter parameters is not below the model's" in message


def test_allow_deviation_accepts_a_far_budget(tmp_path: Path, base: dict[str, Any]) -> None:
    path = write_recipe(tmp_path / "r.yaml", with_changes(base, budget={"parameters": 50, "allow_deviation": True}))
    result = runner.invoke(app, ["plan", str(path), "--no-estimate"])
    assert result.exit_code == 0, result.output


def test_unknown_target_module(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, target_modules=["query", "qkv"])))
    assert "target_modules: 'qkv' matches no Linear, Conv1D or convolution layer" in message


def test_missing_model_folder(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, model="./no-such-model")))
    assert "model: folder not found: ./no-such-model" in message


def test_fraction_and_file_together(tmp_path: Path, base: dict[str, Any]) -> None:
    message = plan_error(write_recipe(tmp_path / "r.yaml", with_changes(base, data__test_fraction=0.2)))
    assert "either 'test' (a file) or 'test_fraction'" in message


def test_recipe_error_exit_code_in_a_real_process(tmp_path: Path, base: dict[str, Any]) -> None:
    path = write_recipe(tmp_path / "r.yaml", with_changes(base, training__epochs=-1))
    proc = subprocess.run([sys.executable, "-m", "poc_cli", "plan", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "training.epochs" in proc.stderr and "greater than or equal to 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_recipe_error_class_exit_code() -> None:
    assert RecipeError.exit_code == 2


def test_every_shipped_recipe_is_valid() -> None:
    """The recipes folder holds only recipes that load (the image ones name hub models: planning them
    needs network access, validating them does not)."""
    from conftest import PROJECT

    loaded = {path.name: load_recipe(path) for path in sorted((PROJECT / "recipes").glob("*.yaml"))}
    assert loaded["elpv-inspection.yaml"].task == "image-classification"
    assert loaded["elpv-inspection.yaml"].business.positive_class == "defect"
    for name in ("llm-demo.yaml", "banking77-llm.yaml"):
        assert loaded[name].task == "causal-lm" and task_for(loaded[name]).primary.name == "exact_match"
    assert search_metric(loaded["banking77-llm.yaml"]) == "exact_match"
    clip = loaded["fashion-mnist-clip.yaml"]
    assert clip.task == "image-text" and clip.data.shots_per_class == 4 and search_metric(clip) == "accuracy"
