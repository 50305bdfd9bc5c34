"""Streaming evaluation: metrics accumulate per batch and never hold all logits."""

from warmstart.evaluation.evaluate import evaluate
from warmstart.evaluation.metrics import ClassificationMetrics, LMMetrics, LossMetrics, RegressionMetrics

__all__ = ["evaluate", "ClassificationMetrics", "LMMetrics", "LossMetrics", "RegressionMetrics"]
