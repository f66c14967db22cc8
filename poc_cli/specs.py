"""The building blocks of recipe sections: strict nodes, bounded numbers, and the base of a method's spec.

A light module of its own because both the recipe and every method module (each declares its own spec,
defaults and grid beside its count, fit and apply) build on it, and neither may import the other's tree.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from poc_cli.errors import clip

MAX_SEED = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit


def _number(value: Any) -> Any:
    """YAML's `true` is not a number (pydantic would read it as 1.0)."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true/false")  # noqa: TRY004 - pydantic reports ValueError
    return value


# Numbers as YAML writes them, with bounds a user could defend: a whole-number field takes only
# an integer (not `true`, `3.0` or "3"); every float is finite (no .inf or .nan, see `Strict`).
Number = Annotated[float, BeforeValidator(_number)]
Seed = Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]
Rank = Annotated[int, Field(strict=True, ge=1, le=4096)]
Epochs = Annotated[int, Field(strict=True, ge=1, le=1000)]
Steps = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
BatchSize = Annotated[int, Field(strict=True, ge=1, le=65_536)]  # and at most the train split (checked by the plan)
Examples = Annotated[int, Field(strict=True, ge=1, le=10**9)]
LearningRate = Annotated[Number, Field(gt=0, le=1)]
AlphaRatio = Annotated[Number, Field(gt=0, le=1000)]
Amount = Annotated[Number, Field(ge=0, le=1e12)]  # money, counts of items: large but finite
# GPUs one job spans (one process per GPU, FSDP2 across them; processes on a CPU), or `auto`: the plan's sizing.
GpusPerJob = Annotated[int, Field(strict=True, ge=1, le=64)] | Literal["auto"]


class Strict(BaseModel):
    """Base for every recipe node: immutable, unknown keys rejected with the allowed list,
    floats finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = sorted(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                close = difflib.get_close_matches(unknown[0], allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown key {clip(unknown[0], 40)!r}{hint}; allowed: {', '.join(allowed)}")
        return data


LrValues = Annotated[list[LearningRate], Field(min_length=1, max_length=20)]
AlphaValues = Annotated[list[AlphaRatio], Field(min_length=1, max_length=20)]


class ReferenceBase(Strict):
    """A reference row the plan adds (not written under `methods`): named by its method, nothing trains."""

    method: str

    @property
    def label(self) -> str:
        return self.method

    @property
    def learning_rate(self) -> None:
        """Nothing trains."""
        return None


class LrGrid(Strict):
    """A method's search grid; a dimension left out takes the method's default grid."""

    lr: LrValues | None = None

    @model_validator(mode="after")
    def _distinct(self) -> LrGrid:
        for key in type(self).model_fields:
            values = getattr(self, key)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"{key}: the grid has repeated values {values}")
        return self


class AlphaGrid(LrGrid):
    """A grid over the learning rate and alpha_ratio (the adapter's alpha = alpha_ratio * r)."""

    alpha_ratio: AlphaValues | None = None


class MethodSpecBase(Strict):
    """What every method's recipe entry has: a display name, a learning rate and its search grid. Each
    method module subclasses it with its own `method` literal and fields, and declares beside them the
    rate it trains at by default and the grid a search tries, each with where it comes from."""

    DEFAULT_LR: ClassVar[float]
    GRID: ClassVar[dict[str, tuple[float, ...]]]  # "lr", and "alpha_ratio" for a method that searches it

    name: str | None = Field(default=None, min_length=1, max_length=64)
    lr: LearningRate | None = None
    # With the top-level `search` on: absent or `true` = the method's default grid, a mapping =
    # that grid, `false` = not searched (the method keeps `lr`, else its default).
    search: LrGrid | Literal[False] | None = None
    # This method's GPUs per job, over `training.gpus_per_job` (full fine-tuning outgrows a GPU first).
    gpus_per_job: GpusPerJob | None = None

    @field_validator("search", mode="before")
    @classmethod
    def _true_is_default_grid(cls, value: Any) -> Any:
        return {} if value is True else value

    @property
    def label(self) -> str:
        """The name shown in tables: the user's `name`, else the method id."""
        return self.name or self.method  # type: ignore[attr-defined]

    @property
    def learning_rate(self) -> float:
        """The recipe's learning rate, else the method's documented default."""
        return self.lr if self.lr is not None else self.DEFAULT_LR

    @property
    def default_lrs(self) -> tuple[float, ...]:
        """The learning rates a search tries when the recipe gives no grid."""
        return self.GRID["lr"]
