"""The distillation loss against hand computations: temperature, alpha, the T^2 scale, torch's
'batchmean' semantics, the mask on unlabeled examples, regression and the feature term."""

import math

import pytest
import torch
import torch.nn.functional as F

from warmstart.config.schema import ClassificationTask, RegressionTask
from warmstart.config.sections.distill import DistillSection
from warmstart.models.mlp import MLPBackbone
from warmstart.tasks import build_task, head_info
from warmstart.tasks.distillation import Distillation, softened_binary_kl, softened_kl, teacher_outputs


def _softmax(xs, t):
    e = [math.exp(x / t) for x in xs]
    return [v / sum(e) for v in e]


def test_softened_kl_matches_a_hand_computation():
    s, t, temp = [1.0, 2.0, 0.0], [0.5, 1.0, 3.0], 2.0
    p, q = _softmax(t, temp), _softmax(s, temp)
    by_hand = temp ** 2 * sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q, strict=True))
    got = softened_kl(torch.tensor([s]), torch.tensor([t]), temp)
    assert got.shape == (1,) and float(got[0]) == pytest.approx(by_hand, rel=1e-6)
    # identical logits: nothing to match
    assert float(softened_kl(torch.tensor([t]), torch.tensor([t]), temp)[0]) == pytest.approx(0.0, abs=1e-7)


def test_softened_kl_mean_is_torch_batchmean_times_t_squared():
    torch.manual_seed(0)
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    for temp in (0.5, 1.0, 4.0):
        ref = F.kl_div(F.log_softmax(s / temp, -1), F.softmax(t / temp, -1), reduction="batchmean") * temp ** 2
        assert float(softened_kl(s, t, temp).mean()) == pytest.approx(float(ref), rel=1e-5)


def test_softened_binary_kl_matches_a_hand_computation():
    s, t, temp = [0.3, -1.0], [2.0, 0.5], 3.0
    sig = lambda x: 1 / (1 + math.exp(-x / temp))  # noqa: E731
    terms = [sig(b) * math.log(sig(b) / sig(a)) + (1 - sig(b)) * math.log((1 - sig(b)) / (1 - sig(a)))
             for a, b in zip(s, t, strict=True)]
    got = softened_binary_kl(torch.tensor([s]), torch.tensor([t]), temp)
    assert float(got[0]) == pytest.approx(temp ** 2 * sum(terms) / 2, rel=1e-5)  # float32


RECORDS = [{"label": lab} for lab in ["a", "b", "c"] * 3]


def _student(cfg=None, records=RECORDS):
    cfg = cfg or ClassificationTask(dropout=0.0)
    torch.manual_seed(0)
    return build_task(cfg, MLPBackbone.tiny(), head_info(cfg, records))


@torch.no_grad()
def test_loss_is_alpha_task_on_labeled_plus_kd_on_all_over_batch_size():
    student = _student()
    alpha, temp = 0.3, 2.5
    kd = Distillation(student, DistillSection(alpha=alpha, temperature=temp))
    batch = student.backbone.example_batch(4)
    y = torch.tensor([0, 2, 1, 1])
    labeled = torch.tensor([True, False, True, False])
    t_logits = torch.randn(4, 3)
    out = kd({**batch, "labels": y, "labeled": labeled, "teacher_logits": t_logits})
    s = student.logits(batch)
    ce = F.cross_entropy(s, y, reduction="none")
    p_t, log_p_s = F.softmax(t_logits / temp, -1), F.log_softmax(s / temp, -1)
    kl = (p_t * (p_t.log() - log_p_s)).sum(-1) * temp ** 2
    by_hand = (alpha * (ce * labeled).sum() + (1 - alpha) * kl.sum()) / 4
    assert out.n_items == 4 and float(out.loss) == pytest.approx(float(by_hand), rel=1e-5)
    # the placeholder labels of unlabeled examples never matter
    other = kd({**batch, "labels": torch.tensor([0, 0, 1, 0]), "labeled": labeled, "teacher_logits": t_logits})
    assert float(other.loss) == float(out.loss)
    # alpha = 1 is the task loss on the labeled examples; alpha = 0 the teacher match alone
    only_task = Distillation(student, DistillSection(alpha=1.0))({**batch, "labels": y, "labeled": labeled,
                                                                  "teacher_logits": t_logits})
    assert float(only_task.loss) == pytest.approx(float((ce * labeled).sum() / 4), rel=1e-5)


@torch.no_grad()
def test_regression_matches_the_teacher_in_the_students_standardized_units():
    cfg = RegressionTask(dropout=0.0)
    student = _student(cfg, [{"label": v} for v in (1.0, 3.0, 5.0)])  # mean 3, std 2
    kd = Distillation(student, DistillSection(alpha=0.0))
    batch = student.backbone.example_batch(3)
    teacher_values = torch.tensor([2.0, 3.0, 7.0])  # original units
    out = kd({**batch, "labels": torch.zeros(3), "labeled": torch.zeros(3, dtype=torch.bool),
              "teacher_logits": teacher_values})
    z = student.logits(batch).squeeze(-1)
    assert float(out.loss) == pytest.approx(float(((z - (teacher_values - 3.0) / 2.0) ** 2).mean()), rel=1e-5)


def test_feature_term_trains_the_projection_and_online_teacher_matches_cache():
    teacher, student = _student(), _student()
    torch.manual_seed(1)
    for p in teacher.parameters():
        p.data.normal_()
    cfg = DistillSection(alpha=0.5, hidden_weight=2.0)
    batch = {**student.backbone.example_batch(4), "labels": torch.tensor([0, 1, 2, 0]),
             "labeled": torch.ones(4, dtype=torch.bool)}
    t_out, t_feats = teacher_outputs(teacher.eval(), batch)
    online = Distillation(student, cfg, teacher, teacher.backbone.feature_dim)
    cached = Distillation(student, cfg, None, teacher.backbone.feature_dim)
    cached.aux.load_state_dict(online.aux.state_dict())
    a = online(batch)
    b = cached({**batch, "teacher_logits": t_out, "teacher_features": t_feats})
    assert float(a.loss) == pytest.approx(float(b.loss), rel=1e-6)
    without = Distillation(student, DistillSection(alpha=0.5))({**batch, "teacher_logits": t_out})
    feats = student.backbone(batch).pooled
    term = ((online.aux(feats) - t_feats) ** 2).mean(-1).mean()
    assert float(a.loss) == pytest.approx(float(without.loss + 2.0 * term), rel=1e-5)
    a.loss.backward()
    assert online.aux.weight.grad is not None and online.aux.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is frozen and not a submodule
    assert not any(p is q for p in online.parameters() for q in teacher.parameters())
