"""Regression: pooled features -> linear head -> MSE / MAE / Huber on (optionally z-scored) targets.

With standardize=True the head learns z = (y - mean) / std with statistics from the training split
(saved in head.json), which keeps the loss scale sane for any target units; predictions and
metrics are reported back in the original units.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.evaluation.metrics import RegressionMetrics
from warmstart.heads import pooled_features, task_head
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import RegressionTask

LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class Regression(nn.Module):
    def __init__(self, backbone: Backbone, cfg: RegressionTask, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.mean, self.std = float(info["mean"]), float(info["std"])
        self.pooling, self.head = task_head(backbone, cfg.pooling, 1, cfg.dropout)

    @staticmethod
    def head_info(train_records: list[dict], standardize: bool = True) -> dict:
        ys = [float(r["label"]) for r in train_records]
        if not standardize:
            return {"mean": 0.0, "std": 1.0}
        mean = sum(ys) / len(ys)
        var = sum((y - mean) ** 2 for y in ys) / max(len(ys) - 1, 1)
        return {"mean": mean, "std": math.sqrt(var) if var > 0 else 1.0}

    def info(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    def encode_targets(self, labels: list) -> torch.Tensor:
        return torch.tensor([float(y) for y in labels], dtype=torch.float32)

    def logits(self, batch: TextBatch) -> torch.Tensor:
        """(B, 1) standardized predictions: pooled backbone features through the head."""
        return self.head(pooled_features(self.backbone, batch, self.pooling))

    def predictions(self, logits: torch.Tensor, batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per example: {"value"} in the targets' original units."""
        return [{"value": v} for v in self.decode(logits.squeeze(-1).float() * self.std + self.mean)]

    def decode(self, preds: torch.Tensor) -> list[float]:
        return preds.reshape(-1).tolist()

    def forward(self, batch: TextBatch) -> StepOutput:
        return self.score(self.logits(batch), batch)

    def score(self, logits: torch.Tensor, batch: TextBatch) -> StepOutput:
        """Loss and outputs of (B, 1) standardized predictions against the batch's labels."""
        z = logits.squeeze(-1).float()  # (B,)
        y = batch["labels"].float()
        t = (y - self.mean) / self.std
        loss = (F.huber_loss(z, t, delta=self.cfg.huber_delta) if self.cfg.loss == "huber"
                else LOSSES[self.cfg.loss](z, t))
        pred = z.detach() * self.std + self.mean  # back to original units for metrics
        return StepOutput(loss=loss, n_items=y.numel(), logits=pred, targets=y)

    def new_metrics(self) -> RegressionMetrics:
        return RegressionMetrics()
