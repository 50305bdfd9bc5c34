"""Raw data -> documents (pretraining) or labeled records (fine-tuning); splits and label budgets;
cached token arrays and packed blocks. No torch here.

SOURCES maps the config's `data.kind` to a loader; `load_corpus` and `load_labeled` dispatch on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warmstart.data.cache import PackedBlocks, split_blocks, token_ids
from warmstart.data.demo import demo_sentiment_records
from warmstart.data.splits import Splits, budget_count, split_records, stratified_order
from warmstart.data.text import read_corpus, read_labeled

if TYPE_CHECKING:
    from warmstart.config.schema import CorpusData, DemoCorpusData, DemoSentimentData, LabeledTextData


def _corpus(cfg: CorpusData) -> list[str]:
    return read_corpus(cfg.path, cfg.field)


def _demo_corpus(cfg: DemoCorpusData) -> list[str]:
    """Text of the demo task's training pool under DemoSentimentData's default split, so that
    pretraining never sees a validation or test tweet of the fine-tuning task."""
    from warmstart.config.schema import DemoSentimentData

    split_cfg = DemoSentimentData()  # the schema defaults: one source of truth for the demo split
    pool = split_records(demo_sentiment_records(), split_cfg, seed=0, stratify=True).train  # no budget = whole pool
    return [r["text"] for r in pool]


def _labeled(cfg: LabeledTextData) -> list[dict]:
    return read_labeled(cfg.path, cfg.text_field, cfg.label_field)


def _demo_sentiment(cfg: DemoSentimentData) -> list[dict]:
    return demo_sentiment_records()


SOURCES = {
    "corpus": _corpus,
    "demo_corpus": _demo_corpus,
    "labeled_text": _labeled,
    "demo_sentiment": _demo_sentiment,
}
_UNLABELED = {"corpus", "demo_corpus"}


def load_corpus(cfg: CorpusData | DemoCorpusData) -> list[str]:
    """Documents (non-empty strings) for pretraining; cfg is schema.CorpusData or DemoCorpusData."""
    if cfg.kind not in _UNLABELED:
        raise TypeError(f"load_corpus needs an unlabeled data section, got kind={cfg.kind}")
    return SOURCES[cfg.kind](cfg)


def load_labeled(cfg: LabeledTextData | DemoSentimentData) -> list[dict]:
    """Records {"text", "label"} for fine-tuning; cfg is schema.LabeledTextData or DemoSentimentData."""
    if cfg.kind in _UNLABELED:
        raise TypeError(f"load_labeled needs a labeled data section, got kind={cfg.kind}")
    return SOURCES[cfg.kind](cfg)


__all__ = [
    "SOURCES", "PackedBlocks", "Splits", "budget_count", "demo_sentiment_records", "load_corpus", "load_labeled",
    "read_corpus", "read_labeled", "split_blocks", "split_records", "stratified_order", "token_ids",
]
