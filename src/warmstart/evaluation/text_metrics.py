"""Metrics for generated text: exact match, chrF and ROUGE-L.

Pure functions over strings, shared by every generating task (seq2seq, SFT). Definitions:

- **exact match**: 1 when the prediction equals a reference after stripping surrounding whitespace
  and collapsing inner whitespace runs (case-sensitive), best over references.
- **chrF** (Popović 2015, as sacrebleu 2.x computes it by default): character n-grams of orders
  1..6 taken with all whitespace removed; match/hypothesis/reference counts summed over the corpus
  per order; precision and recall averaged over the orders that have n-grams on both sides; then
  F-beta with beta = 2 (recall weighted higher), times 100. With several references a sentence
  contributes the statistics of its best-scoring reference.
- **ROUGE-L** (Lin 2004, as Google's rouge-score computes `rougeL` without stemming): tokens are the
  lowercased runs of letters and digits; F1 of the longest common subsequence; corpus value = mean
  over examples of the best reference, times 100. One deliberate difference: rouge-score keeps only
  ASCII a-z0-9, so it scores Hebrew or Greek text as empty; here any Unicode letter or digit counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

CHRF_ORDER = 6
CHRF_BETA = 2.0


def _refs(references: Sequence[str] | Sequence[Sequence[str]], n: int) -> list[list[str]]:
    if len(references) != n:
        raise ValueError(f"{n} predictions but {len(references)} references")
    return [[r] if isinstance(r, str) else list(r) for r in references]


def normalize_ws(text: str) -> str:
    return " ".join(text.split())


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    refs = [references] if isinstance(references, str) else references
    p = normalize_ws(prediction)
    return float(any(p == normalize_ws(r) for r in refs))


def _char_ngrams(text: str, order: int) -> list[Counter]:
    s = "".join(text.split())
    return [Counter(s[i : i + n] for i in range(len(s) - n + 1)) for n in range(1, order + 1)]


def _chrf_stats(hyp: str, ref: str, order: int = CHRF_ORDER) -> list[int]:
    stats: list[int] = []
    for h, r in zip(_char_ngrams(hyp, order), _char_ngrams(ref, order), strict=True):
        stats += [sum(h.values()), sum(r.values()), sum((h & r).values())]
    return stats


def _chrf_from_stats(stats: Sequence[int], order: int = CHRF_ORDER, beta: float = CHRF_BETA) -> float:
    prec = rec = 0.0
    effective = 0
    for i in range(order):
        n_hyp, n_ref, n_match = stats[3 * i : 3 * i + 3]
        if n_hyp > 0 and n_ref > 0:
            prec += n_match / n_hyp
            rec += n_match / n_ref
            effective += 1
    if effective == 0:
        return 0.0
    prec, rec = prec / effective, rec / effective
    if prec + rec == 0:
        return 0.0
    b2 = beta * beta
    return 100.0 * (1 + b2) * prec * rec / (b2 * prec + rec)


def chrf(predictions: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]) -> float:
    """Corpus chrF (0-100): statistics summed over examples, each with its best reference."""
    refs = _refs(references, len(predictions))
    total = [0] * (3 * CHRF_ORDER)
    for hyp, rs in zip(predictions, refs, strict=True):
        best = max((_chrf_stats(hyp, r) for r in rs), key=_chrf_from_stats)
        total = [a + b for a, b in zip(total, best, strict=True)]
    return _chrf_from_stats(total)


def sentence_chrf(prediction: str, references: str | Sequence[str]) -> float:
    return chrf([prediction], [[references] if isinstance(references, str) else list(references)])


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def rouge_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_f1(prediction: str, reference: str) -> float:
    p, r = rouge_tokens(prediction), rouge_tokens(reference)
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def rouge_l(predictions: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]) -> float:
    """Mean ROUGE-L F1 (0-100) over examples, best over each example's references."""
    refs = _refs(references, len(predictions))
    if not predictions:
        return 0.0
    best = [max(rouge_l_f1(p, r) for r in rs) for p, rs in zip(predictions, refs, strict=True)]
    return 100.0 * sum(best) / len(best)


def text_scores(predictions: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]) -> dict[str, float]:
    """exact_match (0-1), chrf and rouge_l (0-100) of a corpus of generations."""
    refs = _refs(references, len(predictions))
    em = sum(exact_match(p, rs) for p, rs in zip(predictions, refs, strict=True)) / max(len(predictions), 1)
    return {"exact_match": em, "chrf": chrf(predictions, refs), "rouge_l": rouge_l(predictions, refs)}
