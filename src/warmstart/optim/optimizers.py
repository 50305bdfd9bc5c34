"""Optimizers from parameter groups: each group is split so weight decay skips norms and biases.

OPTIMIZERS maps the schema's optim.kind to a constructor taking (groups, cfg, **kernel); adding an
optimizer is one entry here (and its schema section).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from warmstart.config.schema import Optim


def _split_decay(groups: list[dict], weight_decay: float, decay_1d: bool = False) -> list[dict]:
    # Decay only matrices/embeddings (ndim >= 2); decaying LayerNorm gains or biases just pulls
    # them toward 0 with no regularizing benefit.
    out = []
    for g in groups:
        decay = [p for p in g["params"] if p.ndim >= 2 or decay_1d]
        no_decay = [p for p in g["params"] if p.ndim < 2 and not decay_1d]
        extra = {k: v for k, v in g.items() if k != "params"}
        if decay:
            out.append({**extra, "params": decay, "weight_decay": weight_decay})
        if no_decay:
            out.append({**extra, "params": no_decay, "weight_decay": 0.0})
    return out


def _kernel(cfg: Optim, sharded: bool = False) -> dict:
    """torch's switch for the update kernel. Measured on our 2-core CPU (benchmarks/pretrain_speed.py),
    a fused AdamW step over a 6.7M-parameter GPT is ~2x faster than the per-tensor loop, and foreach
    is slower than both (CPU has no multi-tensor kernels). Optimizers without the field use torch's default.
    FSDP's DTensor parameters have no fused SGD kernel (torch 2.13: "aten._fused_sgd_ does not have a
    sharding strategy"); sharded SGD uses the per-tensor loop."""
    impl = getattr(cfg, "implementation", None)
    if sharded and impl == "fused" and cfg.kind not in ("adamw", "adam"):
        impl = "for_loop"
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}.get(impl, {})


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": lambda groups, cfg, **kernel: torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                                             **kernel),
    "adam": lambda groups, cfg, **kernel: torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                                           **kernel),
    "sgd": lambda groups, cfg, **kernel: torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                                                         nesterov=cfg.nesterov, **kernel),
    # Full-batch gradient descent is SGD's update; what makes it "full batch" is the data side
    # (data.loaders.train_batches gives each step the whole training set).
    "gd": lambda groups, cfg, **kernel: torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, **kernel),
    "adagrad": lambda groups, cfg, **kernel: torch.optim.Adagrad(
        groups, lr=cfg.lr, eps=cfg.eps, initial_accumulator_value=cfg.initial_accumulator_value, **kernel),
    "rmsprop": lambda groups, cfg, **kernel: torch.optim.RMSprop(
        groups, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum, centered=cfg.centered, **kernel),
}


def build_optimizer(groups: list[dict], cfg: Optim, sharded: bool = False) -> torch.optim.Optimizer:
    """`groups` come from a strategy (each with its own "lr"); `cfg` is the optim config section.
    Weight decay is set per group (0 for 1-d parameters unless cfg.decay_1d). `sharded`: the
    parameters are FSDP DTensors."""
    groups = _split_decay(groups, cfg.weight_decay, getattr(cfg, "decay_1d", False))
    return OPTIMIZERS[cfg.kind](groups, cfg, **_kernel(cfg, sharded))
