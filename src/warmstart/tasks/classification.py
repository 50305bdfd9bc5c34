"""Sequence classification: pooled backbone features -> linear head -> cross-entropy (optionally
label-smoothed and class-weighted), or, with multilabel, a sigmoid per label -> binary cross-entropy.

The label vocabulary is fixed from the labeled records (sorted, so it is reproducible) and saved
in head.json with the class weights; predictions map back to the original label strings. A
multi-label example's label is a string of labels joined by task.label_sep ("sports|politics").
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import ClassificationMetrics, MultiLabelMetrics
from warmstart.heads import pooled_features, task_head
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import ClassificationTask


class Classification(nn.Module):
    def __init__(self, backbone: Backbone, cfg: ClassificationTask, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.labels: list = info["labels"]
        self.multilabel = bool(getattr(cfg, "multilabel", False))
        self.pooling, self.head = task_head(backbone, cfg.pooling, len(self.labels), cfg.dropout)
        weights = info.get("class_weights")
        # Not persistent: the weights live in head.json (info), not in head.safetensors.
        self.register_buffer("class_weights", torch.tensor(weights, dtype=torch.float32) if weights else None,
                             persistent=False)

    @staticmethod
    def head_info(train_records: list[dict], cfg: ClassificationTask | None = None,
                  all_records: list[dict] | None = None) -> dict:
        """What the head needs to be rebuilt: the label vocabulary (from all labeled records, so a
        small label budget cannot lose a class) and the class weights (from the training split)."""
        multilabel, sep = bool(getattr(cfg, "multilabel", False)), getattr(cfg, "label_sep", "|")

        def label_sets(records):
            return [str(r["label"]).split(sep) if multilabel else [r["label"]] for r in records]

        labels = sorted({lab for labs in label_sets(all_records or train_records) for lab in labs}, key=str)
        info = {"labels": labels}
        spec = getattr(cfg, "class_weights", None)
        if spec == "balanced":
            # Inverse frequency, scaled so a class of average frequency weighs 1: n / (C * count).
            counts = Counter(lab for labs in label_sets(train_records) for lab in labs)
            n = sum(counts.values())
            info["class_weights"] = [n / (len(labels) * counts[lab]) if counts[lab] else 0.0 for lab in labels]
        elif spec:
            unknown = sorted(set(spec) - {str(lab) for lab in labels})
            if unknown:
                raise ConfigError(f"task.class_weights: unknown labels {unknown} (labels: {[str(x) for x in labels]})")
            info["class_weights"] = [float(spec.get(str(lab), 1.0)) for lab in labels]
        return info

    def info(self) -> dict:
        weights = None if self.class_weights is None else self.class_weights.tolist()
        return {"labels": self.labels, **({"class_weights": weights} if weights else {})}

    def encode_targets(self, labels: list) -> torch.Tensor:
        index = {lab: i for i, lab in enumerate(self.labels)}
        if self.multilabel:  # (B, C) multi-hot
            out = torch.zeros(len(labels), len(self.labels))
            for row, lab in enumerate(labels):
                out[row, [index[x] for x in str(lab).split(self.cfg.label_sep)]] = 1.0
            return out
        return torch.tensor([index[lab] for lab in labels], dtype=torch.long)

    def logits(self, batch: TextBatch) -> torch.Tensor:
        """(B, C) class (or per-label) logits: pooled backbone features through the head."""
        return self.head(pooled_features(self.backbone, batch, self.pooling))

    def predictions(self, logits: torch.Tensor, batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per example: {"label", "probs"} (softmax), or with multilabel
        {"labels", "probs"} (a sigmoid per label; predicted when p > 0.5)."""
        multi = self.multilabel
        probs = logits.float().sigmoid() if multi else logits.float().softmax(-1)
        picked = [[self.labels[i] for i in (row > 0.5).nonzero().flatten().tolist()] for row in probs] if multi \
            else [self.labels[i] for i in probs.argmax(-1).tolist()]
        return [{"labels" if multi else "label": pick,
                 "probs": {str(lab): round(float(p), 5) for lab, p in zip(self.labels, row, strict=True)}}
                for pick, row in zip(picked, probs, strict=True)]

    def decode(self, logits: torch.Tensor) -> list:
        if self.multilabel:
            return [self.cfg.label_sep.join(str(self.labels[i]) for i in row.nonzero().flatten().tolist())
                    for row in logits > 0]
        return [self.labels[i] for i in logits.argmax(-1).tolist()]

    def forward(self, batch: TextBatch) -> StepOutput:
        return self.score(self.logits(batch), batch)

    def score(self, logits: torch.Tensor, batch: TextBatch) -> StepOutput:
        """Loss and outputs of (B, C) logits against the batch's labels (also used on the logits of
        an exported model, e.g. a quantized ONNX graph)."""
        targets = batch["labels"]
        n = targets.size(0)
        # Losses in fp32 even under bf16 autocast (log-softmax / log-sigmoid are precision sensitive).
        # Both are SUMS over the batch's examples divided by its example count: the loop's exact
        # accumulation (loss * n_items) then stays exact with class weights too. (PyTorch's weighted
        # "mean" would divide by the sum of the weights instead, which does not accumulate exactly.)
        if self.multilabel:
            per = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")  # (B, C)
            if self.class_weights is not None:
                per = per * self.class_weights
            loss = per.mean(-1).sum() / n  # mean over labels, then over examples
        else:
            loss = F.cross_entropy(logits.float(), targets, weight=self.class_weights,
                                   label_smoothing=self.cfg.label_smoothing, reduction="sum") / n
        return StepOutput(loss=loss, n_items=n, logits=logits.detach().float(), targets=targets)

    def new_metrics(self) -> ClassificationMetrics | MultiLabelMetrics:
        return MultiLabelMetrics(len(self.labels)) if self.multilabel else ClassificationMetrics(len(self.labels))
