"""Optimizers and schedules: every kind builds and steps, weight decay skips 1-d params, schedule
shapes, full-batch GD covers the training set, and plateau state resumes exactly."""

import json
import typing
from itertools import pairwise

import pytest
import torch

from warmstart.config import schema
from warmstart.data.loaders import train_batches
from warmstart.optim import build_optimizer, build_schedule
from warmstart.optim.optimizers import OPTIMIZERS


def _kinds(union) -> dict[str, type]:
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in members}


def test_optim_kinds_match_registry():
    assert set(_kinds(schema.Optim)) == set(OPTIMIZERS)


def _params():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_every_optimizer_steps_and_skips_decay_on_1d(kind):
    w, b = _params()
    cfg = _kinds(schema.Optim)[kind](lr=0.1, weight_decay=0.1)
    opt = build_optimizer([{"name": "all", "params": [w, b], "lr": 0.05}], cfg)
    decays = {g["params"][0].ndim: g["weight_decay"] for g in opt.param_groups}
    assert decays == {2: 0.1, 1: 0.0}
    assert all(g["lr"] == 0.05 for g in opt.param_groups)  # the strategy's group LR wins over cfg.lr
    w0, b0 = w.detach().clone(), b.detach().clone()
    (w.sum() + (b**2).sum()).backward()
    opt.step()
    assert not torch.equal(w, w0) and not torch.equal(b, b0)
    opt = build_optimizer([{"name": "all", "params": [w, b], "lr": 0.05}], cfg.model_copy(update={"decay_1d": True}))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1]


def test_sgd_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        schema.SGDOptim(nesterov=True)


def _lrs(cfg, steps, observe=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_schedule(opt, cfg, steps)
    out = []
    for step in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        if observe:
            sched.observe(observe[step], False)
    return out


def test_schedule_shapes():
    assert _lrs(schema.StepSchedule(step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert _lrs(schema.StepSchedule(step_size=2, gamma=0.5, warmup_steps=2), 4) == [0.5, 1, 1, 1]
    assert _lrs(schema.ExponentialSchedule(gamma=0.5), 3) == [1, 0.5, 0.25]
    oc = _lrs(schema.OneCycleSchedule(pct_start=0.25, div_factor=10, final_div_factor=100), 9)
    assert oc[0] == pytest.approx(0.1) and max(oc) == pytest.approx(1.0) and oc.index(max(oc)) == 2
    assert oc[-1] == pytest.approx(1e-3)
    assert all(a >= b for a, b in pairwise(oc[2:]))  # monotone down after the peak
    cos = _lrs(schema.WarmupCosineSchedule(warmup_steps=2, min_lr_ratio=0.1), 6)
    assert cos[:2] == [0.5, 1.0] and cos[-1] > 0.1 - 1e-9


def test_every_schedule_kind_builds():
    for kind, cls in _kinds(schema.Schedule).items():
        assert len(_lrs(cls(), 4)) == 4, kind


def test_plateau_reduces_and_resumes_exactly():
    cfg = schema.PlateauSchedule(factor=0.5, patience=1)
    vals = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.5, 0.6]
    lrs = _lrs(cfg, len(vals), observe=vals)
    assert lrs[:4] == [1.0, 1.0, 1.0, 1.0] and lrs[4] == 0.5 and lrs[6] == 0.25

    # Resume after 4 steps from a JSON round trip of (optimizer LRs, schedule state).
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_schedule(opt, cfg, 8)
    for step in range(4):
        opt.step(); sched.step(); sched.observe(vals[step], False)  # noqa: E702
    saved, opt_saved = json.loads(json.dumps(sched.state_dict())), opt.state_dict()
    opt2 = torch.optim.SGD([p], lr=1.0)
    sched2 = build_schedule(opt2, cfg, 8)
    opt2.load_state_dict(opt_saved)
    sched2.load_state_dict(saved)
    rest = []
    for step in range(4, 8):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step(); sched2.step(); sched2.observe(vals[step], False)  # noqa: E702
    assert rest == lrs[4:]


def test_full_batch_gd_covers_the_training_set_each_step():
    seen = []
    train = schema.TrainSection(batch_size=4)
    batches, train_cfg = train_batches(10, lambda idx: seen.append(idx) or idx, train, schema.GDOptim(), seed=0)
    assert train_cfg.grad_accum == 3 and batches.examples_per_step(3) == 10
    for _ in range(2 * train_cfg.grad_accum):
        next(batches)
    assert sorted(i for b in seen[:3] for i in b) == list(range(10)) and seen[3:] == seen[:3]
    assert batches.epoch == 1
    with pytest.raises(ValueError, match="optim.kind=gd sets it"):
        schema.FinetuneConfig(data={"kind": "demo_sentiment"}, init="x", optim={"kind": "gd"}, train={"grad_accum": 2})
