"""LR range test (Smith; fastai's lr_find): train with an LR that grows exponentially each step,
record the loss, and suggest an LR from the smoothed loss-vs-LR curve.

The sweep itself runs through the one training loop (training/loop.py) with an exponential
schedule and nan_policy=skip, so it sees exactly what training sees (accumulation, clipping,
strategy LR ratios). This module holds the schedule, the suggestion rule and the plot.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def sweep_schedule(optimizer: torch.optim.Optimizer, base_lr: float, min_lr: float, max_lr: float, n_steps: int):
    """A schedule whose LR for the base group goes geometrically from min_lr (step 0) to max_lr
    (step n_steps - 1); other groups keep their ratio to it (e.g. discriminative LRs)."""
    from warmstart.optim.schedules import MultiplierLR

    ratio = max_lr / min_lr
    return MultiplierLR(optimizer,
                        lambda step: min_lr / base_lr * ratio ** (min(step, n_steps - 1) / max(n_steps - 1, 1)))


def sweep_lrs(min_lr: float, max_lr: float, n_steps: int) -> list[float]:
    return [min_lr * (max_lr / min_lr) ** (i / max(n_steps - 1, 1)) for i in range(n_steps)]


def smooth(losses: list[float], beta: float = 0.8, diverge_factor: float = 4.0) -> list[float]:
    """Bias-corrected exponential moving average of the losses, cut at the first non-finite loss or
    when the smoothed loss exceeds diverge_factor x its minimum so far (the run has diverged)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            break
        avg = beta * avg + (1 - beta) * loss
        value = avg / (1 - beta ** (i + 1))  # bias correction: early averages are not pulled toward 0
        if out and value > diverge_factor * min(out):
            break
        out.append(value)
    return out


def suggest_lr(lrs: list[float], losses: list[float], beta: float = 0.8) -> float | None:
    """The LR where the smoothed loss falls fastest (steepest negative slope against log LR), looked
    for only before the smoothed minimum, so noise and divergence past the minimum cannot pick it.
    None when fewer than 3 usable points remain."""
    sm = smooth(losses, beta)
    if len(sm) < 3:
        return None
    stop = int(np.argmin(sm)) + 1
    if stop < 3:  # the loss only rose: the lowest LR tried is the best guess, one decade below
        return lrs[0] / 10
    slopes = np.gradient(np.asarray(sm[:stop]), np.log(np.asarray(lrs[:stop])))
    return float(lrs[int(np.argmin(slopes))])


def plot_lr_find(path: Path, lrs: list[float], losses: list[float], suggested: float | None) -> None:
    """Loss vs LR (log x): raw losses, the smoothed curve, and the suggestion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sm = smooth(losses)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    finite = [(lr, loss) for lr, loss in zip(lrs, losses, strict=True) if math.isfinite(loss)]
    if finite:
        ax.plot(*zip(*finite, strict=True), color="0.75", linewidth=1, label="loss")
    if sm:
        ax.plot(lrs[: len(sm)], sm, color="C0", linewidth=2, label="smoothed")
        lo, hi = min(sm), max(sm)
        ax.set_ylim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.3 * (hi - lo + 1e-9))
    if suggested is not None:
        ax.axvline(suggested, color="C3", linestyle="--", label=f"suggested {suggested:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
