"""Streaming metrics of generated text (seq2seq): exact match, corpus chrF and ROUGE-L, computed with
evaluation.text_metrics from per-example statistics the task reports (StepOutput.scores, one row
per example: exact match, the 18 chrF counts, ROUGE-L F1), plus the teacher-forced loss.

chrF's counts are summed over the corpus before the score is taken (as text_metrics.chrf does), so
the result equals chrf(all predictions, all references) however the examples fall into batches
or data-parallel ranks.
"""

from __future__ import annotations

import torch

from warmstart.evaluation.metrics import _LossMean
from warmstart.evaluation.text_metrics import CHRF_ORDER, _chrf_from_stats, _chrf_stats, exact_match, rouge_l_f1
from warmstart.types import StepOutput

N_SCORES = 2 + 3 * CHRF_ORDER  # exact match, chrF counts, ROUGE-L F1


def example_scores(prediction: str, reference: str) -> list[float]:
    """One row of StepOutput.scores for a generated text and its reference."""
    return [exact_match(prediction, reference), *map(float, _chrf_stats(prediction, reference)),
            rouge_l_f1(prediction, reference)]


class Seq2SeqMetrics(_LossMean):
    """loss (teacher-forced, per target token), exact_match (0-1), chrf and rouge_l (0-100)."""

    primary = "chrf"
    directions = {"loss": False, "exact_match": True, "chrf": True, "rouge_l": True}
    additive = ("loss_sum", "n", "chrf_counts", "em_sum", "rouge_sum", "count")

    def __init__(self):
        super().__init__()
        self.chrf_counts = torch.zeros(3 * CHRF_ORDER, dtype=torch.long)  # integer counts: exact when summed
        self.em_sum, self.rouge_sum, self.count = 0.0, 0.0, 0

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        if out.scores is not None:  # None in training mode: the task generates only when evaluating
            scores = out.scores.double().cpu()
            self.em_sum += float(scores[:, 0].sum())
            self.chrf_counts += scores[:, 1:-1].round().long().sum(0)
            self.rouge_sum += float(scores[:, -1].sum())
            self.count += scores.size(0)

    def compute(self) -> dict[str, float]:
        """The text scores are 0 when nothing was generated (batches scored in training mode)."""
        count = max(self.count, 1)
        return {"loss": self._loss(), "exact_match": self.em_sum / count,
                "chrf": _chrf_from_stats(self.chrf_counts.tolist()), "rouge_l": 100.0 * self.rouge_sum / count}
