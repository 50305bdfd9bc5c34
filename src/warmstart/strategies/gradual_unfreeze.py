"""Gradual unfreezing (ULMFiT): the run starts with the backbone frozen and only the head
training; at each epoch (or every `every_steps` steps) one more layer group is unfrozen, from the
top (output side) down.

Every layer group is in the optimizer from the start (each with its own LR, optionally decayed
layer-wise): a frozen parameter has no gradient, so the optimizer skips it and keeps no state for
it; once unfrozen, its state starts on its first step. How many groups are unfrozen is a pure
function of (epoch, step), re-applied by the loop's hooks, so a resumed run freezes exactly as an
uninterrupted one does.
"""

from __future__ import annotations

from torch import nn

from warmstart.strategies.base import Strategy
from warmstart.strategies.discriminative import layerwise_groups


class GradualUnfreeze(Strategy):
    def prepare(self, module: nn.Module) -> None:
        self.groups = module.backbone.layer_groups()
        module.backbone.requires_grad_(False)
        self.n_unfrozen = 0
        # A head with no parameters of its own (sft: the tied token embeddings) has nothing to train
        # alone, so the first phase already unfreezes the top group.
        self.offset = 0 if any(True for _ in module.head.parameters()) else 1

    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        return layerwise_groups(module, lr, self.cfg.decay, self.cfg.head_lr)

    def _unfreeze(self, n_top: int) -> None:
        n_top = min(n_top + self.offset, len(self.groups))
        for i, group in enumerate(self.groups):
            for p in group:
                p.requires_grad_(i >= len(self.groups) - n_top)
        self.n_unfrozen = n_top

    def on_epoch_start(self, epoch: int, optimizer) -> None:
        if self.cfg.every_steps is None:
            self._unfreeze(epoch)  # epoch 0: head only; epoch e: the top e groups too

    def on_step_start(self, step: int) -> None:
        if self.cfg.every_steps is not None:
            self._unfreeze(step // self.cfg.every_steps)
