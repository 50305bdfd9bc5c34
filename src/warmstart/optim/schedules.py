"""LR schedules as multipliers of each group's own LR (so per-group LR ratios are preserved).

`multiplier(step)` is the factor used for optimizer step `step` (0-based).
"""

from __future__ import annotations

import math

import torch


def multiplier(cfg, total_steps: int):
    warm = getattr(cfg, "warmup_steps", 0)

    def warmup(step: int) -> float | None:
        # Linear warmup reaching the peak on the last warmup step: (step + 1) / warm.
        return (step + 1) / warm if step < warm else None

    if cfg.kind == "constant":
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
    raise ValueError(f"schedule.kind: unknown {cfg.kind!r}")


def build_schedule(optimizer: torch.optim.Optimizer, cfg, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier(cfg, total_steps))
