"""evaluate(module, batches) -> dict[str, float]: one pass, streaming metrics, no gradients."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from warmstart.training.precision import autocast
from warmstart.types import Batch


@torch.no_grad()
def evaluate(module: torch.nn.Module, batches: Iterable[Batch], precision: str = "fp32",
             seed: int = 0) -> dict[str, float]:
    """Evaluate in eval mode. Random parts of an objective (MLM masks) draw from a fixed seed inside
    a forked RNG: every evaluation scores the same masks, and the training RNG stream is untouched
    (so evaluating never changes what training does next)."""
    was_training = module.training
    module.eval()
    metrics = module.new_metrics()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in batches:
            with autocast(precision):
                out = module(batch)
            metrics.update(out)
    module.train(was_training)
    return metrics.compute()
