"""LM distillation: a student causal LM trained to match a frozen teacher LM's next-token distributions.

LMDistillation wraps the student's CausalLM objective for the training loop (it is not a loop of its own,
and not an OBJECTIVES entry: `warmstart distill` with a pretraining-run teacher builds it). At every
position t whose target token t+1 is a real token (padding never counts), with student logits s_t and
teacher logits q_t over the shared vocabulary:

    loss_t = alpha * CE(s_t, token_{t+1})  +  (1 - alpha) * T^2 * KL(softmax(q_t / T) || softmax(s_t / T))

and the batch loss is sum_t loss_t / N with n_items = N counted positions, so the loop's exact gradient
accumulation holds (the same per-token normalisation as the causal LM loss). The teacher runs on each
batch (its (B, T, V) logits are too large to cache per example) under no_grad; it is never a submodule:
not trained, saved, counted or switched to train mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.objectives.lm_loss import count
from warmstart.tasks.distillation import softened_kl
from warmstart.types import StepOutput, TextBatch


def lm_distill_loss(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, counted: torch.Tensor,
                    alpha: float, temperature: float) -> torch.Tensor:
    """Sum over counted positions of alpha * CE + (1 - alpha) * T^2 * KL(teacher || student).
    student, teacher (B, T, V) next-token logits; targets (B, T) token ids; counted (B, T) bool."""
    s, t = student[counted].float(), teacher[counted].float()  # (N, V)
    loss = (1 - alpha) * softened_kl(s, t, temperature).sum()
    if alpha > 0:
        loss = loss + alpha * F.cross_entropy(s, targets[counted], reduction="sum")
    return loss


class LMDistillation(nn.Module):
    """The student's CausalLM objective plus a frozen teacher CausalLM over the same tokenizer. `backbone`
    and `head` are the student's, so checkpoints and the run directory are exactly a causal-LM pretraining
    run of the student."""

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float, temperature: float):
        super().__init__()
        self.student, self.alpha, self.temperature = student, alpha, temperature
        self._teacher = [teacher.eval().requires_grad_(False)]  # a list hides it from nn.Module

    @property
    def backbone(self) -> nn.Module:
        return self.student.backbone

    @property
    def head(self) -> nn.Module:
        return self.student.head

    def new_metrics(self):
        return self.student.new_metrics()

    @staticmethod
    def _next_token_logits(lm: nn.Module, batch: TextBatch) -> tuple[torch.Tensor, torch.Tensor]:
        feats = lm.backbone(batch)
        return lm.head(feats.tokens[:, :-1]), feats.mask[:, 1:].bool()  # (B, T-1, V): position t predicts t+1

    def forward(self, batch: TextBatch) -> StepOutput:
        logits, counted = self._next_token_logits(self.student, batch)
        with torch.no_grad():
            teacher_logits, _ = self._next_token_logits(self._teacher[0], batch)
        n = count(counted)
        loss = lm_distill_loss(logits, teacher_logits, batch["input_ids"][:, 1:], counted, self.alpha,
                               self.temperature)
        return StepOutput(loss=loss / max(n, 1), n_items=n)
