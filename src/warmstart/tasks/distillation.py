"""Knowledge distillation: a student task module trained to match a frozen teacher's outputs.

Distillation wraps a classification or regression task (the student) for the training loop; it is
not a loop of its own. Per example i of a batch of B:

    loss_i = alpha * task_i * labeled_i  +  (1 - alpha) * match_i  +  hidden_weight * feature_i
    match_i = T^2 * KL(softmax(t_i / T) || softmax(s_i / T))     single-label classification
            = T^2 * mean_c KL(Bernoulli(sigmoid(t_ic / T)) || Bernoulli(sigmoid(s_ic / T)))   multilabel
            = (s_i - t_i)^2 in the student's standardized units       regression (T unused)
    feature_i = mean_d (W f_i + b - g_i)_d^2   student pooled features f (through the learned
                                                projection `aux`) against the teacher's g

and the batch loss is sum_i loss_i / B with n_items = B, so the loop's exact gradient accumulation
holds (torch's KL with reduction="batchmean" is the same sum over classes, then over examples / B).
Unlabeled transfer examples (labeled_i = 0) only carry the match to the teacher.

The teacher's outputs arrive in the batch ("teacher_logits", "teacher_features": cached once per
example before training) or come from a frozen teacher run on the batch itself (online). The teacher
is never a submodule: it is not trained, saved, counted, or switched to train mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.heads import pool
from warmstart.tasks.regression import Regression
from warmstart.types import Batch, StepOutput


def softened_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B,) T^2 * KL(softmax(teacher / T) || softmax(student / T)) per example, from (B, C) logits."""
    t_log = F.log_softmax(teacher.float() / temperature, dim=-1)
    s_log = F.log_softmax(student.float() / temperature, dim=-1)
    return temperature ** 2 * (t_log.exp() * (t_log - s_log)).sum(-1)


def softened_binary_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B,) T^2 * mean over labels of the Bernoulli KL(sigmoid(teacher / T) || sigmoid(student / T))."""
    t, s = teacher.float() / temperature, student.float() / temperature
    p = torch.sigmoid(t)
    # log sigmoid(x) and log(1 - sigmoid(x)) = log sigmoid(-x), computed stably
    kl = p * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s))
    return temperature ** 2 * kl.mean(-1)


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """A frozen teacher's (outputs, pooled features) for a batch: (B, C) logits for classification,
    (B,) predictions in the targets' original units for regression (so a student with other
    standardization statistics can read them); features (B, D_teacher)."""
    feats = pool(teacher.backbone(batch), teacher.pooling)
    out = teacher.head(feats).float()
    if isinstance(teacher, Regression):  # regression: standardized (B, 1) -> original units (B,)
        out = out.squeeze(-1) * teacher.std + teacher.mean
    return out, feats.float()


class Distillation(nn.Module):
    """The student task module plus what distillation trains besides it (`aux`: the feature
    projection, only with hidden_weight > 0). `backbone` and `head` are the student's, so
    strategies, checkpoints and the best-weights file see exactly a fine-tune of the student."""

    def __init__(self, student: nn.Module, cfg, teacher: nn.Module | None = None, teacher_dim: int | None = None):
        super().__init__()
        self.student, self.cfg = student, cfg
        self.regression = isinstance(student, Regression)
        self.multilabel = bool(getattr(student, "multilabel", False))
        # Trained with the student, saved as aux.safetensors (resume), not part of the student run's model.
        self.aux = nn.Linear(student.backbone.feature_dim, teacher_dim) if cfg.hidden_weight > 0 else None
        self._teacher = [teacher.eval()] if teacher is not None else None  # a list hides it from nn.Module

    @property
    def backbone(self) -> nn.Module:
        return self.student.backbone

    @property
    def head(self) -> nn.Module:
        return self.student.head

    def info(self) -> dict:
        return self.student.info()

    def new_metrics(self):
        return self.student.new_metrics()

    def _teacher_targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        if "teacher_logits" in batch:  # cached
            return batch["teacher_logits"], batch.get("teacher_features")
        return teacher_outputs(self._teacher[0], batch)

    def forward(self, batch: Batch) -> StepOutput:
        cfg, student = self.cfg, self.student
        feats = pool(student.backbone(batch), student.pooling)  # (B, D)
        logits = student.head(feats)  # (B, C) or (B, 1)
        t_out, t_feats = self._teacher_targets(batch)
        labeled = batch["labeled"]  # (B,) bool: False for transfer examples (their label is a placeholder)
        n = labeled.size(0)

        # The task's own loss (class weights, label smoothing, regression loss kind) on the labeled
        # examples: score() returns their mean, times their count = their sum.
        n_labeled = int(labeled.sum())
        task = torch.zeros((), device=logits.device)
        if n_labeled and cfg.alpha > 0:
            task = student.score(logits[labeled], {"labels": batch["labels"][labeled]}).loss * n_labeled

        if self.regression:  # the teacher's prediction in the student's standardized units
            z = logits.squeeze(-1).float()
            match = (z - (t_out.float() - student.mean) / student.std) ** 2
        elif self.multilabel:
            match = softened_binary_kl(logits, t_out, cfg.temperature)
        else:
            match = softened_kl(logits, t_out, cfg.temperature)
        loss = cfg.alpha * task + (1 - cfg.alpha) * match.sum()
        if self.aux is not None:
            loss = loss + cfg.hidden_weight * ((self.aux(feats).float() - t_feats.float()) ** 2).mean(-1).sum()
        return StepOutput(loss=loss / n, n_items=n, logits=logits.detach().float())
