"""Streaming evaluation: metrics accumulate per batch and never hold all logits."""

from warmstart.evaluation.evaluate import evaluate
from warmstart.evaluation.metrics import ClassificationMetrics, LMMetrics, RegressionMetrics

__all__ = ["evaluate", "ClassificationMetrics", "LMMetrics", "RegressionMetrics"]
