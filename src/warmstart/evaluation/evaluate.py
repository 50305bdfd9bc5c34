"""evaluate(module, batches) -> dict[str, float]: one pass, streaming metrics, no gradients."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from warmstart.training.precision import autocast
from warmstart.types import Batch


@torch.no_grad()
def evaluate(module: torch.nn.Module, batches: Iterable[Batch], precision: str = "fp32", seed: int = 0,
             sum_over_ranks: Callable[[list[float]], list[float]] | None = None, metrics=None) -> dict[str, float]:
    """Evaluate in eval mode, on the device the module's parameters are on (batches must already be
    there). Random parts of an objective (MLM masks) draw from a fixed seed inside a forked CPU RNG:
    every evaluation scores the same masks, and the training RNG stream is untouched (so evaluating
    never changes what training does next). Under data parallelism each rank scores its own slice
    of the batches and `sum_over_ranks` (World.sum) combines the metrics' running sums. `metrics`: a
    fresh accumulator from module.new_metrics() to fill (the caller reads more from it afterwards,
    e.g. per-class recall); by default a new one."""
    was_training = module.training
    module.eval()
    metrics = module.new_metrics() if metrics is None else metrics
    device_type = next(module.parameters()).device.type
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for batch in batches:
            with autocast(precision, device_type):
                out = module(batch)
            metrics.update(out)
    module.train(was_training)
    if sum_over_ranks is not None:
        metrics.reduce(sum_over_ranks)
    return metrics.compute()
