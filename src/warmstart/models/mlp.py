"""A multilayer perceptron for numeric feature vectors (B, F), or flattened images (B, C*H*W).

n_layers of Linear -> GELU -> Dropout, then a final LayerNorm, so the pooled features are on a
fixed scale for linear probes and heads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from warmstart.models.base import Backbone
from warmstart.types import Batch, Features

if TYPE_CHECKING:
    from warmstart.config.schema import MLPModel


class MLPBackbone(Backbone):
    """features (B, F) or pixels (B, C, H, W) -> (B, d_model).

    Layer groups: each hidden layer in depth order, then the final LayerNorm.
    """

    kind = "mlp"

    def __init__(self, input_shape: tuple[int, ...], n_layers: int = 2, d_model: int = 128, dropout: float = 0.0):
        super().__init__()
        self.input_shape, self.n_layers, self.d_model, self.dropout = tuple(input_shape), n_layers, d_model, dropout
        d_in = math.prod(self.input_shape)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(d_in if i == 0 else d_model, d_model), nn.GELU(), nn.Dropout(dropout))
            for i in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.feature_dim = d_model

    @classmethod
    def from_config(cls, cfg: MLPModel, input_shape: tuple[int, ...]) -> "MLPBackbone":
        return cls(tuple(input_shape), cfg.n_layers, cfg.d_model, cfg.dropout)

    def forward(self, batch: Batch) -> Features:
        x = batch["features"] if "features" in batch else batch["pixels"].flatten(1)  # (B, F)
        for layer in self.layers:
            x = layer(x)  # (B, D)
        return Features(tokens=None, pooled=self.norm(x))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [list(layer.parameters()) for layer in self.layers] + [list(self.norm.parameters())]

    def check_input_shape(self, shape: tuple[int, ...]) -> str | None:
        """The first layer fixes the number of input values."""
        if math.prod(shape) != math.prod(self.input_shape):
            return f"the backbone expects inputs of shape {self.input_shape}, got {tuple(shape)}"
        return None

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "input_shape": list(self.input_shape), "n_layers": self.n_layers,
                "d_model": self.d_model, "dropout": self.dropout}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "MLPBackbone":
        return cls(tuple(spec["input_shape"]), spec["n_layers"], spec["d_model"], spec["dropout"])

    @classmethod
    def tiny(cls) -> "MLPBackbone":
        return cls((10,), n_layers=2, d_model=16)

    def example_batch(self, batch_size: int = 4) -> Batch:
        key = "pixels" if len(self.input_shape) == 3 else "features"
        return {key: torch.randn(batch_size, *self.input_shape)}
