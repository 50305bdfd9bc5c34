"""Pretraining objectives. Each maps a Batch to StepOutput using a backbone plus its own head."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from warmstart.objectives.causal_lm import CausalLM
from warmstart.objectives.contrastive import Contrastive
from warmstart.objectives.denoising import Denoising
from warmstart.objectives.masked_lm import MaskedLM
from warmstart.objectives.span_corruption import SpanCorruption
from warmstart.objectives.supervised import Supervised

if TYPE_CHECKING:
    from warmstart.config.schema import Objective

OBJECTIVES: dict[str, type[nn.Module]] = {
    "causal_lm": CausalLM,
    "masked_lm": MaskedLM,
    "denoising": Denoising,
    "contrastive": Contrastive,
    "supervised": Supervised,
    "span_corruption": SpanCorruption,
}


def build_objective(cfg: Objective, backbone, info: dict) -> nn.Module:
    """The objective for config section `cfg` around `backbone`.

    `info` holds what the inputs step learned about the data: the tokenizer's special ids for text
    objectives; {"input_shape", "labels"} for image and vector objectives.
    """
    return OBJECTIVES[cfg.kind](backbone, cfg, info)  # cfg.kind was validated by the schema
