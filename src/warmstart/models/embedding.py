"""A text backbone on a token-embedding table, the natural home of pretrained word vectors.

token ids + mask -> embeddings (B, T, D) -> encoder -> Features. Encoders: `mean` (bag of
embeddings: the masked mean of the token vectors), `cnn` (1-d convolutions of several widths, ReLU,
max over time, Kim 2014) or `bilstm` (a bidirectional LSTM, max over time). Special tokens listed in
`pool_ignore_ids` ([CLS], [SEP]) are left out of the pooling, so a mean of word vectors stays a
mean of word vectors. The table can be filled from word2vec/fastText/GloVe vectors for any token
vocabulary (`init_embedding_table`), then trained or frozen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from warmstart.data.word_vectors import load_vectors
from warmstart.errors import ConfigError
from warmstart.models.base import Backbone
from warmstart.tokenizers.train import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, UNK_ID
from warmstart.tokenizers.words import token_to_word
from warmstart.types import Features, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import EmbeddingModel

ENCODERS = ("mean", "cnn", "bilstm")
# The fixed special-token ids of warmstart's tokenizers (and of wordvec.word_tokenizer).
DEFAULT_SPECIAL = {"pad": PAD_ID, "unk": UNK_ID, "cls": CLS_ID, "sep": SEP_ID, "mask": MASK_ID}


class EmbeddingBackbone(Backbone):
    """input_ids (B, T) + attention_mask -> tokens (B, T, F), pooled (B, F).

    F = d_model for `mean`, d_hidden * len(kernel_sizes) for `cnn`, 2 * d_hidden for `bilstm`.
    Padding must be on the right (the BiLSTM packs sequences by length). Layer groups: the
    embedding table, then the encoder, then the output LayerNorm (cnn and bilstm only).
    """

    kind = "embedding"

    def __init__(self, vocab_size: int, d_model: int, encoder: str = "mean", d_hidden: int = 128,
                 kernel_sizes: Sequence[int] = (3, 4, 5), pad_id: int = 0, pool_ignore_ids: Sequence[int] = (),
                 freeze_embeddings: bool = False, dropout: float = 0.0):
        super().__init__()
        if encoder not in ENCODERS:
            raise ConfigError(f"model.encoder: expected one of {', '.join(ENCODERS)}, got {encoder!r}")
        self.vocab_size, self.d_model, self.encoder = vocab_size, d_model, encoder
        self.d_hidden, self.kernel_sizes, self.pad_id = d_hidden, [int(k) for k in kernel_sizes], pad_id
        self.pool_ignore_ids = [int(i) for i in pool_ignore_ids]
        self.freeze_embeddings, self.dropout = freeze_embeddings, dropout
        # padding_idx: the [PAD] row starts at zero and never receives a gradient.
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.embed.weight.requires_grad_(not freeze_embeddings)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("ignore_ids", torch.tensor(self.pool_ignore_ids, dtype=torch.long), persistent=False)
        if encoder == "cnn":
            self.convs = nn.ModuleList(nn.Conv1d(d_model, d_hidden, k) for k in self.kernel_sizes)
            self.feature_dim = d_hidden * len(self.kernel_sizes)
        elif encoder == "bilstm":
            self.lstm = nn.LSTM(d_model, d_hidden, batch_first=True, bidirectional=True)
            self.feature_dim = 2 * d_hidden
        else:
            self.feature_dim = d_model
        # Max-pooled conv/LSTM features have no fixed scale; a LayerNorm gives the head a stable input.
        # The mean encoder has none, so a frozen table + linear head is exactly a linear probe of the vectors.
        self.norm = nn.LayerNorm(self.feature_dim) if encoder != "mean" else None

    def forward(self, batch: TextBatch) -> Features:
        ids = batch["input_ids"]  # (B, T)
        mask = batch.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        real = mask.bool()  # (B, T) True = real token
        x = self.drop(self.embed(ids)) * real.unsqueeze(-1)  # (B, T, D); padded positions exactly 0
        # Positions that count for pooling: real tokens that are not [CLS]/[SEP]-like markers.
        keep = real & ~torch.isin(ids, self.ignore_ids)
        if self.encoder == "mean":
            k = keep.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
            # Masked mean; clamp guards a row with no counted token against 0/0 (it pools to 0).
            pooled = (x * k).sum(1) / k.sum(1).clamp(min=1.0)  # (B, D)
            return Features(tokens=x, pooled=pooled, mask=mask)
        if self.encoder == "cnn":
            h = x.transpose(1, 2)  # (B, D, T) channels first for Conv1d
            # Zero-pad (k-1)//2 left and k//2 right: one output per token for odd and even widths alike,
            # so `tokens` lines up with the input positions (output t sees tokens t-(k-1)//2 .. t+k//2).
            outs = [torch.relu(conv(F.pad(h, ((k - 1) // 2, k // 2))))
                    for k, conv in zip(self.kernel_sizes, self.convs, strict=True)]
            tokens = torch.cat(outs, dim=1).transpose(1, 2)  # (B, T, F)
        else:
            # Pack by length so the backward direction starts at each row's last real token, not at padding.
            lengths = real.sum(1).clamp(min=1).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            tokens, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # (B, T, F)
        # Max over time of the counted positions; a row with none pools to 0 instead of -inf.
        masked = tokens.masked_fill(~keep.unsqueeze(-1), float("-inf"))
        pooled = masked.max(1).values  # (B, F)
        pooled = torch.where(keep.any(1, keepdim=True), pooled, torch.zeros_like(pooled))
        return Features(tokens=tokens, pooled=self.norm(pooled), mask=mask)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        groups = [[self.embed.weight]]
        if self.encoder == "cnn":
            groups.append([p for conv in self.convs for p in conv.parameters()])
        elif self.encoder == "bilstm":
            groups.append(list(self.lstm.parameters()))
        if self.norm is not None:
            groups.append(list(self.norm.parameters()))
        return groups

    def input_embeddings(self) -> nn.Embedding:
        return self.embed

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "d_model": self.d_model, "encoder": self.encoder,
                "d_hidden": self.d_hidden, "kernel_sizes": self.kernel_sizes, "pad_id": self.pad_id,
                "pool_ignore_ids": self.pool_ignore_ids, "freeze_embeddings": self.freeze_embeddings,
                "dropout": self.dropout}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "EmbeddingBackbone":
        return cls(spec["vocab_size"], spec["d_model"], spec["encoder"], spec["d_hidden"], spec["kernel_sizes"],
                   spec["pad_id"], spec["pool_ignore_ids"], spec["freeze_embeddings"], spec["dropout"])

    @classmethod
    def tiny(cls) -> "EmbeddingBackbone":
        return cls(64, 16, encoder="cnn", d_hidden=8, kernel_sizes=(2, 3), pool_ignore_ids=(2, 3))

    def example_batch(self, batch_size: int = 4) -> TextBatch:
        ids = torch.randint(5, self.vocab_size, (batch_size, 12))
        ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
        mask = torch.ones_like(ids)
        ids[0, 8:], mask[0, 8:] = self.pad_id, 0  # one right-padded row exercises masking
        ids[0, 7] = 3
        return {"input_ids": ids, "attention_mask": mask}

    # ------------------------------------------------------------------ from pretrained word vectors

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, words: list[str], tokens: list[str] | None = None,
                     special: Mapping[str, int | None] | None = None, seed: int = 0,
                     **kwargs) -> tuple["EmbeddingBackbone", dict]:
        """A backbone whose table is initialized from word vectors; returns (backbone, coverage).

        tokens: the token of each id (e.g. from a tokenizer's get_vocab()); None = the word-vector
        vocabulary itself behind the five special tokens (the layout of `wordvec.word_tokenizer`).
        special: ids of pad/unk/cls/sep/mask in `tokens` (default: warmstart's fixed 0..4).
        kwargs: encoder, d_hidden, kernel_sizes, freeze_embeddings, dropout.
        """
        special = dict(DEFAULT_SPECIAL if special is None else special)
        if tokens is None:
            tokens = SPECIAL_TOKENS + list(words)
        table, coverage = init_embedding_table(vectors, words, tokens, special, seed)
        ignore = [special[k] for k in ("cls", "sep") if special.get(k) is not None]
        backbone = cls(len(tokens), table.shape[1], pad_id=special.get("pad") or 0, pool_ignore_ids=ignore, **kwargs)
        with torch.no_grad():
            backbone.embed.weight.copy_(torch.from_numpy(table))
        return backbone, coverage

    @classmethod
    def from_config(cls, cfg: EmbeddingModel, vocab_size: int, special: Mapping[str, int | None],
                    tokens: list[str] | None = None, seed: int = 0) -> "EmbeddingBackbone":
        """Build from an `EmbeddingModel` config section for a tokenizer with `vocab_size` ids.

        With cfg.vectors, `tokens` (the tokenizer's tokens in id order) is required to map ids to words;
        the mapping's coverage ({"mapped", "tokens", "coverage"}) is left in `backbone.coverage` for logs."""
        kwargs = dict(encoder=cfg.encoder, d_hidden=cfg.d_hidden, kernel_sizes=cfg.kernel_sizes,
                      freeze_embeddings=cfg.freeze_embeddings, dropout=cfg.dropout)
        if cfg.vectors is None:
            ignore = [special[k] for k in ("cls", "sep") if special.get(k) is not None]
            return cls(vocab_size, cfg.d_model, pad_id=special.get("pad") or 0, pool_ignore_ids=ignore, **kwargs)
        if tokens is None or len(tokens) != vocab_size:
            raise ConfigError("model.vectors: needs the tokenizer's tokens (one per id) to map ids to words")
        vectors, words = load_vectors(cfg.vectors)
        backbone, coverage = cls.from_vectors(vectors, words, tokens, special, seed, **kwargs)
        backbone.coverage = coverage
        return backbone


def init_embedding_table(vectors: np.ndarray, words: list[str], tokens: list[str],
                         special: Mapping[str, int | None], seed: int = 0) -> tuple[np.ndarray, dict]:
    """A (len(tokens), D) float32 table: the word vector of every token that names a known word.

    Lookup is exact first, then lowercased (most frequent casing wins). Tokens without a vector get
    N(0, s^2) rows, s = the standard deviation of the pretrained values, so they start on the same
    scale (Kim 2014 does the same with a uniform). Special tokens get 0, except [UNK]: the mean word
    vector, the expected vector of an unknown word. Returns (table, {"mapped", "tokens", "coverage"}).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    exact: dict[str, int] = {}
    lower: dict[str, int] = {}
    for i, w in enumerate(words):  # words are most frequent first: setdefault keeps the first
        exact.setdefault(w, i)
        lower.setdefault(w.lower(), i)
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, float(vectors.std()) or 1.0, size=(len(tokens), vectors.shape[1])).astype(np.float32)
    special_ids = {i for i in special.values() if i is not None}
    mapped = 0
    for tid, token in enumerate(tokens):
        if tid in special_ids:
            table[tid] = 0.0
            continue
        word = token_to_word(token)
        row = None if word is None else exact.get(word, lower.get(word.lower()))
        if row is not None:
            table[tid] = vectors[row]
            mapped += 1
    if special.get("unk") is not None:
        table[special["unk"]] = vectors.mean(0)
    n_words = len(tokens) - len(special_ids & set(range(len(tokens))))
    return table, {"mapped": mapped, "tokens": n_words, "coverage": mapped / max(n_words, 1)}
