"""Data contracts passed between stages: what a loader yields (Batch), what a backbone returns
(Features), and what an objective or task returns to the training loop (StepOutput)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import torch


class TextBatch(TypedDict, total=False):
    input_ids: torch.Tensor  # (B, T) int64
    attention_mask: torch.Tensor  # (B, T) int64, 1 = real token, 0 = padding
    labels: torch.Tensor  # (B,) class ids, (B,) or (B, K) floats, or (B, T) token targets


class ImageBatch(TypedDict, total=False):
    pixels: torch.Tensor  # (B, C, H, W) float32, normalized
    labels: torch.Tensor  # (B,)


class VectorBatch(TypedDict, total=False):
    features: torch.Tensor  # (B, F) float32
    labels: torch.Tensor  # (B,)


class PooledBatch(TypedDict, total=False):
    """A frozen backbone's cached output (workflows.features): the task head reads it directly."""

    pooled: torch.Tensor  # (B, D) pooled backbone features, in the dtype the backbone produced them
    labels: torch.Tensor  # (B,) or (B, K), as in TextBatch


Batch = TextBatch | ImageBatch | VectorBatch | PooledBatch


@dataclass
class Features:
    """What a backbone returns."""

    tokens: torch.Tensor | None  # (B, T, D) per-position features; None for image/vector backbones
    pooled: torch.Tensor  # (B, D) one vector per example (masked mean for sequences)
    mask: torch.Tensor | None = None  # (B, T) attention mask that goes with `tokens`


@dataclass
class StepOutput:
    """What an objective or task returns for one batch.

    `loss` is the mean over the `n_items` that count (tokens or examples). The loop backpropagates
    `loss * n_items` and divides by the step's total, so gradient accumulation is exact.
    """

    loss: torch.Tensor  # scalar
    n_items: int
    logits: torch.Tensor | None = None  # (B, C), (B,), or (B, T, V)
    targets: torch.Tensor | None = None  # what the logits are scored against (for metrics)
    metrics: dict[str, float] = field(default_factory=dict)
    # (N, K) per-example results a task scores itself after decoding (extractive QA: per question,
    # has-answer, exact match, F1 and no-answer margin of its decoded span); None for most tasks.
    scores: torch.Tensor | None = None
