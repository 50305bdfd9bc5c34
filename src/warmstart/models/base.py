"""The Backbone contract: inputs -> Features, plus layer groups in depth order for strategies.

A backbone knows nothing about labels, heads or losses. Everything a checkpoint needs to rebuild it
is in `spec()` (JSON-able), which is written to backbone.json next to backbone.safetensors.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from warmstart.types import Batch, Features


class Backbone(nn.Module):
    """Base class for every backbone in BACKBONES."""

    kind: str = ""  # registry key; set by each subclass
    feature_dim: int

    def forward(self, batch: Batch) -> Features:  # pragma: no cover - abstract
        raise NotImplementedError

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters in depth order, input side first (embeddings, block 0, ..., final norm).
        Every parameter appears in exactly one group. Strategies use this for discriminative LRs,
        partial freezing and gradual unfreezing."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """JSON-able hyperparameters that `from_spec` needs to rebuild this backbone (random init)."""
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Backbone":
        raise NotImplementedError

    @classmethod
    def tiny(cls) -> "Backbone":
        """A few-thousand-parameter instance for contract tests (runs in milliseconds on CPU)."""
        raise NotImplementedError

    def example_batch(self, batch_size: int = 4) -> Batch:
        """A random batch this backbone accepts, for contract tests."""
        raise NotImplementedError

    # Text backbones also expose the token embedding matrix so LM heads can tie to it.
    def input_embeddings(self) -> nn.Embedding:
        raise NotImplementedError(f"{type(self).__name__} has no token embeddings")


def check_layer_groups(backbone: Backbone) -> None:
    """Assert every parameter is in exactly one layer group (used by tests and at build time)."""
    grouped = [p for g in backbone.layer_groups() for p in g]
    ids = [id(p) for p in grouped]
    all_ids = {id(p) for p in backbone.parameters()}
    assert len(ids) == len(set(ids)), "a parameter appears in two layer groups"
    assert set(ids) == all_ids, "layer groups do not cover every parameter"
