"""Fine-tuning tasks: backbone + task head + loss + metrics -> StepOutput."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from warmstart.tasks.classification import Classification
from warmstart.tasks.regression import Regression

if TYPE_CHECKING:
    from warmstart.config.schema import Task

TASKS: dict[str, type[nn.Module]] = {
    "classification": Classification,
    "regression": Regression,
}


def head_info(cfg: Task, train_records: list[dict], all_records: list[dict] | None = None) -> dict:
    """The data-derived facts a task head needs (label vocabulary and class weights, target
    statistics). Regression uses the training split only; classification takes its label set from
    all labeled records."""
    if cfg.kind == "regression":
        return Regression.head_info(train_records, cfg.standardize)
    return TASKS[cfg.kind].head_info(train_records, cfg, all_records)


def build_task(cfg: Task, backbone, info: dict) -> nn.Module:
    return TASKS[cfg.kind](backbone, cfg, info)
