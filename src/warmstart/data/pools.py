"""Which labeled set's training pool a pretraining corpus is, and under which split.

Task-adaptive pretraining (data.kind task_text, and the embedded demo_corpus / hebrew_corpus) reads
the text of a labeled set's training pool only. That guarantee holds for a later fine-tune only if
the fine-tune splits the set the same way: with another split_seed, val_frac or test_frac some of
its validation and test examples were pretraining text. `split_mismatch` finds that case and says
how many examples it touches; `warmstart finetune` and `warmstart compare` print it as a warning
(the run still goes ahead: a user may mean it, e.g. to study the effect).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from warmstart.data.splits import split_records

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneData, PretrainData


@dataclass(frozen=True)
class Pool:
    """A labeled set (`source`: a resolved file path and text field, or an embedded set's kind), the
    data section that splits it, and whether the split is stratified by label."""

    source: str
    split_cfg: object        # a fine-tuning data section: split_seed, val_frac, test_frac
    stratify: bool

    @property
    def settings(self) -> tuple:
        return self.split_cfg.split_seed, self.split_cfg.val_frac, self.split_cfg.test_frac, self.stratify

    def describe(self) -> str:
        seed, val, test, strat = self.settings
        return f"split_seed={seed}, val_frac={val:g}, test_frac={test:g}" + ("" if strat else ", unstratified")


def _file(path: str, field: str) -> str:
    return f"{Path(path).resolve()} ({field})"


def pretrain_pool(cfg: PretrainData) -> Pool | None:
    """The pool a pretraining data section's corpus is (None for text from elsewhere)."""
    from warmstart.config.schema import DemoSentimentData, HebrewNERData

    if cfg.kind == "task_text":
        return Pool(_file(cfg.path, cfg.text_field), cfg.labeled(), cfg.stratify)
    if cfg.kind == "demo_corpus":
        return Pool("demo_sentiment", DemoSentimentData(), True)
    if cfg.kind == "hebrew_corpus":
        return Pool("hebrew_ner", HebrewNERData(), False)
    return None


def finetune_pool(cfg: FinetuneData, stratify: bool) -> Pool | None:
    """The labeled set and split of a fine-tuning data section (None for image and vector data)."""
    if cfg.kind == "labeled_text":
        return Pool(_file(cfg.path, cfg.text_field), cfg, stratify)
    if cfg.kind == "tagged_text":
        return Pool(_file(cfg.path, "tokens"), cfg, stratify)
    if cfg.kind in ("demo_sentiment", "hebrew_ner"):
        return Pool(cfg.kind, cfg, stratify)
    if cfg.kind == "demo_instructions":  # the demo tweets, as instructions: the same labeled set
        return Pool("demo_sentiment", cfg, stratify)
    return None


def split_mismatch(pre_data: PretrainData, ft_data: FinetuneData, stratify: bool, init: str) -> str | None:
    """One warning line when the pretraining run `init` (data section `pre_data`) read the training
    pool of the labeled set `ft_data` fine-tunes on, split differently; None when the splits agree or
    the corpus is not that set's pool."""
    pre, ft = pretrain_pool(pre_data), finetune_pool(ft_data, stratify)
    if pre is None or ft is None or pre.source != ft.source or pre.settings == ft.settings:
        return None
    from warmstart.data import load_labeled

    records = load_labeled(ft_data)
    seen = {id(r) for r in split_records(records, pre.split_cfg.model_copy(update={"label_budget": None}), 0,
                                         pre.stratify).pool}
    splits = split_records(records, ft_data.model_copy(update={"label_budget": None}), 0, stratify)
    n_test, n_val = sum(id(r) in seen for r in splits.test), sum(id(r) in seen for r in splits.val)
    return (f"warning: {init} pretrained on the training pool of {pre.source} split with {pre.describe()}, but this "
            f"fine-tune splits it with {ft.describe()}: {n_test} of its {len(splits.test)} test and {n_val} of its "
            f"{len(splits.val)} validation examples were pretraining text, so its scores are optimistic "
            "(use the pretraining run's split fields)")
