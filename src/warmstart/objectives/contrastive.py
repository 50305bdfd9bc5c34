"""SimCLR-style contrastive pretraining (Chen et al. 2020): two random augmentations ("views") of
every example go through the backbone and a projection head; the NT-Xent loss pulls the two views
of an example together and pushes the other 2B - 2 views of the batch away.

Negatives come from the micro-batch, so gradient accumulation does not act like a larger batch
here: raise train.batch_size rather than train.grad_accum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.evaluation.metrics import LossMetrics
from warmstart.models.base import Backbone
from warmstart.objectives.denoising import input_key
from warmstart.transforms import augment
from warmstart.types import Batch, StepOutput

if TYPE_CHECKING:
    from warmstart.config.schema import ContrastiveObjective


def default_views(modality: str):
    """The view augmentation used when objective.views is null: geometric + erasing + noise for
    images (digit-safe: no flips), noise + feature dropout for vectors."""
    from warmstart.config.schema import Augment

    if modality == "image":
        return Augment(shift=1, rotate_deg=10.0, scale=(0.9, 1.1), erase_prob=0.5, noise_std=0.1)
    return Augment(noise_std=0.1, drop_prob=0.2)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized-temperature cross-entropy over 2B anchors.

    z1, z2: (B, P) projections of the two views. Each anchor's positive is the other view of its
    example; every other view in the batch is a negative. Returns (mean loss over the 2B anchors,
    fraction of anchors whose most similar view is their positive).
    """
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2B, P) unit vectors
    sim = z @ z.T / temperature  # (2B, 2B) cosine similarity / temperature
    # An anchor is never its own candidate: -inf removes the diagonal from the softmax.
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.arange(2 * b, device=z.device).roll(b)  # view i <-> view i + B
    loss = F.cross_entropy(sim, positive)
    acc = (sim.argmax(1) == positive).float().mean()
    return loss, acc


class ProjectionHead(nn.Module):
    """SimCLR's g(.): Linear -> ReLU -> Linear. The loss acts on its output, which lets the
    backbone's features keep information the augmentations would otherwise wash out."""

    def __init__(self, d_in: int, d_proj: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_in), nn.ReLU(), nn.Linear(d_in, d_proj))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class Contrastive(nn.Module):
    """Backbone + projection head; loss = NT-Xent between two augmented views of the batch."""

    def __init__(self, backbone: Backbone, cfg: ContrastiveObjective, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.views = cfg.views or default_views("image" if len(info["input_shape"]) == 3 else "vector")
        self.head = ProjectionHead(backbone.feature_dim, cfg.d_proj)

    def forward(self, batch: Batch) -> StepOutput:
        key = input_key(batch)
        x = batch[key]
        b = x.shape[0]
        views = torch.cat([augment(x, self.views), augment(x, self.views)])  # (2B, ...)
        # One backbone pass over both views: BatchNorm sees all 2B, as in SimCLR.
        z = self.head(self.backbone({key: views}).pooled)  # (2B, P)
        loss, acc = nt_xent(z[:b], z[b:], self.cfg.temperature)
        return StepOutput(loss=loss, n_items=2 * b, metrics={"pos_acc": float(acc)})

    def new_metrics(self) -> LossMetrics:
        return LossMetrics()
