"""LR schedules as multipliers of each group's own LR (so per-group LR ratios are preserved).

`multiplier(step)` is the factor used for optimizer step `step` (0-based). Every schedule is a
LambdaLR with an `observe(value, higher_is_better)` hook the loop calls after each validation;
only `plateau` uses it. All schedule state is in `state_dict()` (JSON-able), so resume is exact.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from warmstart.config.schema import PlateauSchedule, Schedule


def multiplier(cfg: Schedule, total_steps: int):
    warm = getattr(cfg, "warmup_steps", 0)

    def warmup(step: int) -> float | None:
        # Linear warmup reaching the peak on the last warmup step: (step + 1) / warm.
        return (step + 1) / warm if step < warm else None

    if cfg.kind in ("constant", "plateau"):  # plateau's reductions are applied on top, in PlateauLR
        return lambda step: warmup(step) or 1.0
    if cfg.kind == "warmup_cosine":
        decay_steps = max(total_steps - warm, 1)

        def f(step: int) -> float:
            w = warmup(step)
            if w is not None:
                return w
            progress = min((step - warm) / decay_steps, 1.0)
            # Half-cosine from 1 down to min_lr_ratio over the post-warmup steps.
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        return f
    if cfg.kind == "step":
        return lambda step: warmup(step) or cfg.gamma ** ((step - warm) // cfg.step_size)
    if cfg.kind == "exponential":
        return lambda step: warmup(step) or cfg.gamma ** (step - warm)
    if cfg.kind == "one_cycle":
        up = max(round(cfg.pct_start * total_steps), 1)
        start, end = 1 / cfg.div_factor, 1 / (cfg.div_factor * cfg.final_div_factor)

        def cos_between(a: float, b: float, t: float) -> float:  # a at t=0 -> b at t=1, cosine-shaped
            return b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

        return lambda step: (cos_between(start, 1.0, step / up) if step < up
                             else cos_between(1.0, end, (step - up) / max(total_steps - 1 - up, 1)))
    raise ValueError(f"schedule.kind: unknown {cfg.kind!r}")


class MultiplierLR(torch.optim.lr_scheduler.LambdaLR):
    """A LambdaLR that ignores validation results."""

    def observe(self, value: float, higher_is_better: bool) -> None:
        """Called by the loop with the monitored validation metric after each evaluation."""


class PlateauLR(MultiplierLR):
    """Reduce-on-plateau on top of a warmup multiplier: after `patience` evaluations without an
    improvement of more than `threshold`, multiply every group's LR by `factor` (down to
    min_lr_ratio). scale/best/bad_evals are attributes, so LambdaLR.state_dict() carries them."""

    def __init__(self, optimizer, cfg: PlateauSchedule, total_steps: int):
        self.scale, self.best, self.bad_evals = 1.0, None, 0
        self.factor, self.patience = cfg.factor, cfg.patience
        self.threshold, self.min_scale = cfg.threshold, cfg.min_lr_ratio
        base = multiplier(cfg, total_steps)
        super().__init__(optimizer, lambda step: base(step) * self.scale)

    def observe(self, value: float, higher_is_better: bool) -> None:
        gain = (value - self.best if higher_is_better else self.best - value) if self.best is not None else math.inf
        if gain > self.threshold:
            self.best, self.bad_evals = value, 0
            return
        self.bad_evals += 1
        if self.bad_evals > self.patience:
            self.scale, self.bad_evals = max(self.scale * self.factor, self.min_scale), 0
            # Apply at once (not at the next step()), so the very next optimizer step uses it.
            for group, base_lr, f in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas, strict=True):
                group["lr"] = base_lr * f(self.last_epoch)


def build_schedule(optimizer: torch.optim.Optimizer, cfg: Schedule, total_steps: int) -> MultiplierLR:
    if cfg.kind == "plateau":
        return PlateauLR(optimizer, cfg, total_steps)
    return MultiplierLR(optimizer, multiplier(cfg, total_steps))
