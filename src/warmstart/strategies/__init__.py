"""Fine-tuning strategies: what trains, with which LR (freezing, LR groups, adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warmstart.strategies.base import Strategy, count_params
from warmstart.strategies.discriminative import Discriminative
from warmstart.strategies.full import Full
from warmstart.strategies.gradual_unfreeze import GradualUnfreeze
from warmstart.strategies.linear_probe import LinearProbe
from warmstart.strategies.lora import LoRA
from warmstart.strategies.partial import Partial

if TYPE_CHECKING:
    from warmstart.config import schema  # schema.Strategy: the config section, not this Strategy

STRATEGIES: dict[str, type[Strategy]] = {
    "full": Full,
    "linear_probe": LinearProbe,
    "partial": Partial,
    "discriminative": Discriminative,
    "gradual_unfreeze": GradualUnfreeze,
    "lora": LoRA,
}


def build_strategy(cfg: schema.Strategy) -> Strategy:
    return STRATEGIES[cfg.kind](cfg)


__all__ = ["STRATEGIES", "Strategy", "build_strategy", "count_params"]
