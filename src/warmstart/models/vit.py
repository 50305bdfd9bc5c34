"""A Vision Transformer (Dosovitskiy et al. 2021): images -> patch tokens -> encoder -> (B, D).

Wraps transformers' ViTModel built from a small config (no pooler layer: we pool ourselves), like
models/transformer.py wraps GPT-2 and BERT. The pooled feature is the [CLS] token or the mean of
the patch tokens, both after ViT's final LayerNorm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.models.base import Backbone
from warmstart.types import Features, ImageBatch

if TYPE_CHECKING:
    from warmstart.config import schema  # schema.ViTModel: transformers has a ViTModel too


def _vit_config(input_shape: tuple[int, ...], patch_size: int, n_layers: int, d_model: int, n_heads: int,
                d_ff: int, dropout: float):
    from transformers import ViTConfig

    c, h, w = input_shape
    if h % patch_size or w % patch_size:
        raise ConfigError(f"model.patch_size ({patch_size}) must divide the image size ({h}x{w})")
    if d_model % n_heads:
        raise ConfigError(f"model.d_model ({d_model}) must be divisible by model.n_heads ({n_heads})")
    return ViTConfig(image_size=[h, w], patch_size=patch_size, num_channels=c, hidden_size=d_model,
                     num_hidden_layers=n_layers, num_attention_heads=n_heads, intermediate_size=d_ff,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


class ViTBackbone(Backbone):
    """transformers.ViTModel behind the Backbone contract; state-dict keys are `model.<HF name>`.

    Layer groups: patch/position embeddings, one group per encoder block, the final LayerNorm.
    """

    kind = "vit"

    def __init__(self, model: nn.Module, pool: str = "cls"):
        super().__init__()
        self.model, self.pool = model, pool
        cfg = model.config
        self.feature_dim = int(cfg.hidden_size)
        size = cfg.image_size if isinstance(cfg.image_size, (list, tuple)) else [cfg.image_size] * 2
        self.input_shape = (int(cfg.num_channels), int(size[0]), int(size[1]))

    @classmethod
    def build(cls, input_shape: tuple[int, ...], patch_size: int, n_layers: int, d_model: int, n_heads: int,
              d_ff: int | None = None, dropout: float = 0.0, pool: str = "cls") -> "ViTBackbone":
        from transformers import ViTModel

        config = _vit_config(tuple(input_shape), patch_size, n_layers, d_model, n_heads, d_ff or 4 * d_model, dropout)
        return cls(ViTModel(config, add_pooling_layer=False), pool)

    @classmethod
    def from_config(cls, cfg: schema.ViTModel, input_shape: tuple[int, ...]) -> "ViTBackbone":
        if len(input_shape) != 3:
            raise ConfigError(f"model.kind=vit needs image data (C, H, W), got inputs of shape {tuple(input_shape)}")
        return cls.build(input_shape, cfg.patch_size, cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout,
                         cfg.pool)

    def forward(self, batch: ImageBatch) -> Features:
        hidden = self.model(pixel_values=batch["pixels"]).last_hidden_state  # (B, 1 + n_patches, D)
        pooled = hidden[:, 0] if self.pool == "cls" else hidden[:, 1:].mean(1)  # (B, D)
        return Features(tokens=None, pooled=pooled)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Everything registered before the encoder blocks (embeddings), each block, then the rest
        (final LayerNorm). The blocks are the model's largest ModuleList, whatever its HF name."""
        blocks = max((m for m in self.model.modules() if isinstance(m, nn.ModuleList)),
                     key=lambda m: sum(p.numel() for p in m.parameters()))
        block_of = {id(p): i for i, block in enumerate(blocks) for p in block.parameters()}
        before, after, per_block = [], [], [[] for _ in blocks]
        for p in self.model.parameters():  # registration order is depth order for HF models
            if id(p) in block_of:
                per_block[block_of[id(p)]].append(p)
            else:
                (after if any(per_block) else before).append(p)
        return [g for g in [before, *per_block, after] if g]

    def check_input_shape(self, shape: tuple[int, ...]) -> str | None:
        """Position embeddings fix the image size: inputs must match it exactly."""
        if tuple(shape) != self.input_shape:
            return f"the backbone expects images of shape {self.input_shape} (C, H, W), got {tuple(shape)}"
        return None

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "pool": self.pool, "hf_config": self.model.config.to_dict()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "ViTBackbone":
        from transformers import ViTConfig, ViTModel

        cfg = {k: v for k, v in spec["hf_config"].items() if k != "model_type"}
        return cls(ViTModel(ViTConfig(**cfg), add_pooling_layer=False), spec["pool"])

    @classmethod
    def tiny(cls) -> "ViTBackbone":
        return cls.build((1, 8, 8), patch_size=4, n_layers=2, d_model=16, n_heads=2, d_ff=32)

    def example_batch(self, batch_size: int = 4) -> ImageBatch:
        return {"pixels": torch.randn(batch_size, *self.input_shape)}
