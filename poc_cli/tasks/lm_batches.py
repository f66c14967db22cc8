"""A causal LM's examples as batches: prompt and response ids, the loss's labels and generation's prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

IGNORE = -100  # label of tokens the loss skips (the prompt, the padding)


@dataclass(frozen=True)
class Example:
    """One tokenised example: prompt ids, response ids (truncated to fit), the reference text."""

    prompt: list[int]
    response: list[int]
    reference: str
    choices: tuple[str, ...] | None


class Examples(Dataset):
    """A split's examples, with what encoding them cut: truncated responses and dropped prompts."""

    def __init__(self, examples: list[Example], *, truncated: int = 0, dropped: int = 0) -> None:
        self.examples = examples
        self.truncated = truncated  # responses cut short at max_length
        self.dropped = dropped  # prompts that left no room for any of the response

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]


class Collate:
    """Right-padded prompt + response with labels for the loss; left-padded prompts for generation."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, items: list[Example]) -> dict[str, torch.Tensor]:
        full = [e.prompt + e.response for e in items]
        width = max(len(f) for f in full)
        ids = torch.full((len(items), width), self.pad_id)
        labels = torch.full((len(items), width), IGNORE)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for i, e in enumerate(items):
            ids[i, : len(full[i])] = torch.tensor(full[i])
            labels[i, len(e.prompt): len(full[i])] = torch.tensor(e.response)
            mask[i, : len(full[i])] = 1
        left = max(len(e.prompt) for e in items)
        prompt_ids = torch.full((len(items), left), self.pad_id)
        prompt_mask = torch.zeros((len(items), left), dtype=torch.long)
        for i, e in enumerate(items):
            prompt_ids[i, left - len(e.prompt):] = torch.tensor(e.prompt)
            prompt_mask[i, left - len(e.prompt):] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "prompt_ids": prompt_ids,
                "prompt_mask": prompt_mask}
