"""`task: causal-lm`: instruction tuning of a decoder LLM, scored by what it generates.

Data: a prompt and a response column, or a column of chat messages (the last one, the
assistant's, is the response). The tokenizer's chat template is applied when it has one.
The loss covers response tokens only (prompt tokens get label -100). Sequences longer
than `training.max_length` lose the end of their response (counted); an example whose
prompt leaves no room for any of its response is dropped (counted, and said by the plan).

Evaluation on the test split: greedy generation scored by exact match and contains-match
after whitespace and case normalisation; with a `choices` column, multiple choice by the
log-likelihood of each choice; the mean loss and perplexity of the responses; and
forgetting, the change in mean loss on a fixed general-text sample (BBC News passages)
between the untrained and the trained model, as peft's method_comparison measures it.
`lm_head` and the embeddings belong to the pretrained model: PEFT methods leave them
frozen, full fine-tuning trains them, and there is no new head.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig

from poc_cli.errors import RecipeError
from poc_cli.tasks.base import Metric, Task, text_positions
from poc_cli.tasks.lm_batches import IGNORE, Collate, Example, Examples

if TYPE_CHECKING:
    from poc_cli.data import Splits
    from poc_cli.recipe import TrainingSpec

EXACT_MATCH = Metric("exact_match", "fraction", higher_is_better=True, per_example=True)
CONTAINS = Metric("contains", "fraction", higher_is_better=True, per_example=True)
CHOICE = Metric("choice_accuracy", "fraction", higher_is_better=True, per_example=True)
RESPONSE_LOSS = Metric("response_loss", "nats", higher_is_better=False, per_example=True)
PERPLEXITY = Metric("perplexity", "", higher_is_better=False, per_example=False)
FORGETTING = Metric("forgetting", "nats", higher_is_better=False, per_example=False)


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed, ends stripped: what exact match compares."""
    return re.sub(r"\s+", " ", text).strip().lower()


class CausalLM(Task):
    """An `AutoModelForCausalLM`, trained on the responses, scored by generation."""

    name = "causal-lm"
    data_fields = frozenset({"prompt_column", "response_column", "messages_column", "choices_column"})
    reference = "untuned"
    excluded_by_default = ("lm_head",)
    labelled = False
    raw_columns = frozenset({"messages", "choices"})

    @property
    def metrics(self) -> tuple[Metric, ...]:  # type: ignore[override]
        choice = (CHOICE,) if self.spec.choices_column else ()
        return (EXACT_MATCH, CONTAINS, *choice, RESPONSE_LOSS, PERPLEXITY, FORGETTING)

    def columns(self) -> dict[str, str]:
        out = ({"messages": "messages_column"} if self.spec.messages_column
               else {"prompt": "prompt_column", "response": "response_column"})
        if self.spec.choices_column:
            out["choices"] = "choices_column"
        return out

    def finish_split(self, frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
        """Messages and choices as lists (a JSON string in a CSV cell is parsed); choices hold the answer."""
        out = frame.copy()
        for column in self.raw_columns & set(out.columns):
            out[column] = [_as_list(v, column=column, location=location, field=field) for v in out[column]]
        if "messages" in out:
            for row, messages in enumerate(out["messages"]):
                if not all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in messages):
                    raise RecipeError(f"data.messages_column: row {row + 1} of {location} is not a list of "
                                      '{"role": ..., "content": ...} messages')
                if messages[-1]["role"] != "assistant" or not str(messages[-1]["content"]).strip():
                    raise RecipeError(f"data.messages_column: row {row + 1} of {location} does not end with a "
                                      "non-empty assistant message (the response to learn)")
        if "choices" in out:
            for row, (choices, answer) in enumerate(zip(out["choices"], self._responses(out))):
                if normalise(answer) not in {normalise(str(c)) for c in choices}:
                    raise RecipeError(f"data.choices_column: row {row + 1} of {location} ({field}): the reference "
                                      f"answer {answer[:60]!r} is not among its choices")
        return out

    def _responses(self, frame: pd.DataFrame) -> list[str]:
        if "messages" in frame:
            return [str(m[-1]["content"]) for m in frame["messages"]]
        return [str(r) for r in frame["response"]]

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        del labels
        return AutoConfig.from_pretrained(source)

    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)

    def load_model(self, source: str, config: PretrainedConfig, **weights: Any) -> nn.Module:
        return AutoModelForCausalLM.from_pretrained(source, config=config, **weights)

    def processor(self, source: str, config: PretrainedConfig) -> Any:
        del config
        tokenizer = AutoTokenizer.from_pretrained(source)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        del model
        return ()

    def position_limit(self, config: PretrainedConfig) -> int | None:
        return text_positions(config)

    # --- tokenisation --------------------------------------------------------------------------

    def _prompt_ids(self, tokenizer: Any, row: pd.Series) -> list[int]:
        if "messages" in row:
            context = [{"role": m["role"], "content": str(m["content"])} for m in row["messages"][:-1]]
            if tokenizer.chat_template is None:
                raise RecipeError("data.messages_column: the tokenizer has no chat template to format messages; "
                                  "give prompt_column and response_column instead")
            return _ids(tokenizer.apply_chat_template(context, add_generation_prompt=True, tokenize=True))
        if tokenizer.chat_template is not None:
            return _ids(tokenizer.apply_chat_template([{"role": "user", "content": str(row["prompt"])}],
                                                      add_generation_prompt=True, tokenize=True))
        return tokenizer(str(row["prompt"]) + "\n")["input_ids"]

    def _response_ids(self, tokenizer: Any, text: str) -> list[int]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])

    def _encode(self, frame: pd.DataFrame, tokenizer: Any, max_length: int) -> Examples:
        examples, truncated, dropped = [], 0, 0
        for (_, row), reference in zip(frame.iterrows(), self._responses(frame)):
            prompt = self._prompt_ids(tokenizer, row)
            response = self._response_ids(tokenizer, reference)
            room = max_length - len(prompt)
            if room <= 0:
                dropped += 1
                continue
            truncated += len(response) > room
            choices = tuple(str(c) for c in row["choices"]) if "choices" in row else None
            examples.append(Example(prompt, response[:room], reference, choices))
        return Examples(examples, truncated=truncated, dropped=dropped)

    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        del labels
        encoded = self._encode(frame, processor, training.max_length)
        if not len(encoded):
            raise RecipeError(f"training.max_length: {training.max_length} tokens leave no room for any response "
                              "after its prompt; raise it")
        return encoded

    def example_tokens(self, dataset: Dataset) -> list[int] | None:
        """Prompt and response as trained; generation adds up to `max_new_tokens` to the prompt."""
        assert isinstance(dataset, Examples)
        return [len(e.prompt) + max(len(e.response), self.evaluation.max_new_tokens) for e in dataset.examples]

    def data_counts(self, dataset: Dataset) -> dict[str, int]:
        return {"examples": len(dataset), "truncated": dataset.truncated, "dropped": dataset.dropped}  # type: ignore[attr-defined]

    def inspect(self, splits: Splits, source: str, config: PretrainedConfig, training: TrainingSpec) -> list[str]:
        """Tokenise every split once: bad messages and prompts too long for max_length are found here."""
        tokenizer = self.processor(source, config)
        notes = []
        for name in ("train", "validation", "test"):
            frame = getattr(splits, name)
            if frame is None:
                continue
            encoded = self._encode(frame, tokenizer, training.max_length)
            if not len(encoded):
                raise RecipeError(f"training.max_length: {training.max_length} tokens leave no room for the response "
                                  f"of any of the {len(frame):,} {name} examples after its prompt; raise it")
            if encoded.dropped:
                notes.append(f"{name}: {encoded.dropped:,} of {len(frame):,} example(s) dropped: the prompt leaves "
                             f"no room for the response within training.max_length {training.max_length}")
            if encoded.truncated:
                notes.append(f"{name}: {encoded.truncated:,} of {len(frame):,} response(s) truncated at "
                             f"training.max_length {training.max_length}")
        return notes

    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                          generator=torch.Generator().manual_seed(seed), collate_fn=Collate(processor))

    # --- training and scoring ------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     labels=batch["labels"]).loss

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> int:
        """The response tokens the loss is the mean over (labels shifted by one, -100 left out)."""
        return int((batch["labels"][:, 1:] != IGNORE).sum())

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["attention_mask"].sum())

    @torch.no_grad()
    def predict(self, model: nn.Module, batches: DataLoader, *, device: torch.device) -> dict[str, list]:
        """Per example: the greedy generation, its exact and contains match, the response's mean loss and
        token count, and (with choices) the chosen one."""
        model.eval()
        collate: Collate = batches.collate_fn  # type: ignore[assignment]
        tokenizer = collate.tokenizer
        dataset = batches.dataset  # in order: evaluation never shuffles
        out: dict[str, list] = {"generated": [], "reference": [], "response_tokens": []}
        scores: dict[str, list[float]] = {"exact_match": [], "contains": [], "response_loss": []}
        if self.spec.choices_column:
            out["chosen"], scores["choice_accuracy"] = [], []
        start = 0
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            items = [dataset[i] for i in range(start, start + batch["input_ids"].shape[0])]
            start += len(items)
            losses, counts = _response_losses(model, batch)
            scores["response_loss"] += losses
            out["response_tokens"] += counts
            generated = model.generate(input_ids=batch["prompt_ids"], attention_mask=batch["prompt_mask"],
                                       max_new_tokens=self.evaluation.max_new_tokens, do_sample=False,
                                       pad_token_id=collate.pad_id)
            for e, row in zip(items, generated[:, batch["prompt_ids"].shape[1]:]):
                text = tokenizer.decode(row, skip_special_tokens=True)
                out["generated"].append(text)
                out["reference"].append(e.reference)
                scores["exact_match"].append(float(normalise(text) == normalise(e.reference)))
                scores["contains"].append(float(normalise(e.reference) in normalise(text)))
                if e.choices is not None:
                    chosen = _choose(model, tokenizer, e, device)
                    out["chosen"].append(chosen)
                    scores["choice_accuracy"].append(float(normalise(chosen) == normalise(e.reference)))
        out["per_example"] = scores  # type: ignore[assignment]
        return out

    def evaluate(self, predictions: dict[str, list], labels: tuple[str, ...]) -> dict[str, Any]:
        del labels
        per = predictions["per_example"]
        tokens = predictions["response_tokens"]
        mean_loss = sum(l * n for l, n in zip(per["response_loss"], tokens)) / max(sum(tokens), 1)
        out: dict[str, Any] = {"n": len(tokens)}
        for name in ("exact_match", "contains", "choice_accuracy"):
            if name in per:
                out[name] = sum(per[name]) / len(per[name])
        out["response_loss"] = sum(per["response_loss"]) / len(per["response_loss"])
        out["perplexity"] = math.exp(mean_loss)
        return out

    def before_training(self, model: nn.Module, processor: Any, *, device: torch.device) -> float | None:
        """The untrained model's mean loss on the general-text sample."""
        return self._general_loss(model, processor, device)

    def model_metrics(self, model: nn.Module, processor: Any, *, device: torch.device,
                      before: Any) -> dict[str, float]:
        """Forgetting: how much the mean loss on general text rose with training (0 for the untuned model)."""
        after = self._general_loss(model, processor, device)
        if after is None:
            return {}
        return {"general_loss": after, "forgetting": after - (before if before is not None else after)}

    @torch.no_grad()
    def _general_loss(self, model: nn.Module, tokenizer: Any, device: torch.device) -> float | None:
        passages = general_text(self.evaluation.forgetting_passages)
        if not passages:
            return None
        model.eval()
        total = count = 0.0
        for start in range(0, len(passages), GENERAL_BATCH):
            enc = tokenizer(passages[start: start + GENERAL_BATCH], truncation=True, max_length=GENERAL_TOKENS,
                            padding=True, return_tensors="pt").to(device)
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, IGNORE)
            losses, counts = _response_losses(model, {"input_ids": enc["input_ids"],
                                                      "attention_mask": enc["attention_mask"], "labels": labels})
            total += sum(loss * n for loss, n in zip(losses, counts))
            count += sum(counts)
        return total / count


GENERAL_TOKENS = 128  # each general-text passage is cut to this many tokens
GENERAL_BATCH = 16


def general_text(n: int) -> list[str]:
    """A fixed sample of n BBC News passages (all topics, seed 0): the text forgetting is measured on."""
    if n == 0:
        return []
    from poc_cli.data import BUILTIN_CORPORA

    frame, _ = BUILTIN_CORPORA["bbc_news"]()
    return frame.sample(n=min(n, len(frame)), random_state=0)["text"].tolist()


def _as_list(value: Any, *, column: str, location: str, field: str) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if hasattr(value, "tolist"):  # parquet gives numpy arrays
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise RecipeError(f"data.{column}_column: {location} ({field}) has a {column} cell that is not a "
                          "non-empty list")
    return value


def _ids(tokens: Any) -> list[int]:
    """apply_chat_template's ids, whether it returned a list or an encoding."""
    if isinstance(tokens, list):
        return tokens
    return list(tokens["input_ids"])


def _response_losses(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[list[float], list[int]]:
    """Per example: the mean cross-entropy of its labelled tokens and how many there are."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    labels = batch["labels"][:, 1:]
    token_loss = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
    counts = (labels != IGNORE).sum(dim=1)
    sums = token_loss.sum(dim=1)
    return [float(s / max(int(n), 1)) for s, n in zip(sums, counts)], [int(n) for n in counts]


@torch.no_grad()
def _choose(model: nn.Module, tokenizer: Any, example: Example, device: torch.device) -> str:
    """The choice with the highest log-likelihood after the prompt (summed over its tokens)."""
    assert example.choices is not None
    rows = [example.prompt + tokenizer(c, add_special_tokens=False)["input_ids"] for c in example.choices]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, len(example.prompt): len(r)] = torch.tensor(r[len(example.prompt):])
        mask[i, : len(r)] = 1
    losses, counts = _response_losses(model, {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                                              "labels": labels.to(device)})
    loglik = [-loss * n for loss, n in zip(losses, counts)]
    return example.choices[max(range(len(rows)), key=lambda i: loglik[i])]
