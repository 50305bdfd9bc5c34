"""The strategy contract: decide what trains and at which LR, by module ownership (backbone vs head,
backbone.layer_groups() index), never by parameter-name substrings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from warmstart.config import schema  # schema.Strategy: the config section, not this Strategy


class Strategy:
    """Base strategy: everything trains at the base LR. Subclasses override what they change."""

    def __init__(self, cfg: schema.Strategy):
        self.cfg = cfg

    def prepare(self, module: nn.Module) -> None:
        """Freeze parameters or change the model (called once, before the optimizer is built)."""

    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        """Optimizer parameter groups: dicts with "params", "lr" and a "name" for logs."""
        head_lr = getattr(self.cfg, "head_lr", None) or lr
        return [
            {"name": "backbone", "params": list(module.backbone.parameters()), "lr": lr},
            {"name": "head", "params": list(module.head.parameters()), "lr": head_lr},
        ]

    def train_mode(self, module: nn.Module) -> None:
        """Called after module.train() each step: frozen parts may go back to eval mode."""

    def fixed_backbone(self) -> bool:
        """True when the backbone is frozen and kept in eval mode for the whole run: its features are
        then a fixed function of the inputs, so they may be computed once (workflows.features)."""
        return False

    def on_epoch_start(self, epoch: int, optimizer) -> None:
        """Hook for schedules of (un)freezing, e.g. gradual unfreezing. Also called once when a run
        resumes, so it must set state as a function of `epoch` (idempotent)."""

    def on_step_start(self, step: int) -> None:
        """Called before every optimizer step (`step` = steps completed); idempotent like on_epoch_start."""

    # ---- extra state: what a strategy adds to the backbone (e.g. LoRA adapters) ----
    # Checkpoints keep the backbone's base weights under their plain names (backbone.safetensors
    # loads strictly into a plain backbone of the architecture) and the extra state on its own
    # (adapter.safetensors); these hooks split, join and fold it.

    def split_state(self, backbone: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(base state under the backbone's plain names, extra state; {} when there is none)."""
        return backbone.state_dict(), {}

    def join_state(self, backbone: nn.Module, base: dict[str, torch.Tensor],
                   extra: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of split_state: a state dict that loads strictly into the prepared backbone."""
        return base

    def merge(self, backbone: nn.Module) -> nn.Module:
        """Fold the extra state into the base weights, in place: the backbone with its plain
        structure and names and the same outputs (what export and the forgetting check use)."""
        return backbone


def count_params(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total
