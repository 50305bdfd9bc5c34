"""Fine-tuning tasks: backbone + task head + loss + metrics -> StepOutput."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from warmstart.tasks.classification import Classification
from warmstart.tasks.extractive_qa import ExtractiveQA
from warmstart.tasks.regression import Regression
from warmstart.tasks.seq2seq import Seq2Seq
from warmstart.tasks.sft import SFT
from warmstart.tasks.token_classification import TokenClassification

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneData, Task

TASKS: dict[str, type[nn.Module]] = {
    "classification": Classification,
    "regression": Regression,
    "token_classification": TokenClassification,
    "extractive_qa": ExtractiveQA,
    "seq2seq": Seq2Seq,
    "sft": SFT,
}


def head_info(cfg: Task, train_records: list[dict], all_records: list[dict] | None = None,
              data_cfg: FinetuneData | None = None) -> dict:
    """The data-derived facts a task head needs (label vocabulary and class weights, target
    statistics, the tagging scheme). Regression uses the training split only; classification and
    token classification take their label set from all labeled records."""
    if cfg.kind == "regression":
        return Regression.head_info(train_records, cfg.standardize)
    if cfg.kind == "token_classification":
        return TokenClassification.head_info(train_records, cfg, all_records, getattr(data_cfg, "scheme", "iob2"))
    return TASKS[cfg.kind].head_info(train_records, cfg, all_records)


def primary_metric(cfg: Task) -> str:
    """The headline metric of a task config: what compare tabulates by default and what
    selects the best checkpoint."""
    from warmstart.evaluation.metrics import (
        ClassificationMetrics,
        MultiLabelMetrics,
        QAMetrics,
        RegressionMetrics,
        TaggingMetrics,
    )

    if cfg.kind == "sft":  # the configured one: exact_match for short answers, chrf for free text
        return cfg.metric
    if cfg.kind == "classification":
        return (MultiLabelMetrics if cfg.multilabel else ClassificationMetrics).primary
    if cfg.kind == "seq2seq":
        from warmstart.evaluation.seq2seq_metrics import Seq2SeqMetrics

        return Seq2SeqMetrics.primary
    return {"regression": RegressionMetrics, "token_classification": TaggingMetrics,
            "extractive_qa": QAMetrics}[cfg.kind].primary


def build_task(cfg: Task, backbone, info: dict) -> nn.Module:
    return TASKS[cfg.kind](backbone, cfg, info)
