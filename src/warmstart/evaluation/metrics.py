"""Streaming metrics: accumulate sufficient statistics batch by batch (never concatenating all
logits), then compute. Each accumulator takes StepOutputs and returns dict[str, float].

Every statistic is a sum (`additive` names them), so data-parallel ranks that each scored their own
slice of the validation data combine by summing: `reduce(sum_over_ranks)` before `compute()`.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

import torch

from warmstart.data.tag_schemes import entities
from warmstart.types import StepOutput


class _LossMean:
    # Each metric this class reports -> whether higher is better: the one source of metric direction
    # for the loop's monitor, compare and the report (see `higher_is_better`).
    directions: ClassVar[dict[str, bool]] = {"loss": False}
    primary: ClassVar[str] = "loss"
    # The running sums (numbers, tensors, or dicts of numbers) that make up this accumulator's state.
    additive: ClassVar[tuple[str, ...]] = ("loss_sum", "n")

    @property
    def higher_is_better(self) -> bool:
        """Direction of this accumulator's primary metric."""
        return self.directions[self.primary]

    def __init__(self):
        self.loss_sum, self.n = 0.0, 0

    def _add_loss(self, out: StepOutput) -> None:
        # Weight each batch's mean loss by its item count: the result is the mean over all items.
        self.loss_sum += float(out.loss.detach()) * out.n_items
        self.n += out.n_items

    def _loss(self) -> float:
        return self.loss_sum / max(self.n, 1)

    def reduce(self, sum_over_ranks: Callable[[list[float]], list[float]]) -> None:
        """Replace every statistic by its sum over ranks (one all-reduce of a flat float64 vector)."""
        parts = [getattr(self, name) for name in self.additive]
        flat: list[float] = []
        for v in parts:
            if isinstance(v, torch.Tensor):
                flat += v.flatten().tolist()
            elif isinstance(v, dict):
                flat += [v[k] for k in sorted(v)]
            else:
                flat.append(v)
        summed = iter(sum_over_ranks(flat))
        for name, v in zip(self.additive, parts, strict=True):
            if isinstance(v, torch.Tensor):
                new = torch.tensor([next(summed) for _ in range(v.numel())], dtype=torch.float64).round()
                setattr(self, name, new.to(v.dtype).view_as(v))
            elif isinstance(v, dict):
                setattr(self, name, {k: next(summed) for k in sorted(v)})
            else:
                setattr(self, name, type(v)(next(summed)))


class LMMetrics(_LossMean):
    """Token-level loss and perplexity = exp(mean token cross-entropy)."""

    directions = {"loss": False, "ppl": False}

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)

    def compute(self) -> dict[str, float]:
        loss = self._loss()
        return {"loss": loss, "ppl": math.exp(min(loss, 50.0))}


class MLMPairMetrics(_LossMean):
    """Masked LM with next-sentence (or sentence-order) prediction: loss (the training loss, MLM + NSP),
    ppl and mlm_loss over the masked tokens, and nsp_loss and nsp_acc over the pairs."""

    directions = {"loss": False, "ppl": False, "mlm_loss": False, "nsp_loss": False, "nsp_acc": True}
    additive = ("loss_sum", "n", "mlm_sum", "nsp_sum", "nsp_correct", "pairs")

    def __init__(self):
        super().__init__()
        self.mlm_sum, self.nsp_sum, self.nsp_correct, self.pairs = 0.0, 0.0, 0.0, 0

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        m = out.metrics
        self.mlm_sum += float(m["mlm_loss"]) * out.n_items
        self.nsp_sum += float(m["nsp_loss_sum"])
        self.nsp_correct += float(m["nsp_correct"])
        self.pairs += int(m["pairs"])

    def compute(self) -> dict[str, float]:
        mlm = self.mlm_sum / max(self.n, 1)
        return {"loss": self._loss(), "ppl": math.exp(min(mlm, 50.0)), "mlm_loss": mlm,
                "nsp_loss": self.nsp_sum / max(self.pairs, 1), "nsp_acc": self.nsp_correct / max(self.pairs, 1)}


class LossMetrics(_LossMean):
    """Mean loss, plus the item-weighted mean of any per-batch `StepOutput.metrics` an objective
    reports (e.g. the contrastive objective's positive-pair accuracy; such metrics count as higher
    is better)."""

    additive = ("loss_sum", "n", "sums")

    def __init__(self):
        super().__init__()
        self.sums: dict[str, float] = {}

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        for name, value in out.metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * out.n_items

    def compute(self) -> dict[str, float]:
        return {"loss": self._loss(), **{name: total / max(self.n, 1) for name, total in self.sums.items()}}


class ClassificationMetrics(_LossMean):
    """Accuracy and macro-F1 from a running confusion matrix (C x C ints)."""

    primary, directions = "acc", {"loss": False, "acc": True, "f1": True}
    additive = ("loss_sum", "n", "confusion")  # confusion: integer counts

    def __init__(self, n_classes: int):
        super().__init__()
        self.confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        c = self.confusion.size(0)
        pred = out.logits.argmax(-1).cpu()
        idx = out.targets.cpu() * c + pred
        self.confusion += torch.bincount(idx, minlength=c * c).view(c, c)

    def compute(self) -> dict[str, float]:
        cm = self.confusion.double()
        tp = cm.diag()
        total = cm.sum()
        precision = tp / cm.sum(0).clamp(min=1)
        recall = tp / cm.sum(1).clamp(min=1)
        f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
        present = cm.sum(1) > 0  # macro-average over classes that occur in the targets
        return {
            "loss": self._loss(),
            "acc": float(tp.sum() / total.clamp(min=1)),
            "f1": float(f1[present].mean()) if bool(present.any()) else 0.0,
        }

    def recall_by_class(self, labels: list) -> dict[str, float | None]:
        """Recall (true-positive rate) of each class, None for a class with no example here. Per
        group, these are what equalized odds compares: a fair classifier finds each class equally
        often in every group."""
        cm = self.confusion
        support = cm.sum(1).tolist()
        return {str(lab): (int(cm[i, i]) / support[i] if support[i] else None) for i, lab in enumerate(labels)}


class MultiLabelMetrics(_LossMean):
    """Multi-label (a sigmoid per label, predicted when its logit > 0): micro-F1 over all
    (example, label) decisions, subset accuracy (every label of an example right) and label accuracy."""

    primary, directions = "f1", {"loss": False, "f1": True, "subset_acc": True, "label_acc": True}
    additive = ("loss_sum", "n", "tp", "fp", "fn", "exact", "correct", "examples")

    def __init__(self, n_labels: int):
        super().__init__()
        self.n_labels = n_labels
        self.tp = self.fp = self.fn = self.exact = self.correct = self.examples = 0

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        pred, y = out.logits.cpu() > 0, out.targets.cpu() > 0.5  # (B, C) bools
        self.tp += int((pred & y).sum())
        self.fp += int((pred & ~y).sum())
        self.fn += int((~pred & y).sum())
        self.correct += int((pred == y).sum())
        self.exact += int((pred == y).all(-1).sum())
        self.examples += y.size(0)

    def compute(self) -> dict[str, float]:
        n = max(self.examples, 1)
        return {
            "loss": self._loss(),
            "f1": 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1),
            "subset_acc": self.exact / n,
            "label_acc": self.correct / (n * self.n_labels),
        }


class RegressionMetrics(_LossMean):
    """MSE, MAE and R^2 in the targets' original units, from running sums."""

    primary, directions = "mse", {"loss": False, "mse": False, "mae": False, "rmse": False, "r2": True}
    additive = ("loss_sum", "n", "sse", "sae", "sum_y", "sum_y2", "count")

    def __init__(self):
        super().__init__()
        self.sse = self.sae = self.sum_y = self.sum_y2 = 0.0
        self.count = 0

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        pred, y = out.logits.detach().double().cpu().reshape(-1), out.targets.double().cpu().reshape(-1)
        err = pred - y
        self.sse += float((err**2).sum())
        self.sae += float(err.abs().sum())
        self.sum_y += float(y.sum())
        self.sum_y2 += float((y**2).sum())
        self.count += y.numel()

    def compute(self) -> dict[str, float]:
        n = max(self.count, 1)
        # Total sum of squares around the mean: sum(y^2) - n * mean^2.
        ss_tot = self.sum_y2 - self.sum_y**2 / n
        return {
            "loss": self._loss(),
            "mse": self.sse / n,
            "mae": self.sae / n,
            "r2": 1.0 - self.sse / ss_tot if ss_tot > 0 else 0.0,
        }


class TaggingMetrics(_LossMean):
    """Token classification, word level: entity precision, recall and F1 in seqeval's strict mode
    (micro-averaged over entity types: an entity counts only if its type, start and end all match
    a gold entity), and word accuracy. Reads the first subword of each word (targets != -100);
    the sentences' entity counts are all that is kept between batches."""

    primary = "f1"
    directions = {"loss": False, "f1": True, "precision": True, "recall": True, "token_acc": True}

    def __init__(self, labels: list[str], scheme: str):
        super().__init__()
        self.labels, self.scheme = labels, scheme
        self.tp = self.n_pred = self.n_gold = self.correct = self.words = 0

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        pred, gold = out.logits.argmax(-1).cpu(), out.targets.cpu()  # (B, T), (B, T)
        for p_row, g_row in zip(pred, gold, strict=True):
            keep = g_row != -100
            self.update_tags([self.labels[i] for i in g_row[keep].tolist()],
                             [self.labels[i] for i in p_row[keep].tolist()])

    def update_tags(self, gold: list[str], pred: list[str]) -> None:
        """Add one sentence's word tags (gold and predicted, equal lengths)."""
        g, p = set(entities(gold, self.scheme)), set(entities(pred, self.scheme))
        self.tp += len(g & p)
        self.n_gold += len(g)
        self.n_pred += len(p)
        self.correct += sum(a == b for a, b in zip(gold, pred, strict=True))
        self.words += len(gold)

    def compute(self) -> dict[str, float]:
        # seqeval's zero_division: a precision (recall) with no predicted (gold) entities is 0.
        precision = self.tp / self.n_pred if self.n_pred else 0.0
        recall = self.tp / self.n_gold if self.n_gold else 0.0
        return {
            "loss": self._loss(),
            "f1": 2 * self.tp / (self.n_pred + self.n_gold) if self.tp else 0.0,
            "precision": precision,
            "recall": recall,
            "token_acc": self.correct / max(self.words, 1),
        }


# ------------------------------------------------------------------ extractive QA (SQuAD)

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def squad_normalize(text: str) -> str:
    """The official SQuAD answer normalization: lowercase, drop ASCII punctuation, drop the
    articles a/an/the, collapse whitespace (in that order, as the v1.1 and v2.0 scripts do)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(gold: str, pred: str) -> float:
    return float(squad_normalize(gold) == squad_normalize(pred))


def squad_f1(gold: str, pred: str) -> float:
    """Token-overlap F1 of normalized answers (bags of words); an empty answer ("no answer") scores
    1 against an empty one and 0 against anything else."""
    g, p = squad_normalize(gold).split(), squad_normalize(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(references: list[str], pred: str) -> tuple[float, float]:
    """(exact match, F1) of a predicted answer: the best over the reference answers; an
    unanswerable question's only reference is the empty answer."""
    refs = references or [""]
    return max(squad_exact(r, pred) for r in refs), max(squad_f1(r, pred) for r in refs)


class QAMetrics(_LossMean):
    """Extractive QA: SQuAD exact match and F1 (fractions in [0, 1], best over the reference
    answers), split into questions with an answer (has_ans_*) and without (no_ans_*, SQuAD v2).

    The task decodes each question and reports per question (StepOutput.scores, (Q, 4)): whether
    it has an answer, the exact match and F1 of its best span, and its no-answer margin (null
    score - best span score; -inf when the task never answers "no answer"). A question is
    answered "no answer" when its margin exceeds `threshold`. With unanswerable questions, the
    official script's threshold search is reported too: best_f1 / best_exact at the threshold that
    maximizes each on these questions, and best_threshold (F1's). `fit` (validation only) scores
    everything at that best threshold and hands it to `on_fit`.
    """

    primary = "f1"
    directions = {"loss": False, "f1": True, "exact": True, "has_ans_f1": True, "has_ans_exact": True,
                  "no_ans_f1": True, "no_ans_exact": True, "best_f1": True, "best_exact": True}

    def __init__(self, threshold: float, unanswerable: bool, fit: bool = False, on_fit=None):
        super().__init__()
        self.threshold, self.unanswerable, self.fit, self.on_fit = threshold, unanswerable, fit, on_fit
        self.rows: list[tuple[float, float, float, float]] = []  # (has_ans, span_em, span_f1, margin)
        self.reduced = False

    def update(self, out: StepOutput) -> None:
        self._add_loss(out)
        if out.scores is not None:  # None in training mode: the task decodes only when evaluating
            self.rows += [tuple(r) for r in out.scores.tolist()]

    def reduce(self, sum_over_ranks: Callable[[list[float]], list[float]]) -> None:
        """Under data parallelism, the per-question rows of every rank are needed: each rank sums a
        vector with its rows in its own slot (one all-reduce of the sizes, one of the rows)."""
        import torch.distributed as dist

        rank, world = dist.get_rank(), dist.get_world_size()
        sizes = [0.0] * world
        sizes[rank] = float(len(self.rows))
        sizes = [int(x) for x in sum_over_ranks(sizes)]
        flat = [0.0] * (4 * sum(sizes))
        at = 4 * sum(sizes[:rank])
        for k, row in enumerate(self.rows):
            flat[at + 4 * k: at + 4 * k + 4] = [max(v, -1e30) for v in row]
        summed = sum_over_ranks(flat + [self.loss_sum, float(self.n)])
        self.loss_sum, self.n = summed[-2], int(summed[-1])
        self.rows = [tuple(summed[4 * k: 4 * k + 4]) for k in range(sum(sizes))]

    def _at(self, threshold: float) -> dict[str, float]:
        em = f1 = 0.0
        has = {"n": 0, "em": 0.0, "f1": 0.0}
        no = {"n": 0, "em": 0.0}
        for has_ans, span_em, span_f1, margin in self.rows:
            null = margin > threshold
            q_em, q_f1 = ((0.0, 0.0) if has_ans else (1.0, 1.0)) if null else (
                (span_em, span_f1) if has_ans else (0.0, 0.0))
            em, f1 = em + q_em, f1 + q_f1
            if has_ans:
                has["n"], has["em"], has["f1"] = has["n"] + 1, has["em"] + q_em, has["f1"] + q_f1
            else:
                no["n"], no["em"] = no["n"] + 1, no["em"] + q_em
        n = max(len(self.rows), 1)
        out = {"exact": em / n, "f1": f1 / n}
        if self.unanswerable:  # the v2 breakdown (no-answer exact match and F1 are the same number)
            out.update({"has_ans_exact": has["em"] / max(has["n"], 1), "has_ans_f1": has["f1"] / max(has["n"], 1),
                        "no_ans_exact": no["em"] / max(no["n"], 1), "no_ans_f1": no["em"] / max(no["n"], 1)})
        return out

    def best_threshold(self, column: int) -> tuple[float, float]:
        """(best score, threshold) for exact match (column 1) or F1 (column 2): the official SQuAD v2
        search. Start from "no answer" everywhere, then switch questions to their span in order of
        rising margin; the best prefix sets the threshold (its last margin: "no answer" above it)."""
        n = max(len(self.rows), 1)
        score = best = sum(1.0 for r in self.rows if not r[0])
        ordered = sorted(self.rows, key=lambda r: r[3])
        threshold = (ordered[0][3] - 1.0) if ordered else 0.0
        for r in ordered:
            score += r[column] if r[0] else -1.0
            if score > best:
                best, threshold = score, r[3]
        return best / n, threshold

    def compute(self) -> dict[str, float]:
        threshold = self.threshold
        extra = {}
        if self.unanswerable and self.rows:
            best_f1, f1_threshold = self.best_threshold(2)
            extra = {"best_f1": best_f1, "best_exact": self.best_threshold(1)[0], "best_threshold": f1_threshold}
            if self.fit:
                threshold = f1_threshold
                if self.on_fit is not None:
                    self.on_fit(threshold)
        return {"loss": self._loss(), **self._at(threshold), **extra,
                **({"threshold": threshold} if self.unanswerable else {})}


METRIC_CLASSES = (LMMetrics, LossMetrics, ClassificationMetrics, MultiLabelMetrics, RegressionMetrics, TaggingMetrics,
                  QAMetrics)


def higher_is_better(name: str) -> bool:
    """Whether a higher value of metric `name` is better, as the metric class that reports it says.
    Metrics no class declares (an objective's own, e.g. a positive-pair accuracy) count as higher
    is better."""
    for cls in METRIC_CLASSES:
        if name in cls.directions:
            return cls.directions[name]
    return True


def group_summary(groups: dict[str, dict], primary: str) -> dict:
    """The bias check's summary of per-group metrics (group -> {"n", **metrics, optional "recall"}):
    {"metric": primary, "groups", "worst", "best", "gap": |best - worst|} on the primary metric (its
    own direction decides which group is worst), and, when the groups carry per-class "recall"
    (single-label classification), "recall_gap" (per class: highest minus lowest group recall,
    None for a class seen in fewer than two groups) and "max_recall_gap" (the largest of those):
    equalized-odds style differences. Fine-tuned cells and baselines both report through this."""
    # Worst = lowest for a higher-is-better metric (accuracy), highest for a lower-is-better one (mse).
    sign = 1 if higher_is_better(primary) else -1
    ranked = sorted(groups, key=lambda g: sign * groups[g][primary])
    worst, best = ranked[0], ranked[-1]
    out = {"metric": primary, "groups": groups, "worst": worst, "best": best,
           "gap": abs(groups[best][primary] - groups[worst][primary])}
    recalls = {g: m["recall"] for g, m in groups.items() if "recall" in m}
    if recalls:
        gaps = {}
        for label in next(iter(recalls.values())):
            seen = [r[label] for r in recalls.values() if r[label] is not None]
            gaps[label] = max(seen) - min(seen) if len(seen) > 1 else None  # a class seen in one group has no gap
        out["recall_gap"] = gaps
        known = [g for g in gaps.values() if g is not None]
        out["max_recall_gap"] = max(known) if known else None
    return out
