"""A small ResNet-style CNN: images (B, C, H, W) -> global-average-pooled features (B, D).

Basic residual blocks (two 3x3 convolutions, He et al. 2016) in stages of configurable width and
depth; every stage after the first halves the resolution. The stem keeps full resolution (no 7x7
stride-2 conv, no max-pool), which suits small images such as 8x8 digits or 32x32 photos.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.models.base import Backbone
from warmstart.types import Features, ImageBatch

if TYPE_CHECKING:
    from warmstart.config.schema import ResNetModel


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    # GroupNorm does not depend on the batch: useful with tiny batches. Up to 8 groups that divide C.
    groups = max(g for g in (1, 2, 4, 8) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    """conv3x3-norm-ReLU-conv3x3-norm plus a skip connection (a strided 1x1 projection when the
    shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = _norm(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = _norm(norm, c_out)
        self.skip = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _norm(norm, c_out))
        # Zero-init the last norm's scale (Goyal et al. 2017): each block starts as the identity,
        # which makes deeper stacks train like shallow ones at first.
        nn.init.zeros_(self.norm2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(h)) + self.skip(x))


class ResNetBackbone(Backbone):
    """Stem conv, then len(widths) stages of n_blocks basic blocks, then a global average pool.

    feature_dim = widths[-1]. Layer groups: the stem, then one group per stage.
    """

    kind = "resnet"

    def __init__(self, in_channels: int, widths: list[int], n_blocks: int = 1, norm: str = "batch"):
        super().__init__()
        self.in_channels, self.widths, self.n_blocks, self.norm = in_channels, list(widths), n_blocks, norm
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), _norm(norm, widths[0]),
                                  nn.ReLU())
        stages, c_in = [], widths[0]
        for i, c_out in enumerate(widths):
            blocks = [BasicBlock(c_in if b == 0 else c_out, c_out, 2 if (i > 0 and b == 0) else 1, norm)
                      for b in range(n_blocks)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.feature_dim = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He init for ReLU nets, scaled by fan_out as in torchvision's ResNet.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @classmethod
    def from_config(cls, cfg: ResNetModel, input_shape: tuple[int, ...]) -> "ResNetBackbone":
        if len(input_shape) != 3:
            raise ConfigError(f"model.kind=resnet needs image data (C, H, W), got inputs of shape {tuple(input_shape)}")
        return cls(input_shape[0], cfg.widths, cfg.n_blocks, cfg.norm)

    def forward(self, batch: ImageBatch) -> Features:
        h = self.stem(batch["pixels"])  # (B, widths[0], H, W)
        for stage in self.stages:
            h = stage(h)  # (B, widths[i], H / 2^i, W / 2^i)
        return Features(tokens=None, pooled=h.mean(dim=(2, 3)))  # (B, D) global average pool

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(self.stem.parameters())] + [list(stage.parameters()) for stage in self.stages]

    def check_input_shape(self, shape: tuple[int, ...]) -> str | None:
        """None if this backbone accepts inputs of `shape`, else why not. Any image size works."""
        if len(shape) != 3 or shape[0] != self.in_channels:
            return f"the backbone expects images with {self.in_channels} channel(s), got inputs of shape {tuple(shape)}"
        return None

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "in_channels": self.in_channels, "widths": self.widths,
                "n_blocks": self.n_blocks, "norm": self.norm}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "ResNetBackbone":
        return cls(spec["in_channels"], spec["widths"], spec["n_blocks"], spec["norm"])

    @classmethod
    def tiny(cls) -> "ResNetBackbone":
        return cls(in_channels=1, widths=[4, 8], n_blocks=1)

    def example_batch(self, batch_size: int = 4) -> ImageBatch:
        return {"pixels": torch.randn(batch_size, self.in_channels, 8, 8)}
