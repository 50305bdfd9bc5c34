"""Fine-tuning tasks: backbone + task head + loss + metrics -> StepOutput."""

from __future__ import annotations

from torch import nn

from warmstart.tasks.classification import Classification
from warmstart.tasks.regression import Regression

TASKS: dict[str, type[nn.Module]] = {
    "classification": Classification,
    "regression": Regression,
}


def head_info(cfg, train_records: list[dict]) -> dict:
    """The data-derived facts a task head needs (label vocabulary, target statistics)."""
    if cfg.kind == "regression":
        return Regression.head_info(train_records, cfg.standardize)
    return TASKS[cfg.kind].head_info(train_records)


def build_task(cfg, backbone, info: dict) -> nn.Module:
    return TASKS[cfg.kind](backbone, cfg, info)
