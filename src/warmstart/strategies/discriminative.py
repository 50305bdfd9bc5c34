"""Discriminative fine-tuning (layer-wise LR decay, ULMFiT/BEiT): layer group i of n gets
lr * decay^(n-1-i), so the top group trains at lr and each group below at `decay` times the one
above; the head has its own LR."""

from __future__ import annotations

from torch import nn

from warmstart.strategies.base import Strategy


def layerwise_groups(module: nn.Module, lr: float, decay: float, head_lr: float | None) -> list[dict]:
    """One optimizer group per backbone layer group (input side first) plus the head."""
    groups = module.backbone.layer_groups()
    n = len(groups)
    # Lower layers hold more general features and should move less: the LR shrinks geometrically
    # with depth below the top.
    out = [{"name": f"group_{i}", "params": list(g), "lr": lr * decay ** (n - 1 - i)} for i, g in enumerate(groups)]
    return [*out, {"name": "head", "params": list(module.head.parameters()), "lr": head_lr or lr}]


class Discriminative(Strategy):
    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        return layerwise_groups(module, lr, self.cfg.decay, self.cfg.head_lr)
