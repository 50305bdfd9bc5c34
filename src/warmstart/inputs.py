"""Inputs: the one place a workflow asks "text, images or vectors?".

Per modality, an Inputs object reads its data section into examples, fits or loads the
preprocessor that turns them into tensors (a tokenizer for text; a Normalizer for images and
vectors), saves it in the run directory so runs started from this one inherit it (`init`), tells
build_backbone what one input looks like, and makes the loop's batches:

    inputs = open_inputs(cfg.data)       # TextInputs | ImageInputs | VectorInputs
    pool = inputs.read_pretrain(seed)    # or: records, splits = inputs.read_labeled(seed, stratify)
    inputs.fit(cfg, pool) | inputs.load(run_dir)
    train, val = inputs.pretrain_sets(pool, cfg, say)     # Examples(n, make_batch)
    train = inputs.labeled_set(splits.train, module, train=True)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from warmstart import data, tokenizers
from warmstart.config.schema import HFTokenizer
from warmstart.data.loaders import (
    block_examples,
    pair_examples,
    qa_examples,
    seq2seq_examples,
    sft_examples,
    tagged_examples,
    text_examples,
)
from warmstart.errors import ConfigError, DataError
from warmstart.transforms import Normalizer, augment
from warmstart.types import Batch

if TYPE_CHECKING:
    from warmstart.config.schema import (
        CorpusData,
        CsvFeaturesData,
        DemoCorpusData,
        DemoSentimentData,
        DigitsData,
        FinetuneConfig,
        FinetuneData,
        ImageFolderData,
        LabeledTextData,
        NpzData,
        PretrainConfig,
        PretrainData,
        SklearnTableData,
    )


@dataclass
class Examples:
    """n examples of one split and how to turn a list of their indices into a Batch."""

    n: int
    make_batch: Callable[[list[int]], Batch]


def open_inputs(data_cfg: PretrainData | FinetuneData):
    """The Inputs object for a data section, chosen by its modality."""
    return {"text": TextInputs, "image": ImageInputs, "vector": VectorInputs}[data_cfg.modality](data_cfg)


def encode_targets(module, records: list[dict], source: str) -> torch.Tensor | list:
    """The task's targets for records' labels (a tensor; tag-id lists for token classification);
    a one-line DataError when they do not fit."""
    labels = [r["label"] for r in records]
    if any(lab is None for lab in labels):
        raise DataError(f"{source}: the examples have no labels; fine-tuning needs labeled data")
    try:
        return module.encode_targets(labels)
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{source}: label {e} cannot be used by this task "
                        "(check data.label_field and task.kind)") from None


# ------------------------------------------------------------------------------------------ text


class TextInputs:
    """Text: a tokenizer (trained, or loaded from a run or HF directory); token blocks for
    pretraining, padded token-id batches for fine-tuning."""

    modality = "text"
    augments = False  # training batches are never randomly changed

    def __init__(self, data_cfg: CorpusData | DemoCorpusData | LabeledTextData | DemoSentimentData):
        self.cfg = data_cfg
        self.tokenizer = None

    # -- examples
    def read_pretrain(self, seed: int) -> list[str]:
        return data.load_corpus(self.cfg)

    def read_labeled(self, seed: int, stratify: bool):
        records = data.load_labeled(self.cfg)
        return records, data.split_records(records, self.cfg, seed, stratify=stratify)

    # -- preprocessor
    def fit(self, cfg: PretrainConfig | FinetuneConfig, examples: list) -> None:
        """Train the configured tokenizer on `examples` (documents or records), or load model.path's."""
        texts = [e if isinstance(e, str) else e["text"] for e in examples]
        self.tokenizer = tokenizers.build_tokenizer(cfg.tokenizer or _model_tokenizer(cfg.model), texts)
        if _needs_sentinels(cfg):  # span corruption's <extra_id_i> (a T5 tokenizer already has them)
            from warmstart.tokenizers.sentinels import add_sentinels

            add_sentinels(self.tokenizer)

    def load(self, run_dir: Path) -> None:
        self.tokenizer = tokenizers.load_tokenizer(Path(run_dir) / "tokenizer")

    def save(self, run_dir: Path) -> None:
        self.tokenizer.save_pretrained(str(Path(run_dir) / "tokenizer"))

    def export(self, out: Path) -> None:
        """Tokenizer files at the top of an HF export directory, next to config.json."""
        self.tokenizer.save_pretrained(str(out))

    def backbone_args(self) -> dict:
        return {"vocab_size": len(self.tokenizer), "special": tokenizers.special_ids(self.tokenizer),
                "max_len": self.cfg.max_len,
                "tokens": self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))}

    def check(self, backbone) -> None:
        if self.cfg.max_len > getattr(backbone, "max_len", self.cfg.max_len):
            raise ConfigError(f"data.max_len ({self.cfg.max_len}) exceeds the model's maximum positions "
                              f"({backbone.max_len})")

    def objective_info(self, pool) -> dict:
        from warmstart.tokenizers.sentinels import sentinel_ids

        return {**tokenizers.special_ids(self.tokenizer), "sentinels": sentinel_ids(self.tokenizer)}

    # -- batches
    def pretrain_sets(self, docs: list[str], cfg: PretrainConfig, say) -> tuple[Examples, Examples]:
        # Tokenize once into a memory-mapped cache, then cut fixed-length blocks (no padding).
        cache_dir = cfg.data.cache_dir or Path(cfg.run.out_dir) / ".cache" / "tokens"
        ids = data.token_ids(docs, self.tokenizer, cache_dir)
        if getattr(cfg.objective, "nsp", "off") != "off":
            return self._pair_sets(docs, ids, cfg, say)
        train, val = data.split_blocks(ids, cfg.data.max_len, cfg.data.block_val_frac)
        say(f"corpus: {len(docs):,} documents, {len(ids):,} tokens -> {len(train):,} train / {len(val):,} val "
            f"blocks of {cfg.data.max_len}")
        self.corpus = {"documents": len(docs), "tokens": len(ids), "train_blocks": len(train), "val_blocks": len(val),
                       "block_len": cfg.data.max_len}
        if cfg.objective.kind in ("masked_lm", "causal_lm"):
            # What a context-blind LM scores on the validation blocks: the yardstick for the final val ppl.
            # The MLM never predicts [CLS]/[SEP]/padding, so they count on neither side.
            special = tokenizers.special_ids(self.tokenizer)
            skip = [special[k] for k in ("pad", "cls", "sep")] if cfg.objective.kind == "masked_lm" else []
            self.unigram_ppl = data.unigram_ppl(train, val, len(self.tokenizer), skip)
        return Examples(len(train), block_examples(train)), Examples(len(val), block_examples(val))

    def _pair_sets(self, docs: list[str], ids, cfg: PretrainConfig, say) -> tuple[Examples, Examples]:
        """Masked LM + next-sentence (or sentence-order) prediction: [CLS] A [SEP] B [SEP] pairs of
        segments of (max_len - 3) // 2 tokens instead of packed blocks (data.pairs)."""
        mode, special = cfg.objective.nsp, tokenizers.special_ids(self.tokenizer)
        if special.get("cls") is None or special.get("sep") is None:
            raise ConfigError(f"objective.nsp={mode} needs a tokenizer with [CLS] and [SEP] tokens")
        seg_len = (cfg.data.max_len - 3) // 2
        if seg_len < 1:
            raise ConfigError(f"objective.nsp={mode} needs data.max_len >= 5 ([CLS] A [SEP] B [SEP]), "
                              f"got {cfg.data.max_len}")
        train, val = data.split_segments(ids, special["sep"], seg_len, cfg.data.block_val_frac, mode)
        say(f"corpus: {len(docs):,} documents, {len(ids):,} tokens -> {len(train.starts) + len(val.starts):,} "
            f"segments of {seg_len} -> {len(train):,} train / {len(val):,} val anchors for {mode} pairs of "
            f"{2 * seg_len + 3} tokens")
        self.corpus = {"documents": len(docs), "tokens": len(ids), "train_pairs": len(train), "val_pairs": len(val),
                       "segment_len": seg_len, "block_len": 2 * seg_len + 3}
        # The context-blind yardstick over the segments' tokens (the text the pairs are made of).
        self.unigram_ppl = data.unigram_ppl(train, val, len(self.tokenizer))
        cls_id, sep_id = special["cls"], special["sep"]
        return (Examples(len(train), pair_examples(train, mode, cls_id, sep_id)),
                Examples(len(val), pair_examples(val, mode, cls_id, sep_id)))

    def labeled_set(self, records: list[dict], module, train: bool = False) -> Examples:
        if getattr(self.cfg, "seq2seq", False):
            return self._seq2seq_set([r["source"] for r in records], [r["target"] for r in records])
        if self.cfg.tagged:
            return self._tagged_set(records, module)
        if self.cfg.qa:
            return self._qa_set(records, with_targets=True)
        if self.cfg.sft:
            return self._sft_set(records, module)
        encoded = tokenizers.encode(self.tokenizer, [r["text"] for r in records], self.cfg.max_len)
        targets = encode_targets(module, records, f"data ({self.cfg.kind})")
        return Examples(len(encoded), text_examples(encoded, targets, self._pad()))

    def predict_set(self, texts: list, module=None) -> Examples:
        """Examples for raw inputs: texts, or for extractive QA {"question", "context"} dicts; for
        instruction tuning, prompts or {"messages"} chats (`module`: the SFT task, for its template)."""
        if self.cfg.sft:
            chats = [t["messages"] if isinstance(t, dict) else [{"role": "user", "content": t}] for t in texts]
            chat = self._chat(module, [])
            prompts = [chat.prompt_ids(m)[-(self.cfg.max_len - 1):] for m in chats]
            return Examples(len(prompts), sft_examples([None] * len(prompts), prompts, None, self._pad(), False, chat))
        if self.cfg.qa:
            from warmstart.data.squad import qa_record

            return self._qa_set([qa_record(str(t.get("id", n)), t["question"], t["context"], [])
                                 for n, t in enumerate(texts)], with_targets=False)
        if getattr(self.cfg, "seq2seq", False):
            return self._seq2seq_set(list(texts), None)
        if self.cfg.tagged:  # words by WORD_PATTERN, subwords aligned to them; entities get character offsets
            spans = [[(m.start(), m.end()) for m in WORD_PATTERN.finditer(t)] for t in texts]
            encoded, word_of = tokenizers.encode_words(self.tokenizer, texts, spans, self.cfg.max_len)
            starts = [[w if w >= 0 and (p == 0 or row[p - 1] != w) else -1 for p, w in enumerate(row)]
                      for row in word_of]
            words = [[(t[a:b], a, b) for a, b in sp] for t, sp in zip(texts, spans, strict=True)]
            return Examples(len(encoded), tagged_examples(encoded, {"word_index": starts}, self._pad(),
                                                          {"words": words, "texts": list(texts)}))
        encoded = tokenizers.encode(self.tokenizer, texts, self.cfg.max_len)
        return Examples(len(encoded), text_examples(encoded, None, self._pad()))

    def _tagged_set(self, records: list[dict], module) -> Examples:
        """Token classification: subwords of the space-joined tokens, each word's tag on its first
        subword (the task aligns the rest)."""
        texts = [r["text"] for r in records]
        spans = [_join_spans(r["tokens"]) for r in records]
        encoded, word_of = tokenizers.encode_words(self.tokenizer, texts, spans, self.cfg.max_len)
        tag_ids = encode_targets(module, records, f"data ({self.cfg.kind})")
        rows = {"labels": [], "word_labels": [], "word_index": []}
        for ids, positions in zip(tag_ids, word_of, strict=True):
            for key, row in zip(rows, module.align(ids, positions), strict=True):
                rows[key].append(row)
        return Examples(len(encoded), tagged_examples(encoded, rows, self._pad()))

    def _qa_set(self, records: list[dict], with_targets: bool) -> Examples:
        """Extractive QA: the windows of every question (tokenizers.qa); training targets from each
        record's first reference answer (SQuAD's training answer)."""
        from warmstart.tokenizers.qa import encode_windows

        answers = None
        if with_targets:
            answers = [(r["answers"][0]["start"], r["answers"][0]["start"] + len(r["answers"][0]["text"]))
                       if r["answers"] else None for r in records]
        windows = encode_windows(self.tokenizer, [r["question"] for r in records], [r["context"] for r in records],
                                 self.cfg.max_len, self.cfg.doc_stride, self.cfg.max_question_len, answers)
        return Examples(len(records), qa_examples(windows, records, self._pad()))

    def _seq2seq_set(self, sources: list[str], targets: list[str] | None) -> Examples:
        """Text-to-text: the source's tokens + end-of-sequence (T5's layout, no start token), cut to
        data.max_len; likewise the target's, cut to data.max_target_len. The reference texts ride
        along for scoring, and the tokenizer's decoding for the generated ids."""
        eos = tokenizers.special_ids(self.tokenizer)["sep"]

        def encode(texts: list[str], max_len: int) -> list[list[int]]:
            if not texts:
                return []
            body = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_len - 1,
                                  return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            return [[*ids, eos] for ids in body]

        def detokenize(ids: torch.Tensor) -> list[str]:
            return [t.strip() for t in self.tokenizer.batch_decode(ids.tolist(), skip_special_tokens=True,
                                                                   clean_up_tokenization_spaces=False)]

        src = encode(sources, self.cfg.max_len)
        tgt = encode(targets, self.cfg.max_target_len) if targets is not None else None
        extra = {"targets": list(targets)} if targets is not None else None
        return Examples(len(src), seq2seq_examples(src, tgt, self._pad(), extra, detokenize))

    def _chat(self, module, records: list[dict]):
        """The ChatEncoder of an SFT task: task.template resolved for this tokenizer and these records."""
        from warmstart.tokenizers.chat import ChatEncoder, resolve_template

        chat_at = next((r["chat_at"] for r in records if r.get("chat_at")), None)
        source = getattr(self.cfg, "path", None) or f"data.kind={self.cfg.kind}"
        return ChatEncoder(self.tokenizer, resolve_template(module.cfg.template, self.tokenizer, chat_at, source))

    def _sft_set(self, records: list[dict], module) -> Examples:
        """Instruction tuning: each chat as prompt + completion + EOS ids (tokenizers.chat), the
        prompt ids to generate from, and the completion as the reference."""
        chat = self._chat(module, records)
        encoded = [chat.encode(r["messages"], self.cfg.max_len) for r in records]
        prompts = [e.ids[: e.n_prompt] for e in encoded]
        return Examples(len(encoded), sft_examples(encoded, prompts, [r["completion"] for r in records], self._pad(),
                                                   module.cfg.train_on_prompt, chat))

    def read_predict_file(self, path: Path) -> tuple[list[str], list]:
        """(names, texts): one text per non-empty line of a UTF-8 file. Extractive QA: (ids,
        {"id", "question", "context"} dicts) from JSON lines with question and context fields, or
        from a SQuAD-format .json file (its answers are ignored)."""
        from warmstart.data.text import read_text_file

        if self.cfg.sft:  # prompts: one per line, or a .jsonl of prompt / messages records
            from warmstart.data.instructions import read_prompts

            items = read_prompts(Path(path), getattr(self.cfg, "prompt_field", "prompt"),
                                 getattr(self.cfg, "messages_field", "messages"))
            return [t["name"] for t in items], items
        if self.cfg.qa:
            from warmstart.data.squad import read_questions

            items = read_questions(Path(path))
            return [q["id"] for q in items], items

        texts = [ln for ln in read_text_file(path).splitlines() if ln.strip()]
        return texts, texts

    def _pad(self) -> int:
        return tokenizers.special_ids(self.tokenizer)["pad"]


# How `predict` splits a line of raw text into words for token classification: runs of letters,
# digits and underscores with the combining marks that follow them (accents written as separate
# code points, Hebrew and Arabic vowel points), joined by inner hyphens or apostrophes
# ("state-of-the-art", "don't"); and runs of other non-space characters ("...", ")."). Close to
# how CoNLL-style corpora tokenize, and never finer than a subword tokenizer's own pre-split.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
          "\u1ab0-\u1aff\u1dc0-\u1dff")
_WORD = rf"(?:\w[{_MARKS}]*)+"
WORD_PATTERN = re.compile(rf"{_WORD}(?:[-'’]{_WORD})*|[^\w\s]+")


def _join_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Character spans of tokens in " ".join(tokens)."""
    spans, at = [], 0
    for tok in tokens:
        spans.append((at, at + len(tok)))
        at += len(tok) + 1
    return spans


def _needs_sentinels(cfg) -> bool:
    """Whether a run's own tokenizer gets span corruption's sentinel tokens: it pretrains with
    span_corruption, or builds a T5-style encoder-decoder (so a later pretraining run can use it)."""
    objective = getattr(getattr(cfg, "objective", None), "kind", None)
    model = getattr(cfg, "model", None)
    return objective == "span_corruption" or (getattr(model, "kind", None) == "transformer"
                                              and getattr(model, "arch", None) == "t5")


def _model_tokenizer(model) -> HFTokenizer:
    """The tokenizer a model section brings: model.path's (hf), or the word tokenizer of the
    word-vector run in model.vectors (embedding)."""
    if model.kind != "embedding":
        return HFTokenizer(path=model.path)
    folder = Path(model.vectors) / "tokenizer"
    if not folder.is_dir():
        raise ConfigError(f"model.vectors: {model.vectors} is not a word-vector run directory (no tokenizer/ in it); "
                          f"give a tokenizer section to go with a word2vec file")
    return HFTokenizer(path=str(folder))


# ------------------------------------------------------------------------------ images, vectors


class ArrayInputs:
    """Images or vectors: every example is a row of one array; records {"index", "label"} point
    into it. A Normalizer (fitted on the training examples, or inherited from the init run)
    standardizes each batch; training batches are then augmented (data.augment)."""

    modality = ""
    key = ""  # the Batch entry: "pixels" or "features"

    def __init__(self, data_cfg: DigitsData | ImageFolderData | NpzData | CsvFeaturesData | SklearnTableData):
        self.cfg = data_cfg
        self.set = None  # ImageSet | VectorSet, once read
        self.normalizer: Normalizer | None = None

    # -- examples (subclasses read their source)
    def _read(self):
        raise NotImplementedError

    def _records(self, seed: int, stratify: bool):
        from warmstart.data.images import split_filtered

        self.set = self._read()
        records = self.set.records()
        labeled = all(r["label"] is not None for r in records)
        splits = split_filtered(records, self.set.keep, self.cfg, seed, stratify=stratify and labeled)
        kept = [r for r in records if self.set.keep is None or r["label"] in self.set.keep]
        return kept, splits

    def read_pretrain(self, seed: int):
        """The training pool (train) and validation split (val); test examples are never returned,
        so pretraining can not see them. Labels are kept for the supervised objective."""
        kept, splits = self._records(seed, stratify=True)
        labels = {r["label"] for r in kept}
        self.labels = None if None in labels else sorted(labels, key=str)
        return splits

    def read_labeled(self, seed: int, stratify: bool):
        return self._records(seed, stratify)

    # -- preprocessor
    def fit(self, cfg: PretrainConfig | FinetuneConfig, records: list[dict]) -> None:
        """Normalization statistics of the training examples `records` (uint8 stays uint8 until
        Normalizer.fit scales each chunk, so large image sets are never copied as floats)."""
        raw = getattr(self.set, "pixels", None)
        raw = raw if raw is not None else self.set.features
        idx = np.asarray([r["index"] for r in records], dtype=np.int64)
        self.normalizer = Normalizer.fit(torch.from_numpy(raw[idx]), self._normalize(), self._feature_names(),
                                         scale=getattr(self.set, "scale", 1.0))

    def load(self, run_dir: Path) -> None:
        self.normalizer = Normalizer.load(run_dir)

    def save(self, run_dir: Path) -> None:
        self.normalizer.save(run_dir)

    def export(self, out: Path) -> None:
        self.normalizer.save(out)

    def backbone_args(self) -> dict:
        return {"input_shape": self.set.input_shape}

    def check(self, backbone) -> None:
        """The data fits the backbone (and the normalizer inherited with it)."""
        norm, shape = self.normalizer, tuple(self.set.input_shape)
        if norm.modality != self.modality:
            raise ConfigError(f"data.kind={self.cfg.kind} gives {self.modality} inputs, "
                              f"but the backbone was trained on {norm.modality} inputs")
        if norm.feature_names and self._feature_names() and norm.feature_names != self._feature_names():
            raise DataError(f"{self.set.source}: feature columns {self._feature_names()} "
                            f"differ from the backbone's {norm.feature_names}")
        accepts = getattr(backbone, "check_input_shape", None)
        problem = accepts(shape) if accepts else f"a {backbone.kind} backbone does not take {self.modality} inputs"
        if problem:
            raise ConfigError(f"data.kind={self.cfg.kind}: {problem}")

    def objective_info(self, pool) -> dict:
        return {"input_shape": self.set.input_shape, "labels": self.labels}

    # -- batches
    def pretrain_sets(self, splits, cfg: PretrainConfig, say) -> tuple[Examples, Examples]:
        # Labels ride along when there are any: the supervised objective trains on them, the
        # self-supervised ones ignore them.
        def targets(records):
            if self.labels is None:
                return None
            index = {lab: i for i, lab in enumerate(self.labels)}
            return torch.tensor([index[r["label"]] for r in records], dtype=torch.long)

        say(f"{self.modality}s: {len(splits.train):,} train (of a {splits.n_pool:,} pool) / {len(splits.val):,} val, "
            f"shape {tuple(self.set.input_shape)}, from {self.set.source}")
        return (self._examples(splits.train, targets(splits.train), train=True),
                self._examples(splits.val, targets(splits.val), train=False))

    def labeled_set(self, records: list[dict], module, train: bool = False) -> Examples:
        return self._examples(records, encode_targets(module, records, self.set.source), train)

    def predict_set(self, values, module=None) -> Examples:
        """Examples for raw inputs: an array (N, *input_shape) on the source's [0, 1] scale
        (images) or in original units (vectors)."""
        x = torch.as_tensor(np.asarray(values, dtype=np.float32))
        return Examples(len(x), lambda idx: {self.key: self.normalizer(x[idx])})

    def _examples(self, records: list[dict], targets: torch.Tensor | None, train: bool) -> Examples:
        rows = np.asarray([r["index"] for r in records], dtype=np.int64)
        augmenting = train and self.augments

        def make(idx: list[int]) -> Batch:
            x = self.normalizer(torch.from_numpy(self.set.floats(rows[idx])))  # (B, C, H, W) or (B, F)
            if augmenting:
                x = augment(x, self.cfg.augment)  # draws from the global RNG: resumes replay it exactly
            batch: Batch = {self.key: x}
            if targets is not None:
                batch["labels"] = targets[idx]
            return batch

        return Examples(len(rows), make)

    @property
    def augments(self) -> bool:
        """Whether training batches are randomly augmented (a non-default data.augment)."""
        return self.cfg.augment != type(self.cfg.augment)()

    def _normalize(self) -> bool:
        raise NotImplementedError

    def _feature_names(self) -> list[str] | None:
        return None


class ImageInputs(ArrayInputs):
    """Images (B, C, H, W): digits, class folders or .npz arrays; per-channel normalization."""

    modality, key = "image", "pixels"

    def _read(self):
        from warmstart.data.images import load_images

        return load_images(self.cfg)

    def _normalize(self) -> bool:
        return self.cfg.normalize

    def read_predict_file(self, path: Path) -> tuple[list[str], np.ndarray]:
        """(names, images in [0, 1]) from an image file, a folder of images, or a .npz file."""
        from warmstart.data.images import IMAGE_SUFFIXES, read_image_files, read_npz

        path = Path(path)
        if path.suffix.lower() == ".npz":
            images = read_npz(path, getattr(self.cfg, "x_key", "x"), None)
            return [f"{path.name}[{i}]" for i in range(len(images.labels))], images.floats(range(len(images.labels)))
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{path}: no image files")
        c, h, w = self.normalizer.input_shape
        pixels = read_image_files(files, (h, w), "gray" if c == 1 else "rgb")
        return [str(f) for f in files], pixels


class VectorInputs(ArrayInputs):
    """Feature vectors (B, F): CSV columns or a bundled scikit-learn table; per-feature z-scores."""

    modality, key = "vector", "features"

    def _read(self):
        from warmstart.data.vectors import load_vectors

        return load_vectors(self.cfg)

    def _normalize(self) -> bool:
        return self.cfg.standardize

    def _feature_names(self) -> list[str] | None:
        return self.set.feature_names if self.set is not None else None

    def read_predict_file(self, path: Path) -> tuple[list[str], np.ndarray]:
        """(names, features) from a CSV file with the training feature columns (a label column is ignored)."""
        from warmstart.data.vectors import read_csv_features

        table = read_csv_features(path, None, self.normalizer.feature_names)
        return [f"{Path(path).name}:{i + 2}" for i in range(len(table.labels))], table.features
