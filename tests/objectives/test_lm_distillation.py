"""The LM-distillation loss against a hand computation: alpha * CE + (1 - alpha) * T^2 * KL(teacher || student)
per counted next-token position, padded positions left out, mean over the counted positions."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from warmstart.objectives.lm_distillation import LMDistillation, lm_distill_loss


def _softmax(xs, t):
    m = max(x / t for x in xs)
    e = [math.exp(x / t - m) for x in xs]
    return [v / sum(e) for v in e]


def _hand(student, teacher, targets, counted, alpha, t):
    total, n = 0.0, 0
    for b in range(len(student)):
        for p in range(len(student[b])):
            if not counted[b][p]:
                continue
            q, s = _softmax(teacher[b][p], t), _softmax(student[b][p], t)
            kl = sum(qi * (math.log(qi) - math.log(si)) for qi, si in zip(q, s, strict=True))
            ce = -math.log(_softmax(student[b][p], 1.0)[targets[b][p]])
            total += alpha * ce + (1 - alpha) * t * t * kl
            n += 1
    return total, n


@pytest.mark.parametrize("alpha,t", [(0.0, 1.0), (0.3, 2.0), (1.0, 4.0)])
def test_lm_distill_loss_matches_hand_computation(alpha, t):
    torch.manual_seed(0)
    s, q = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    targets = torch.tensor([[1, 4, 0], [2, 2, 3]])
    counted = torch.tensor([[True, True, False], [True, False, False]])  # padding at the ends
    want, n = _hand(s.tolist(), q.tolist(), targets.tolist(), counted.tolist(), alpha, t)
    assert n == 3
    assert lm_distill_loss(s, q, targets, counted, alpha, t).item() == pytest.approx(want, rel=1e-5)
    # what sits at padded positions never counts
    s2, q2 = s.clone(), q.clone()
    s2[~counted], q2[~counted] = 100.0, -100.0
    assert lm_distill_loss(s2, q2, targets, counted, alpha, t).item() == pytest.approx(want, rel=1e-5)


class _LM(nn.Module):
    """A stand-in causal LM: embeddings as features, a linear head; mask from the batch."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.embed, self.head = nn.Embedding(6, 4), nn.Linear(4, 6)
        self.backbone = lambda batch: SimpleNamespace(tokens=self.embed(batch["input_ids"]),
                                                       mask=batch["attention_mask"])


def test_wrapper_averages_over_real_next_tokens_and_leaves_the_teacher_alone():
    student, teacher = _LM(0), _LM(1)
    ids = torch.tensor([[1, 2, 3, 4], [5, 1, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    out = LMDistillation(student, teacher, alpha=0.25, temperature=2.0)({"input_ids": ids, "attention_mask": mask})
    s = student.head(student.embed(ids))[:, :-1]
    q = teacher.head(teacher.embed(ids))[:, :-1]
    want, n = _hand(s.tolist(), q.tolist(), ids[:, 1:].tolist(), mask[:, 1:].bool().tolist(), 0.25, 2.0)
    assert out.n_items == n == 4 and out.loss.item() == pytest.approx(want / n, rel=1e-5)
    out.loss.backward()
    assert student.head.weight.grad is not None and teacher.head.weight.grad is None
    assert not any(p.requires_grad for p in teacher.parameters())
