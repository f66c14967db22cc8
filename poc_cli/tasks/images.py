"""Image files for the image tasks: folders of classes, paths from tables, decoding with Pillow.

Every image is decoded once when the data is read, before any job starts, so a damaged or
non-image file stops the PoC with its name in a second instead of killing a job an hour in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from poc_cli.data import SourceFile
from poc_cli.errors import RecipeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def open_rgb(path: str) -> Image.Image:
    """The image as RGB (grey, palette and RGBA converted), fully decoded."""
    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


def check_image(path: str, *, field: str) -> None:
    """Decode one image; an unreadable or non-image file is a RecipeError naming it."""
    try:
        open_rgb(path)
    except FileNotFoundError:
        raise RecipeError(f"data.{field}: image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecipeError(f"data.{field}: cannot read image {path}: {first}") from None


def read_image_folder(location: str, field: str) -> tuple[pd.DataFrame, SourceFile]:
    """An ImageFolder: one sub-folder per class, its images inside (sorted, so the order is stable).

    The source hash covers every image's relative path and bytes, so a record says exactly
    which images it was trained on.
    """
    root = Path(location)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise RecipeError(f"data.{field}: {location} is a folder without class sub-folders "
                          "(expected <folder>/<class>/<image>)")
    rows, digest, total = [], hashlib.sha256(), 0
    for folder in classes:
        files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise RecipeError(f"data.{field}: class folder {folder} has no images "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        for file in files:
            raw = file.read_bytes()
            digest.update(f"{file.relative_to(root).as_posix()}\n".encode())
            digest.update(raw)
            total += len(raw)
            rows.append({"image": str(file.absolute()), "label": folder.name})
    return pd.DataFrame(rows), SourceFile(path=str(root), sha256=digest.hexdigest(), bytes=total)


def resolve_images(frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
    """Image paths relative to the table file made absolute, and every image decoded once."""
    base = Path(location).absolute().parent  # a folder's reader gives absolute paths already
    out = frame.copy()
    out["image"] = [str(p if Path(p).is_absolute() else base / p) for p in out["image"]]
    for path in out["image"]:
        check_image(path, field=field)
    return out


def square(processor: Any, side: int) -> Any:
    """The image processor resizing (and cropping, where it crops) to a `side` x `side` square."""
    size = dict(getattr(processor, "size", None) or {})
    processor.size = {"shortest_edge": side} if "shortest_edge" in size and "height" not in size else {
        "height": side, "width": side}
    if getattr(processor, "crop_size", None):
        processor.crop_size = {"height": side, "width": side}
    if hasattr(processor, "crop_pct"):  # ConvNeXt's: resize to side / crop_pct, then crop, below 384
        processor.crop_pct = 1.0
    return processor


class ImageDataset(Dataset):
    """Decodes and preprocesses each image when a batch asks for it (nothing held in memory)."""

    def __init__(self, paths: list[str], labels: list[int], label_names: tuple[str, ...],
                 image_processor) -> None:  # noqa: ANN001
        self.paths = paths
        self.labels = labels
        self.label_names = label_names
        self.image_processor = image_processor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        pixels = self.image_processor(images=open_rgb(self.paths[index]), return_tensors="pt")["pixel_values"][0]
        return {"pixel_values": pixels, "labels": self.labels[index]}


def image_dataset(frame: pd.DataFrame, image_processor, labels: tuple[str, ...]) -> ImageDataset:  # noqa: ANN001
    """A split's images with their label ids."""
    index = {label: i for i, label in enumerate(labels)}
    return ImageDataset(frame["image"].tolist(), [index[label] for label in frame["label"]], labels, image_processor)


def stack(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stacked pixel values and label ids."""
    return {"pixel_values": torch.stack([i["pixel_values"] for i in items]),
            "labels": torch.tensor([i["labels"] for i in items])}


def image_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int,
                 collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]] = stack) -> DataLoader:
    """Batches of `collate`d images; the order is drawn from `seed`."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed),
                      collate_fn=collate)


class ImageInputs:
    """What every image task reads: an `image` column of paths (or a folder of classes), decoded up front.

    A mixin for `Task` subclasses; it fills in their data declaration and checks.
    """

    folder_reader = staticmethod(read_image_folder)

    def columns(self) -> dict[str, str]:
        return {"image": "image_column"}

    def finish_split(self, frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
        return resolve_images(frame, location=location, field=field)
