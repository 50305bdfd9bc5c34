"""Extractive question answering (SQuAD v1.1 / v2.0): per-position backbone features -> a linear
layer -> a start and an end logit per position; the answer is the context span with the highest
start + end logit, or "no answer" when [CLS]'s score (start + end at position 0) beats it by more
than a threshold (v2 data only).

Batches hold the windows of whole questions (tokenizers.qa: a long context is several windows),
so a question is always decoded from all its windows at once: its best span is the best over its
windows, its null score the lowest over them (BERT's SQuAD v2 rule). Keys: `input_ids`,
`attention_mask`, `token_type_ids` (W, T); `start_positions`, `end_positions` (W,) targets;
`windows` (W Window objects), `window_question` (W question rows) and `questions` (Q records).

The no-answer threshold is a buffer of the head, so checkpoints carry it. With task.tune_threshold
it is fitted on the validation set at every evaluation during training (the official script's
threshold search, QAMetrics); the test split is scored at the threshold the selected checkpoint
holds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import QAMetrics, squad_scores
from warmstart.models.base import Backbone
from warmstart.tokenizers.qa import Window, trim_span
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import ExtractiveQATask


class SpanHead(nn.Module):
    """(B, T, D) features -> (B, T, 2) start and end logits (transformers' `qa_outputs`), and the
    no-answer threshold the decoder uses (a persistent buffer: saved with the head)."""

    def __init__(self, d_in: int, threshold: float):
        super().__init__()
        self.proj = nn.Linear(d_in, 2)
        self.register_buffer("no_answer_threshold", torch.tensor(float(threshold)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def decode_windows(start_logits: list[list[float]], end_logits: list[list[float]], windows: list[Window],
                   context: str, n_best: int, max_answer_len: int) -> tuple[list[dict], float]:
    """The n best answer spans of one question over its windows, best first, and its null score.

    In each window the n_best highest start and end logits over context positions are paired; a
    pair is a candidate when start <= end and it spans at most max_answer_len tokens. Its score is
    start logit + end logit, its answer the context characters from the start token's first to the
    end token's last (whitespace at the ends trimmed). The same characters found in two windows
    count once, at their best score. The null score is the lowest [CLS] start + end over windows."""
    found: dict[tuple[int, int], float] = {}
    null = math.inf
    for s_row, e_row, w in zip(start_logits, end_logits, windows, strict=True):
        null = min(null, s_row[0] + e_row[0])
        lo, n_ctx = w.ctx_start, len(w.offsets)
        ctx = range(lo, lo + n_ctx)
        starts = sorted(ctx, key=lambda p: -s_row[p])[:n_best]
        ends = sorted(ctx, key=lambda p: -e_row[p])[:n_best]
        for s in starts:
            for e in ends:
                if e < s or e - s + 1 > max_answer_len:
                    continue
                a, b = trim_span(context, w.offsets[s - lo][0], w.offsets[e - lo][1])
                if b <= a:
                    continue
                score = s_row[s] + e_row[e]
                if score > found.get((a, b), -math.inf):
                    found[(a, b)] = score
    best = sorted(found.items(), key=lambda kv: -kv[1])[:n_best]
    return [{"text": context[a:b], "start": a, "end": b, "score": score} for (a, b), score in best], null


class ExtractiveQA(nn.Module):
    def __init__(self, backbone: Backbone, cfg: ExtractiveQATask, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.unanswerable: bool = bool(info.get("unanswerable", False))
        self.head = SpanHead(backbone.feature_dim, cfg.no_answer_threshold)
        self.fitting = False  # True while fit_on_val's evaluator runs: the threshold is fitted then

    @staticmethod
    def head_info(train_records: list[dict], cfg: ExtractiveQATask | None = None,
                  all_records: list[dict] | None = None) -> dict:
        """Whether the data has unanswerable questions (SQuAD v2), from all records: only then can
        the decoder answer "no answer"."""
        return {"unanswerable": any(not r["answers"] for r in (all_records or train_records))}

    def info(self) -> dict:
        return {"unanswerable": self.unanswerable}

    @property
    def threshold(self) -> float:
        """The no-answer margin above which a question is answered "no answer" (v1 data: never)."""
        return float(self.head.no_answer_threshold) if self.unanswerable else math.inf

    def logits(self, batch: TextBatch) -> torch.Tensor:
        """(W, T, 2) start and end logits at every position of every window."""
        feats = self.backbone(batch)
        if feats.tokens is None:
            raise ConfigError(f"task.kind=extractive_qa: the {getattr(self.backbone, 'kind', '')} backbone "
                              "gives no per-token features")
        return self.head(feats.tokens)

    def decode(self, logits: torch.Tensor, batch: TextBatch) -> list[tuple[list[dict], float]]:
        """(n-best spans, null score) per question of the batch (decode_windows)."""
        start, end = (x.tolist() for x in logits.detach().float().unbind(-1))  # (W, T) each
        rows: list[list[int]] = [[] for _ in batch["questions"]]
        for w, q in enumerate(batch["window_question"]):
            rows[q].append(w)
        return [decode_windows([start[w] for w in ws], [end[w] for w in ws], [batch["windows"][w] for w in ws],
                               rec["context"], self.cfg.n_best, self.cfg.max_answer_len)
                for rec, ws in zip(batch["questions"], rows, strict=True)]

    def _margin(self, spans: list[dict], null: float) -> float:
        """null score - best span score: "no answer" when above the threshold. A question without a
        candidate span gets +inf (no answer); on v1 data, with one, -inf (always answered)."""
        if not spans:
            return math.inf
        return null - spans[0]["score"] if self.unanswerable else -math.inf

    def predictions(self, logits: torch.Tensor, batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per question: {"id", "answer", "start", "end" (character offsets into
        the context, end exclusive), "score" (start + end logit), "no_answer", "null_score", "n_best"
        (up to 5 alternatives with their offsets and scores)}; a "no answer" has answer "" and
        start = end = null."""
        out = []
        threshold = self.threshold
        for rec, (spans, null) in zip(batch["questions"], self.decode(logits, batch), strict=True):
            no_answer = self._margin(spans, null) > threshold
            best = spans[0] if spans and not no_answer else None
            out.append({"id": rec["id"], "answer": best["text"] if best else "",
                        "start": best["start"] if best else None, "end": best["end"] if best else None,
                        "score": round(best["score"], 4) if best else None, "no_answer": no_answer,
                        "null_score": round(null, 4),
                        "n_best": [{**s, "score": round(s["score"], 4)} for s in spans[:5]]})
        return out

    def forward(self, batch: TextBatch) -> StepOutput:
        return self.score(self.logits(batch), batch)

    def score(self, logits: torch.Tensor, batch: TextBatch) -> StepOutput:
        """Loss and outputs of (W, T, 2) logits against the windows' start/end targets; outside
        training, each question is also decoded and scored (StepOutput.scores for QAMetrics)."""
        # fp32 for the log-softmax even under bf16 autocast; padding can never be a start or an end.
        pad = batch["attention_mask"] == 0  # (W, T)
        start, end = logits.float().masked_fill(pad.unsqueeze(-1), -1e4).unbind(-1)  # (W, T) each
        n = start.size(0)
        # The mean of the start and end cross-entropies (BERT's SQuAD loss), summed over windows and
        # divided by their count: the loop's exact accumulation then weighs every window equally.
        loss = (F.cross_entropy(start, batch["start_positions"], reduction="sum")
                + F.cross_entropy(end, batch["end_positions"], reduction="sum")) / (2 * n)
        scores = None
        if not self.training:
            rows = []
            for rec, (spans, null) in zip(batch["questions"], self.decode(logits, batch), strict=True):
                em, f1 = squad_scores([a["text"] for a in rec["answers"]], spans[0]["text"] if spans else "")
                rows.append([float(bool(rec["answers"])), em, f1, self._margin(spans, null)])
            scores = torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)
        return StepOutput(loss=loss, n_items=n, logits=logits.detach().float(), scores=scores)

    def new_metrics(self) -> QAMetrics:
        return QAMetrics(self.threshold, self.unanswerable, fit=self.fitting and self.cfg.tune_threshold,
                         on_fit=self.head.no_answer_threshold.fill_)

    def fit_on_val(self, evaluate_val):
        """The loop's validation evaluator, fitting the no-answer threshold while it runs (see the
        module docstring); the fitted value is in the head from then on, so it is checkpointed."""

        def fitted(max_batches: int | None = None) -> dict[str, float]:
            self.fitting = True
            try:
                return evaluate_val(max_batches)
            finally:
                self.fitting = False

        return fitted
