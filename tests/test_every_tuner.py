"""Every tuner the installed peft ships, planned or refused truthfully on a tiny BERT and a tiny Llama; counts
made off the meta device where peft cannot build a tuner there; knob conflicts cleared; counts kept on disk.

The walk prints its table (`pytest -s tests/test_every_tuner.py`): docs/benchmarks.md holds it for peft 0.21.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peft
import pytest
from peft.utils import PeftType
from pydantic import ValidationError
from transformers import AutoModelForSequenceClassification, BertConfig, LlamaConfig

from poc_cli import tuner_count
from poc_cli.budget import allocate
from poc_cli.errors import RecipeError
from poc_cli.methods import get_method
from poc_cli.modelhub import Architecture, describe
from poc_cli.peft_configs import integer_fields
from poc_cli.recipe import DataSpec, Recipe
from poc_cli.tasks.causal_lm import CausalLM
from poc_cli.tasks.text_classification import TextClassification

DATA = DataSpec(train="t", test="t")
BERT = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100,
                  num_labels=2)
LLAMA = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                    intermediate_size=64, vocab_size=100)
MODELS = {"bert": (TextClassification(DATA), BERT), "llama": (CausalLM(DATA), LLAMA)}
# What a refusal may say: each is a true reason (the method's kind, peft's own words, or a knob that sizes nothing).
TRUE_REASONS = ("does not adapt layers", "peft refused it", "does not change")


def _arch(kind: str) -> tuple[Any, Architecture]:
    task, config = MODELS[kind]
    return task, describe(task.skeleton(config), None, task)


def _recipe(task: Any, method: dict[str, Any]) -> Recipe:
    return Recipe.model_validate({"name": "w", "model": "m", "task": task.name, "data": {"train": "t", "test": "t"},
                                  "budget": {"lora_rank": 8}, "methods": [method]})


def _knob(config: type) -> str | None:
    """The knob a new user would try first: r where the tuner has it, else its first integer field."""
    fields = integer_fields(config)
    return "r" if "r" in fields else (fields[0] if fields else None)


def walk(kind: str) -> dict[str, tuple[str, str]]:
    """Every config class peft exports -> (outcome, detail): fits / off budget / refused."""
    task, arch = _arch(kind)
    out = {}
    for peft_type in PeftType:
        config = peft.PEFT_TYPE_TO_CONFIG_MAPPING[peft_type]
        method: dict[str, Any] = {"method": "peft", "config": config.__name__, "off_budget": True}
        if (knob := _knob(config)) is not None:
            method["knob"] = knob
        try:
            allocation = allocate(_recipe(task, method), arch)[0]
        except ValidationError as error:
            out[config.__name__] = ("refused", str(error.errors()[0]["msg"]).removeprefix("Value error, "))
        except RecipeError as error:
            out[config.__name__] = ("refused", str(error))
        else:
            setting = f"{knob}={allocation.r}, " if knob else "no knob, "
            share = f"{allocation.adapter_parameters / allocation.budget:.1%} of the budget"
            out[config.__name__] = ("off budget" if allocation.off_budget else "fits", setting + share)
    return out


@pytest.fixture(scope="module")
def walked() -> dict[str, dict[str, tuple[str, str]]]:
    return {kind: walk(kind) for kind in MODELS}


def test_every_tuner_is_planned_or_refused_truthfully(walked: dict[str, dict[str, tuple[str, str]]]) -> None:
    for kind, table in walked.items():
        print(f"\n{kind}: {len(table)} tuners")
        for name, (outcome, detail) in sorted(table.items()):
            print(f"| {name} | {outcome} | {detail} |")
        assert len(table) == len(list(PeftType))
        for name, (outcome, detail) in table.items():
            assert "\n" not in detail, (name, detail)
            if outcome == "refused":
                assert any(reason in detail for reason in TRUE_REASONS), (name, detail)
            if outcome == "fits":
                assert abs(float(detail.split(", ")[-1].split("%")[0]) - 100) <= 5, (name, detail)
        # The top of peft's own method comparison fits LoRA rank 8's budget exactly or within the tolerance.
        for name in ("LoraConfig", "ShiraConfig", "HiraConfig", "GraloraConfig", "LoHaConfig", "DeloraConfig"):
            assert table[name][0] == "fits", (kind, name, table[name])
        assert table["PromptTuningConfig"][0] == "refused" and "does not adapt layers" in table["PromptTuningConfig"][1]
        assert table["OFTConfig"][0] != "refused", table["OFTConfig"]  # knob r: oft_block_size cleared by poc
        # A knob that sizes nothing names the fields that do.
        assert table["UniLoraConfig"][0] == "refused" and "name one that does: theta_d_length" in table["UniLoraConfig"][1]
        assert table["TinyLoraConfig"][0] == "refused" and "name one that does: u" in table["TinyLoraConfig"][1]
        # peft refused every value for its own reason, and poc says which.
        assert "must be divisible by `vector_length`" in table["VBLoRAConfig"][1]
    # FourierFT's n_frequency stops at the smallest targeted layer (k_proj: 32x16 = 512): the closest it comes.
    assert walked["llama"]["FourierFTConfig"] == ("off budget", "n_frequency=512, 87.5% of the budget")


def test_shira_counted_off_the_meta_device_equals_peft_on_a_real_model() -> None:
    """peft cannot build SHiRA on the meta device (`torch.nonzero`): poc counts it on the targeted layers
    materialised on the CPU, says so in the plan's notes, and the count is peft's on a real model."""
    task, arch = _arch("bert")
    recipe = _recipe(task, {"method": "peft", "config": "ShiraConfig", "knob": "r"})
    allocation = allocate(recipe, arch)[0]
    spec = recipe.methods[0]
    real = AutoModelForSequenceClassification.from_config(BERT)
    built = get_method("peft").apply(real, spec=spec, r=allocation.r, arch=arch, seed=0)
    assert built.get_nb_trainable_parameters()[0] == allocation.trainable_parameters
    assert abs(allocation.deviation) <= 0.05
    notes = get_method("peft").notes(arch, spec, allocation.r)
    assert any("materialised on the CPU" in note and "ShiraConfig" in note for note in notes), notes
    assert not any(p.device.type == "cpu" for p in arch.skeleton.parameters())  # the skeleton stays on meta


def test_oft_with_knob_r_has_its_block_size_cleared_and_said() -> None:
    task, arch = _arch("bert")
    recipe = _recipe(task, {"method": "peft", "config": "OFTConfig", "knob": "r", "off_budget": True})
    allocation = allocate(recipe, arch)[0]
    assert allocation.settings["oft_block_size"] == 0 and allocation.r is not None
    assert get_method("peft").notes(arch, recipe.methods[0], allocation.r) == [
        "oft: poc sets oft_block_size: 0 (peft takes r or oft_block_size, not both; r is the knob)"]
    # What the recipe sets itself wins: peft's own refusal then names the pair.
    with pytest.raises(ValidationError, match="oft_block_size"):
        _recipe(task, {"method": "peft", "config": "OFTConfig", "knob": "r", "options": {"oft_block_size": 8}})


def test_counts_are_kept_on_disk_and_a_changed_config_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(tuner_count, "_memory", {})
    task, arch = _arch("llama")
    loha = {"method": "peft", "config": "LoHaConfig", "knob": "r"}
    first = allocate(_recipe(task, loha), arch)[0]
    files = list((tmp_path / "poc" / "counts").glob("*.json"))
    assert len(files) == 1
    measured: list[Any] = []
    real_measure = tuner_count._measure
    monkeypatch.setattr(tuner_count, "_measure", lambda *a: measured.append(a) or real_measure(*a))
    monkeypatch.setattr(tuner_count, "_memory", {})  # a new process: only the disk knows
    _, fresh = _arch("llama")  # a new skeleton object of the same architecture
    assert allocate(_recipe(task, loha), fresh)[0] == first and measured == []
    allocate(_recipe(task, {**loha, "options": {"alpha": 4}}), fresh)  # another config: counted again
    assert measured and len(list((tmp_path / "poc" / "counts").glob("*.json"))) == 2
    # A damaged cache file is ignored, and rewritten.
    files[0].write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(tuner_count, "_memory", {})
    assert allocate(_recipe(task, loha), fresh)[0] == first


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(tuner_count, "_memory", {})
    task, arch = _arch("bert")
    assert allocate(_recipe(task, {"method": "peft", "config": "LoHaConfig", "knob": "r"}), arch)[0].r == 4


def test_a_different_architecture_never_reads_anothers_counts() -> None:
    """Keyed by the architecture's shapes, not the skeleton object's id (a freed id is reused)."""
    task, arch = _arch("bert")
    wider = describe(task.skeleton(BertConfig(**{**BERT.to_dict(), "hidden_size": 64, "intermediate_size": 128})),
                     None, task)
    assert tuner_count.fingerprint(arch) != tuner_count.fingerprint(wider)


def test_a_generic_tuners_grid_spans_two_decades_around_its_centre() -> None:
    """A tuner with a source's rate is searched around it (DeLoRA: 10x LoRA's), any other around LoRA's default;
    log-spaced, two decades end to end, and `poc plan` would show these points."""
    from poc_cli.methods.lora import LoraSpec
    from poc_cli.methods.peft_tuner import PeftSpec

    delora = PeftSpec(method="peft", config="DeloraConfig", knob="r").default_lrs
    loha = PeftSpec(method="peft", config="LoHaConfig", knob="r").default_lrs
    assert delora == (5e-3, 1.5e-2, 5e-2, 1.5e-1, 5e-1)
    assert loha == (5e-4, 1.5e-3, 5e-3, 1.5e-2, 5e-2) and LoraSpec.DEFAULT_LR in loha
    for grid in (delora, loha):
        assert grid[-1] / grid[0] == pytest.approx(100)  # two decades end to end
        ratios = [b / a for a, b in zip(grid, grid[1:])]
        assert all(2.5 <= ratio <= 3.5 for ratio in ratios), ratios  # log-spaced, no rate twice
