"""The plan's warm-up sizes a job by its worst batches: the longest training examples, and evaluation
inside the same peak (on CPU the peak is the host RSS of the plan's own process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FILLER, make_examples, recipe_dict, write_jsonl, write_recipe
from poc_cli.estimate import _measure, longest
from poc_cli.hardware import Precision
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.tasks import task_for
from poc_cli.tasks.text_classification import TextClassification

CPU = torch.device("cpu")
EVAL_BLOCK_MIB = 600


@pytest.fixture(scope="module")
def uneven_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The learnable task with four training examples much longer than the others."""
    folder = tmp_path_factory.mktemp("uneven")
    rows = make_examples(96, seed=1)
    for i in (5, 33, 60, 90):
        rows[i] = {**rows[i], "text": rows[i]["text"] + " " + " ".join(FILLER * 4)}
    return {"train": write_jsonl(folder / "train.jsonl", rows),
            "test": write_jsonl(folder / "test.jsonl", make_examples(40, seed=2))}


def _plan(tmp_path: Path, model_dir: Path, data: dict[str, Path]):  # noqa: ANN202
    recipe = recipe_dict(model_dir, data, methods=[{"method": "lora", "lr": 1e-2}],
                         training={"epochs": 1, "batch_size": 4, "eval_batch_size": 8, "max_length": 64})
    return make_plan(load_recipe(write_recipe(tmp_path / "r.yaml", recipe)))


def test_longest_takes_the_examples_with_the_most_tokens(tmp_path: Path, tiny_model_dir: Path,
                                                         uneven_data: dict[str, Path]) -> None:
    plan = _plan(tmp_path, tiny_model_dir, uneven_data)
    task = task_for(plan.recipe)
    config = task.config(str(tiny_model_dir), plan.splits.labels)
    encoded = task.encode(plan.splits.train, task.processor(str(tiny_model_dir), config), plan.splits.labels,
                          plan.recipe.training)
    tokens = task.example_tokens(encoded)
    assert tokens is not None and len(tokens) == len(encoded) == 96
    chosen = longest(task, encoded, 4)
    assert sorted(tokens[i] for i in chosen.indices) == sorted(tokens)[-4:]
    assert min(tokens[i] for i in chosen.indices) > max(t for i, t in enumerate(tokens) if i not in chosen.indices)


@pytest.fixture()
def seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The tokens of every batch the task computes a loss of, in order (the warm-up's forwards, counted)."""
    tokens: list[int] = []
    loss = TextClassification.loss
    monkeypatch.setattr(TextClassification, "loss",
                        lambda self, model, batch: tokens.append(int(batch["attention_mask"].sum())) or loss(self, model,
                                                                                                         batch))
    return tokens


def test_the_first_warmup_step_trains_on_the_longest_batch(tmp_path: Path, tiny_model_dir: Path,
                                                           uneven_data: dict[str, Path], seen: list[int]) -> None:
    plan = _plan(tmp_path, tiny_model_dir, uneven_data)
    job = next(j for j in plan.stand_in_runs() if j.allocation.method == "lora")
    _measure(job, task_for(plan.recipe), plan.splits, CPU, Precision("fp32", "cpu"))
    assert len(seen) == 6  # one forward of the 2 longest examples to decide how brief (`_brief`), then 2 + 3 steps
    assert 2 * seen[0] == seen[1] == max(seen) and seen[1] > 2 * seen[2]  # the four long examples first


def test_the_sizing_peak_covers_evaluation(tmp_path: Path, tiny_model_dir: Path, uneven_data: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation that holds 600 MiB more (as generation's cache can) raises the warm-up's peak by
    that much: the peak is one measurement over training and evaluation."""
    plan = _plan(tmp_path, tiny_model_dir, uneven_data)
    job = next(j for j in plan.stand_in_runs() if j.allocation.method == "lora")
    task = task_for(plan.recipe)
    plain, _, _ = _measure(job, task, plan.splits, CPU, Precision("fp32", "cpu"))
    predict = TextClassification.predict

    def heavy(self, model, batches, *, device):  # noqa: ANN001, ANN202
        block = np.ones(EVAL_BLOCK_MIB * 2**20, dtype=np.uint8)  # every page touched
        del block
        return predict(self, model, batches, device=device)

    monkeypatch.setattr(TextClassification, "predict", heavy)
    loaded, _, _ = _measure(job, task, plan.splits, CPU, Precision("fp32", "cpu"))
    assert plain.peak_memory_mib is not None and loaded.peak_memory_mib is not None
    assert loaded.peak_memory_mib - plain.peak_memory_mib == pytest.approx(EVAL_BLOCK_MIB, rel=0.15)


def test_a_slow_forward_makes_the_warmup_brief(tmp_path: Path, tiny_model_dir: Path, uneven_data: dict[str, Path],
                                               seen: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose forward is slow here (a GPU-sized model on a CPU: the threshold lowered to 0 to make the
    tiny one slow) is warmed up on probe batches of 2 typical examples: a step for the set-up, then a step of
    one batch and one of two, whose difference is scaled to the recipe's batch; no peak is reported."""
    import poc_cli.estimate as estimate

    plan = _plan(tmp_path, tiny_model_dir, uneven_data)
    job = next(j for j in plan.stand_in_runs() if j.allocation.method == "lora")
    full, _, _ = _measure(job, task_for(plan.recipe), plan.splits, CPU, Precision("fp32", "cpu"))
    assert not full.brief and len(seen) == 6
    seen.clear()
    monkeypatch.setattr(estimate, "BRIEF_FORWARD_S", 0.0)
    brief, _, _ = _measure(job, task_for(plan.recipe), plan.splits, CPU, Precision("fp32", "cpu"))
    assert brief.brief and len(seen) == 1 + 1 + 1 + 2  # the deciding forward, then 1, 1 and 2 probe batches
    assert seen[0] == max(seen) and len(set(seen[1:])) == 1  # the longest decide; one typical batch is timed
    assert 0 < brief.step_s and 0 < brief.eval_batch_s and brief.peak_memory_mib is None
