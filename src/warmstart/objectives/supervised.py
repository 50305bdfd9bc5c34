"""Supervised pretraining on a source label set: pooled features -> linear head -> cross-entropy.

The classic transfer recipe: train on labeled source classes (e.g. digits 0-4), then fine-tune the
backbone with a fresh head on a different target task (digits 5-9). The source head and its label
list are saved with the pretraining run (head.json) and dropped when fine-tuning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import ClassificationMetrics
from warmstart.heads import LinearHead
from warmstart.models.base import Backbone
from warmstart.types import Batch, StepOutput

if TYPE_CHECKING:
    from warmstart.config.schema import SupervisedObjective


class Supervised(nn.Module):
    """Backbone + linear classifier over the source labels `info["labels"]` (sorted, from the
    pretraining data); batches carry "labels" as class indices into that list."""

    def __init__(self, backbone: Backbone, cfg: SupervisedObjective, info: dict):
        super().__init__()
        if info.get("labels") is None:
            raise ConfigError("objective.kind=supervised needs labeled pretraining data (every example with a label)")
        self.backbone, self.cfg = backbone, cfg
        self.labels: list = list(info["labels"])
        self.head = LinearHead(backbone.feature_dim, len(self.labels), cfg.dropout)

    def info(self) -> dict:
        return {"labels": self.labels}

    def encode_targets(self, labels: list) -> torch.Tensor:
        index = {lab: i for i, lab in enumerate(self.labels)}
        return torch.tensor([index[lab] for lab in labels], dtype=torch.long)

    def forward(self, batch: Batch) -> StepOutput:
        logits = self.head(self.backbone(batch).pooled)  # (B, C)
        targets = batch["labels"]
        # fp32 log-softmax even under bf16 autocast.
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.cfg.label_smoothing)
        return StepOutput(loss=loss, n_items=targets.numel(), logits=logits.detach().float(), targets=targets)

    def new_metrics(self) -> ClassificationMetrics:
        return ClassificationMetrics(len(self.labels))
