"""Raw data -> documents (pretraining) or labeled records (fine-tuning); splits and label budgets;
cached token arrays and packed blocks. No torch here.

SOURCES maps the config's `data.kind` to a loader; `load_corpus` and `load_labeled` dispatch on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warmstart.data.cache import PackedBlocks, split_blocks, token_ids, unigram_ppl
from warmstart.data.demo import demo_sentiment_records
from warmstart.data.instructions import demo_instruction_records, read_instructions
from warmstart.data.pairs import SegmentPairs, split_segments
from warmstart.data.seq2seq import hebrew_lemma_records, read_seq2seq
from warmstart.data.splits import Splits, budget_count, split_records, stratified_order
from warmstart.data.squad import hebrew_qa_records, read_squad
from warmstart.data.tagged import hebrew_ner_records, read_tagged
from warmstart.data.text import read_corpus, read_labeled

if TYPE_CHECKING:
    from warmstart.config.schema import (
        CorpusData,
        DemoCorpusData,
        DemoInstructionsData,
        DemoSentimentData,
        HebrewCorpusData,
        HebrewLemmaData,
        HebrewNERData,
        HebrewQAData,
        InstructionsData,
        LabeledTextData,
        Seq2SeqTextData,
        SquadData,
        TaggedTextData,
        TaskTextData,
    )


def _corpus(cfg: CorpusData) -> list[str]:
    return read_corpus(cfg.path, cfg.field)


def _demo_corpus(cfg: DemoCorpusData) -> list[str]:
    """Text of the demo task's training pool under DemoSentimentData's default split, so that
    pretraining never sees a validation or test tweet of the fine-tuning task."""
    from warmstart.config.schema import DemoSentimentData

    split_cfg = DemoSentimentData()  # the schema defaults: one source of truth for the demo split
    pool = split_records(demo_sentiment_records(), split_cfg, seed=0, stratify=True).train  # no budget = whole pool
    return [r["text"] for r in pool]


def _hebrew_corpus(cfg: HebrewCorpusData) -> list[str]:
    """Text of the Hebrew NER training pool under HebrewNERData's default split (as _demo_corpus): one
    document per sentence, or per run of consecutive pool sentences (cfg.documents)."""
    from warmstart.config.schema import HebrewNERData

    records = hebrew_ner_records()
    pool = split_records(records, HebrewNERData(), seed=0, stratify=False).train  # in treebank order
    if cfg.documents == "sentences":
        return [r["text"] for r in pool]
    # runs: a held-out (val/test) sentence, which pretraining must not read, ends a document.
    position = {id(r): i for i, r in enumerate(records)}
    docs, last = [], None
    for r in pool:
        i = position[id(r)]
        if last is not None and i == last + 1:
            docs[-1] += " " + r["text"]
        else:
            docs.append(r["text"])
        last = i
    return docs


def _task_text(cfg: TaskTextData) -> list[str]:
    """Text of a labeled file's training pool, split as a fine-tune with cfg's split fields splits it
    (TaskTextData.labeled() is that fine-tune's data section): task-adaptive pretraining."""
    labeled = cfg.labeled()
    pool = split_records(read_labeled(labeled.path, labeled.text_field, labeled.label_field), labeled, seed=0,
                         stratify=cfg.stratify).pool
    return [r["text"] for r in pool]


def _tagged(cfg: TaggedTextData) -> list[dict]:
    return read_tagged(cfg.path, cfg.format, cfg.scheme, token_column=cfg.token_column, tag_column=cfg.tag_column,
                       tokens_field=cfg.tokens_field, tags_field=cfg.tags_field)


def _hebrew_ner(cfg: HebrewNERData) -> list[dict]:
    return hebrew_ner_records(cfg.scheme)


def _squad(cfg: SquadData) -> list[dict]:
    return read_squad(cfg.path)


def _hebrew_qa(cfg: HebrewQAData) -> list[dict]:
    return hebrew_qa_records()


def _seq2seq_text(cfg: Seq2SeqTextData) -> list[dict]:
    return read_seq2seq(cfg.path, cfg.source_field, cfg.target_field)


def _hebrew_lemmas(cfg: HebrewLemmaData) -> list[dict]:
    return hebrew_lemma_records()


def _labeled(cfg: LabeledTextData) -> list[dict]:
    return read_labeled(cfg.path, cfg.text_field, cfg.label_field, cfg.group_field)


def _demo_sentiment(cfg: DemoSentimentData) -> list[dict]:
    return demo_sentiment_records()


def _instructions(cfg: InstructionsData) -> list[dict]:
    return read_instructions(cfg.path, cfg.prompt_field, cfg.completion_field, cfg.messages_field)


def _demo_instructions(cfg: DemoInstructionsData) -> list[dict]:
    return demo_instruction_records()


SOURCES = {
    "corpus": _corpus,
    "demo_corpus": _demo_corpus,
    "labeled_text": _labeled,
    "demo_sentiment": _demo_sentiment,
    "hebrew_corpus": _hebrew_corpus,
    "task_text": _task_text,
    "tagged_text": _tagged,
    "hebrew_ner": _hebrew_ner,
    "squad": _squad,
    "hebrew_qa": _hebrew_qa,
    "seq2seq_text": _seq2seq_text,
    "hebrew_lemmas": _hebrew_lemmas,
    "instructions": _instructions,
    "demo_instructions": _demo_instructions,
}
_UNLABELED = {"corpus", "demo_corpus", "hebrew_corpus", "task_text"}


def load_corpus(cfg: CorpusData | DemoCorpusData | TaskTextData | HebrewCorpusData) -> list[str]:
    """Documents (non-empty strings) for pretraining, from an unlabeled data section."""
    if cfg.kind not in _UNLABELED:
        raise TypeError(f"load_corpus needs an unlabeled data section, got kind={cfg.kind}")
    return SOURCES[cfg.kind](cfg)


def load_labeled(cfg: LabeledTextData | DemoSentimentData | TaggedTextData | HebrewNERData | SquadData
                 | HebrewQAData) -> list[dict]:
    """Records {"text", "label"} for fine-tuning (tagged data adds "tokens"; its label is the tag list;
    QA data adds "id", "question", "context" and "answers")."""
    if cfg.kind in _UNLABELED:
        raise TypeError(f"load_labeled needs a labeled data section, got kind={cfg.kind}")
    return SOURCES[cfg.kind](cfg)


__all__ = [
    "SOURCES", "PackedBlocks", "SegmentPairs", "Splits", "budget_count", "demo_sentiment_records", "load_corpus",
    "load_labeled",
    "read_corpus", "read_labeled", "split_blocks", "split_records", "split_segments", "stratified_order",
    "token_ids",
    "unigram_ppl",
]
