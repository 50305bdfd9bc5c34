"""Per strategy: which parameters train, which change after a step, and each group's LR."""

import torch

from warmstart.config.schema import AdamWOptim, ClassificationTask, FullStrategy, LinearProbeStrategy
from warmstart.models.transformer import TransformerBackbone
from warmstart.optim import build_optimizer
from warmstart.strategies import build_strategy, count_params
from warmstart.tasks import build_task


def _module():
    return build_task(ClassificationTask(dropout=0.0), TransformerBackbone.tiny("bert"), {"labels": ["a", "b"]})


def _step(module, strategy, lr=1e-2):
    strategy.prepare(module)
    opt = build_optimizer(strategy.param_groups(module, lr), AdamWOptim(lr=lr))
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    module.train()
    strategy.train_mode(module)
    batch = {**module.backbone.example_batch(4), "labels": torch.tensor([0, 1, 0, 1])}
    module(batch).loss.backward()
    opt.step()
    changed = {n for n, p in module.named_parameters() if not torch.equal(before[n], p)}
    return opt, changed


def test_full_trains_everything_with_head_lr():
    module = _module()
    opt, changed = _step(module, build_strategy(FullStrategy(head_lr=5e-2)))
    assert changed == {n for n, _ in module.named_parameters()}
    lrs = {(g["name"], g["weight_decay"]): g["lr"] for g in opt.param_groups}
    assert lrs[("backbone", 0.01)] == 1e-2 and lrs[("head", 0.01)] == 5e-2
    # Norms and biases are excluded from weight decay.
    for g in opt.param_groups:
        assert all((p.ndim >= 2) == (g["weight_decay"] > 0) for p in g["params"])


def test_linear_probe_freezes_backbone_bitwise():
    module = _module()
    opt, changed = _step(module, build_strategy(LinearProbeStrategy()))
    assert changed == {"head.proj.weight", "head.proj.bias"}
    assert all(not p.requires_grad for p in module.backbone.parameters())
    assert not module.backbone.training  # frozen backbone stays in eval mode (no dropout)
    trainable, total = count_params(module)
    assert trainable == sum(p.numel() for p in module.head.parameters()) < total
    assert {g["name"] for g in opt.param_groups} == {"head"}
