"""Linear probe: the backbone is frozen (and kept in eval mode, so dropout is off and norm
statistics are fixed); only the head trains. Such a backbone is a fixed function of its inputs,
so finetune can compute its features once per split (workflows.features)."""

from __future__ import annotations

from torch import nn

from warmstart.strategies.base import Strategy


class LinearProbe(Strategy):
    def prepare(self, module: nn.Module) -> None:
        if not any(True for _ in module.head.parameters()):
            from warmstart.errors import ConfigError

            raise ConfigError("strategy.kind=linear_probe trains only the task head, and this task's head has no "
                              "parameters of its own (sft: the LM head is the tied token embeddings); use "
                              "strategy.kind=lora (recommended) or partial")
        module.backbone.requires_grad_(False)

    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        return [{"name": "head", "params": list(module.head.parameters()), "lr": self.cfg.head_lr or lr}]

    def train_mode(self, module: nn.Module) -> None:
        if self.cfg.freeze_norm_stats:
            module.backbone.eval()

    def fixed_backbone(self) -> bool:
        return self.cfg.freeze_norm_stats
