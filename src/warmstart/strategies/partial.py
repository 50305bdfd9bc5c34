"""Partial fine-tuning: the top k layer groups of the backbone (output side) and the head train;
the lower groups are frozen."""

from __future__ import annotations

from torch import nn

from warmstart.strategies.base import Strategy


class Partial(Strategy):
    def _top(self, module: nn.Module) -> list[list[nn.Parameter]]:
        groups = module.backbone.layer_groups()
        return groups[len(groups) - min(self.cfg.n_groups, len(groups)):]

    def prepare(self, module: nn.Module) -> None:
        module.backbone.requires_grad_(False)
        for group in self._top(module):
            for p in group:
                p.requires_grad_(True)

    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        trained = [p for group in self._top(module) for p in group]
        backbone = [{"name": "backbone_top", "params": trained, "lr": lr}] if trained else []
        return [*backbone, {"name": "head", "params": list(module.head.parameters()), "lr": self.cfg.head_lr or lr}]
