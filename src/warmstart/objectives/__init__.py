"""Pretraining objectives. Each maps a Batch to StepOutput using a backbone plus its own head."""

from __future__ import annotations

from torch import nn

from warmstart.objectives.causal_lm import CausalLM
from warmstart.objectives.masked_lm import MaskedLM

OBJECTIVES: dict[str, type[nn.Module]] = {
    "causal_lm": CausalLM,
    "masked_lm": MaskedLM,
}


def build_objective(cfg, backbone, special: dict[str, int | None]) -> nn.Module:
    return OBJECTIVES[cfg.kind](backbone, cfg, special)  # cfg.kind was validated by the schema
