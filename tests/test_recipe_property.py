"""A property of the recipe loader: any YAML document, or any text at all, gives a Recipe or one
RecipeError line naming the file; never another exception, never a multi-line dump."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poc_cli.errors import RecipeError
from poc_cli.recipe import MAX_LINE, Recipe, load_recipe

# Keys a recipe uses, so that generated documents reach deep into the schema, not only its first check.
KEYS = ["name", "model", "task", "data", "methods", "method", "budget", "training", "seeds", "search", "cost",
        "business", "report", "evaluation", "measure", "train", "test", "validation", "test_fraction", "lr",
        "r", "alpha_ratio", "epochs", "steps", "batch_size", "max_length", "lora_rank", "parameters", "lora",
        "randlora", "full", "max_train_examples", "split_seed", "positive_class", "timezone", "currency",
        "gpu_hourly_price", "sparse", "implementation", "projection_prng_key", "device", "<<"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | st.sampled_from(KEYS))
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                     | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10) | st.integers(), inner, max_size=6),
                     max_leaves=40)
VALID: dict[str, Any] = {
    "name": "p", "model": "some/model", "data": {"train": "t.jsonl", "test_fraction": 0.2},
    "methods": [{"method": "lora"}, {"method": "randlora"}, {"method": "full"}],
    "training": {"epochs": 1}, "seeds": [0, 1],
}


def _grafted(path: list[str | int], value: Any) -> dict[str, Any]:
    """The valid recipe with the node at `path` replaced by `value`: the path is followed while it
    exists (a list takes an int step modulo its length, else its first item), then set there."""
    out = copy.deepcopy(VALID)
    node: Any = out
    for step in path[:-1]:
        child = node.get(step) if isinstance(node, dict) else node[step % len(node) if isinstance(step, int) else 0]
        if not isinstance(child, (dict, list)) or not child:
            break
        node = child
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    else:
        node[last % len(node) if isinstance(last, int) else 0] = value
    return out


DOCUMENTS = (
    TREES.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True))
    | st.builds(_grafted, st.lists(st.sampled_from(KEYS) | st.integers(0, 3), min_size=1, max_size=4), TREES)
    .map(lambda tree: yaml.safe_dump(tree, allow_unicode=True))
    | st.text(max_size=300)
)


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            recipe = load_recipe(path)
        except RecipeError as error:
            line = str(error)
            assert "\n" not in line and line.startswith(f"{path}: "), line
            assert len(line) <= len(str(path)) + 2 + MAX_LINE + 20, line  # + " [+N more]"
        else:
            assert isinstance(recipe, Recipe)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_any_document_gives_a_recipe_or_one_recipe_error_line(text: str) -> None:
    _check(text)


def test_the_valid_base_document_loads() -> None:
    """The property is not vacuous: the document the grafts start from is a recipe."""
    _check(yaml.safe_dump(VALID))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.yaml"
        path.write_text(yaml.safe_dump(VALID))
        assert load_recipe(path).seeds == [0, 1]
