"""Sequence classification: pooled backbone features -> linear head -> cross-entropy.

The label vocabulary is fixed from the training records (sorted, so it is reproducible) and saved
in head.json; predictions map back to the original label strings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.evaluation.metrics import ClassificationMetrics
from warmstart.heads import LinearHead, pool
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch


class Classification(nn.Module):
    def __init__(self, backbone: Backbone, cfg, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.labels: list = info["labels"]
        self.pooling = cfg.pooling or ("last" if getattr(backbone, "causal", False) else "mean")
        self.head = LinearHead(backbone.feature_dim, len(self.labels), cfg.dropout)

    @staticmethod
    def head_info(train_records: list[dict]) -> dict:
        """What the head needs to be rebuilt: the label vocabulary (from the training pool)."""
        return {"labels": sorted({r["label"] for r in train_records}, key=str)}

    def info(self) -> dict:
        return {"labels": self.labels}

    def encode_targets(self, labels: list) -> torch.Tensor:
        index = {lab: i for i, lab in enumerate(self.labels)}
        return torch.tensor([index[lab] for lab in labels], dtype=torch.long)

    def decode(self, logits: torch.Tensor) -> list:
        return [self.labels[i] for i in logits.argmax(-1).tolist()]

    def forward(self, batch: TextBatch) -> StepOutput:
        logits = self.head(pool(self.backbone(batch), self.pooling))  # (B, C)
        targets = batch["labels"]
        # Compute the loss in fp32 even under bf16 autocast: log-softmax is precision sensitive.
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.cfg.label_smoothing)
        return StepOutput(loss=loss, n_items=targets.numel(), logits=logits.detach().float(), targets=targets)

    def new_metrics(self) -> ClassificationMetrics:
        return ClassificationMetrics(len(self.labels))
