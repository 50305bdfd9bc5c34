"""Denoising autoencoder pretraining (Vincent et al. 2008): corrupt the input with Gaussian noise
and random masking, encode it with the backbone, decode the pooled features back to the clean
input with a small MLP decoder, and minimize the mean squared reconstruction error.

Works for images (B, C, H, W) and feature vectors (B, F); the decoder is the objective's head and
is dropped when fine-tuning.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.evaluation.metrics import LossMetrics
from warmstart.models.base import Backbone
from warmstart.types import Batch, StepOutput

if TYPE_CHECKING:
    from warmstart.config.schema import DenoisingObjective


def input_key(batch: Batch) -> str:
    """The batch entry that holds the inputs: "pixels" for images, "features" for vectors."""
    return "pixels" if "pixels" in batch else "features"


def corrupt(x: torch.Tensor, noise_std: float, mask_prob: float) -> torch.Tensor:
    """Zero a random `mask_prob` fraction of the values (0 is the normalized mean), then add
    N(0, noise_std^2) noise everywhere. Draws come from torch's global RNG (saved in checkpoints)."""
    if mask_prob > 0:
        x = x * (torch.rand_like(x) >= mask_prob)
    if noise_std > 0:
        x = x + noise_std * torch.randn_like(x)
    return x


class Decoder(nn.Module):
    """Pooled features (B, D) -> hidden -> reconstructed input (B, *input_shape)."""

    def __init__(self, d_in: int, d_hidden: int, input_shape: tuple[int, ...]):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, math.prod(self.input_shape)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).view(h.shape[0], *self.input_shape)


class Denoising(nn.Module):
    """Backbone + MLP decoder; loss = MSE between the reconstruction and the clean input.

    The bottleneck is the backbone's pooled feature vector, so reconstructing forces it to keep
    what the input looks like (stroke positions for digits) rather than noise.
    """

    def __init__(self, backbone: Backbone, cfg: DenoisingObjective, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.head = Decoder(backbone.feature_dim, cfg.d_hidden, tuple(info["input_shape"]))

    def forward(self, batch: Batch) -> StepOutput:
        key = input_key(batch)
        clean = batch[key]
        noisy = corrupt(clean, self.cfg.noise_std, self.cfg.mask_prob)
        recon = self.head(self.backbone({**batch, key: noisy}).pooled)  # same shape as clean
        # Mean over all B * values elements: every example has the same number of values, so this
        # is also the mean of per-example errors, and n_items = B makes accumulation exact.
        loss = F.mse_loss(recon.float(), clean.float())
        return StepOutput(loss=loss, n_items=clean.shape[0])

    def new_metrics(self) -> LossMetrics:
        return LossMetrics()
