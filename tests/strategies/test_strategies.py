"""Per strategy: which parameters train, which change after a step, and each group's LR."""

import pytest
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


# ---- partial / discriminative / gradual_unfreeze / lora ----------------------------------------

from warmstart.config.schema import (  # noqa: E402
    DiscriminativeStrategy,
    GradualUnfreezeStrategy,
    LoRAStrategy,
    PartialStrategy,
    SGDOptim,
)


def _names(module, params):
    ids = {id(p) for p in params}
    return {n for n, p in module.named_parameters() if id(p) in ids}


def test_partial_trains_top_groups_and_head_only():
    module = _module()
    groups = module.backbone.layer_groups()
    opt, changed = _step(module, build_strategy(PartialStrategy(n_groups=2)))
    top = _names(module, [p for g in groups[-2:] for p in g])
    head = {n for n, _ in module.head.named_parameters(prefix="head")}
    assert {n for n, p in module.named_parameters() if p.requires_grad} == top | head
    # Frozen groups are bitwise unchanged; every trained tensor moved (AdamW steps every param with a grad).
    assert changed == top | head
    assert {g["name"] for g in opt.param_groups} == {"backbone_top", "head"}


def test_discriminative_group_lrs_follow_the_formula():
    module = _module()
    n = len(module.backbone.layer_groups())
    opt, changed = _step(module, build_strategy(DiscriminativeStrategy(decay=0.5, head_lr=3e-2)), lr=1e-2)
    assert changed == {n_ for n_, _ in module.named_parameters()}
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    for i in range(n):
        assert lrs[f"group_{i}"] == 1e-2 * 0.5 ** (n - 1 - i)
    assert lrs["head"] == 3e-2
    assert lrs[f"group_{n - 1}"] == 1e-2  # the top group trains at the base LR


def test_gradual_unfreeze_per_epoch_and_per_steps():
    module = _module()
    groups = module.backbone.layer_groups()
    strategy = build_strategy(GradualUnfreezeStrategy(decay=0.5))
    strategy.prepare(module)
    opt = build_optimizer(strategy.param_groups(module, 1e-2), SGDOptim(lr=1e-2))
    trainable = lambda: {n for n, p in module.backbone.named_parameters(prefix="backbone") if p.requires_grad}  # noqa: E731
    strategy.on_epoch_start(0, opt)
    assert trainable() == set()  # epoch 0: head only
    strategy.on_epoch_start(1, opt)
    assert trainable() == _names(module, groups[-1])
    strategy.on_epoch_start(2, opt)
    assert trainable() == _names(module, groups[-2] + groups[-1])
    strategy.on_epoch_start(0, opt)  # idempotent: a resume re-applies the state of its epoch
    assert trainable() == set()

    # Per N steps, and a step after unfreezing moves exactly the unfrozen groups (+ head).
    module = _module()
    strategy = build_strategy(GradualUnfreezeStrategy(every_steps=3))
    strategy.prepare(module)
    opt = build_optimizer(strategy.param_groups(module, 1e-2), SGDOptim(lr=1e-2))
    strategy.on_step_start(2)
    assert not any(p.requires_grad for p in module.backbone.parameters())
    strategy.on_step_start(3)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    batch = {**module.backbone.example_batch(4), "labels": torch.tensor([0, 1, 0, 1])}
    module(batch).loss.backward()
    opt.step()
    changed = {n for n, p in module.named_parameters() if not torch.equal(before[n], p)}
    top = _names(module, module.backbone.layer_groups()[-1])
    assert changed - {"head.proj.weight", "head.proj.bias"} <= top and changed & top
    # Frozen parameters carry no optimizer state, so unfreezing later starts their state cleanly.
    assert all(p not in opt.state for p in module.backbone.layer_groups()[0])


def _lora_module(arch="bert"):
    module = build_task(ClassificationTask(dropout=0.0), TransformerBackbone.tiny(arch), {"labels": ["a", "b"]})
    return module


def test_lora_trains_adapters_and_head_only():
    from warmstart.strategies.lora import adapter_params

    module = _lora_module()
    opt, changed = _step(module, build_strategy(LoRAStrategy(r=2, alpha=4)))
    adapters = _names(module, adapter_params(module.backbone))
    assert adapters and all(".lora_A." in n or ".lora_B." in n for n in adapters)
    head = {"head.proj.weight", "head.proj.bias"}
    assert {n for n, p in module.named_parameters() if p.requires_grad} == adapters | head
    # lora_A starts random and B at zero: after one step B moved; the frozen base did not.
    assert changed <= adapters | head and head <= changed and any(".lora_B." in n for n in changed)
    assert {g["name"] for g in opt.param_groups} == {"adapters", "head"}
    trainable, total = count_params(module)
    assert trainable == (sum(p.numel() for p in adapter_params(module.backbone))
                         + sum(p.numel() for p in module.head.parameters()))


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_lora_state_split_keeps_base_names_and_merge_equals_unmerged(arch):
    from warmstart.strategies.lora import join_state, merge_lora, split_state

    plain = TransformerBackbone.tiny(arch)
    plain_keys = set(plain.state_dict())
    module = build_task(ClassificationTask(dropout=0.0), plain, {"labels": ["a", "b"]})
    build_strategy(LoRAStrategy(r=2, alpha=4)).prepare(module)
    with torch.no_grad():  # non-zero adapters, so merging has something to fold in
        for p in module.backbone.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    base, adapter = split_state(module.backbone)
    assert set(base) == plain_keys  # base weights under their original names: strict-loadable
    fresh = TransformerBackbone.tiny(arch)
    fresh.load_state_dict(base, strict=True)
    assert set(join_state(module.backbone, base, adapter)) == set(module.backbone.state_dict())

    module.eval()
    batch = module.backbone.example_batch(4)
    before = module.backbone(batch).tokens
    merge_lora(module.backbone)
    assert set(module.backbone.state_dict()) == plain_keys
    torch.testing.assert_close(module.backbone(batch).tokens, before, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(fresh(batch).tokens, before, atol=1e-4)  # the adapters did change the output
