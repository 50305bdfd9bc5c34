"""Token classification (NER, chunking, POS): per-position backbone features -> linear head ->
a tag per word, trained with cross-entropy on subword positions.

Words reach the model as subwords. The word's tag goes on its first subword; later subwords are
ignored (-100) or, with label_all_subtokens, trained on the continuation tag (B-PER -> I-PER; in
BIOES S-PER over three subwords -> B-PER I-PER E-PER). Scoring always reads the first subword of
each word, so the metrics are word-level in either case (TaggingMetrics: entity P/R/F1 in
seqeval's strict mode, and word accuracy).

Batches carry `labels` (B, T) training targets, `word_labels` (B, T) the word's gold tag at its
first subword (-100 elsewhere) and `word_index` (B, T) the word a first subword starts (-1
elsewhere); predict batches add `texts` and `words` (per example, (word, start, end) of every word).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.data import tag_schemes
from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import TaggingMetrics
from warmstart.heads import LinearHead
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import TokenClassificationTask

IGNORE = -100  # cross-entropy's ignore_index: positions that are not trained on / not scored


class TokenClassification(nn.Module):
    def __init__(self, backbone: Backbone, cfg: TokenClassificationTask, info: dict):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.labels: list[str] = info["labels"]
        self.scheme: str = info["scheme"]
        self.index = {tag: i for i, tag in enumerate(self.labels)}
        self.head = LinearHead(backbone.feature_dim, len(self.labels), cfg.dropout)

    @staticmethod
    def head_info(train_records: list[dict], cfg: TokenClassificationTask | None = None,
                  all_records: list[dict] | None = None,
                  scheme: str = "iob2") -> dict:
        """The tag vocabulary: O and every prefix of the scheme for each entity type in all labeled
        records (so a small label budget cannot lose a type, and continuation tags always exist)."""
        tags = {t for r in (all_records or train_records) for t in r["label"]}
        return {"labels": tag_schemes.full_label_set(tags, scheme), "scheme": scheme}

    def info(self) -> dict:
        return {"labels": self.labels, "scheme": self.scheme}

    def encode_targets(self, labels: list[list[str]]) -> list[list[int]]:
        """Tag ids per word (a KeyError names an unknown tag)."""
        return [[self.index[t] for t in tags] for tags in labels]

    def align(self, tag_ids: list[int], word_of: list[int]) -> tuple[list[int], list[int], list[int]]:
        """Per subword position: (training target, scored word tag, word index) from the word tags
        and each position's word (-1 = special or no word); see the module docstring."""
        n_pieces: dict[int, int] = {}
        for w in word_of:
            if w >= 0:
                n_pieces[w] = n_pieces.get(w, 0) + 1
        train, scored, starts = [], [], []
        seen: dict[int, int] = {}  # word -> subwords of it so far
        for w in word_of:
            if w < 0 or w >= len(tag_ids):
                train.append(IGNORE), scored.append(IGNORE), starts.append(-1)
                continue
            k = seen.get(w, 0)
            seen[w] = k + 1
            tag = self.labels[tag_ids[w]]
            if k == 0:
                scored.append(tag_ids[w]), starts.append(w)
                first = tag_schemes.first_piece(tag, self.scheme, n_pieces[w]) if self.cfg.label_all_subtokens else tag
                train.append(self.index[first])
            else:
                scored.append(IGNORE), starts.append(-1)
                later = tag_schemes.continuation(tag, self.scheme, last_piece=k == n_pieces[w] - 1)
                train.append(self.index[later] if self.cfg.label_all_subtokens else IGNORE)
        return train, scored, starts

    def logits(self, batch: TextBatch) -> torch.Tensor:
        """(B, T, C) tag logits at every position."""
        feats = self.backbone(batch)
        if feats.tokens is None:
            raise ConfigError(f"task.kind=token_classification: the {getattr(self.backbone, 'kind', '')} backbone "
                              "gives no per-token features")
        return self.head(feats.tokens)

    def predictions(self, logits: torch.Tensor, batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per example: {"tokens", "tags", "entities"}; each entity is
        {"type", "text", "start", "end"} with character offsets (end exclusive) into the input.
        Words the model never saw (past max_len) are tagged O."""
        out = []
        pred = logits.argmax(-1).tolist()  # (B, T)
        for row, (ids, starts) in enumerate(zip(pred, batch["word_index"].tolist(), strict=True)):
            words, text = batch["words"][row], batch["texts"][row]
            tags = ["O"] * len(words)
            for tag_id, w in zip(ids, starts, strict=True):
                if w >= 0:
                    tags[w] = self.labels[tag_id]
            ents = []
            for typ, a, b in tag_schemes.entities(tags, self.scheme):
                start, end = words[a][1], words[b - 1][2]
                ents.append({"type": typ, "text": text[start:end], "start": start, "end": end})
            out.append({"tokens": [w[0] for w in words], "tags": tags, "entities": ents})
        return out

    def forward(self, batch: TextBatch) -> StepOutput:
        return self.score(self.logits(batch), batch)

    def score(self, logits: torch.Tensor, batch: TextBatch) -> StepOutput:
        """Loss and outputs of (B, T, C) tag logits against the batch's labels (also used on the
        logits of an exported model, e.g. a quantized ONNX graph)."""
        targets = batch["labels"]  # (B, T), IGNORE where not trained on
        n = int((targets != IGNORE).sum())
        # A SUM over the trained positions divided by their count: the loop's exact accumulation
        # (loss * n_items) then weighs every subword position equally across micro-batches. fp32
        # for the log-softmax even under bf16 autocast.
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                               reduction="sum") / max(n, 1)
        return StepOutput(loss=loss, n_items=n, logits=logits.detach().float(), targets=batch["word_labels"])

    def new_metrics(self) -> TaggingMetrics:
        return TaggingMetrics(self.labels, self.scheme)
