"""Shared head building blocks: pooling of token features, a linear head, an architecture's native
classification head (task.pooling=native), and a tied LM head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.errors import ConfigError
from warmstart.types import Features


def pool(feats: Features, how: str) -> torch.Tensor:
    """(B, T, D) token features -> (B, D): mean over real tokens, the first token, or the last real one."""
    if how == "mean" or feats.tokens is None:
        return feats.pooled
    if how == "cls":
        return feats.tokens[:, 0]
    # "last": index of the last real token per row (right padding assumed).
    last = feats.mask.long().sum(1).clamp(min=1) - 1  # (B,)
    return feats.tokens[torch.arange(feats.tokens.size(0), device=last.device), last]


def pooled_features(backbone: nn.Module, batch: dict, how: str) -> torch.Tensor:
    """(B, D) what a pooled task head reads: the backbone's features of the batch pooled `how`, or,
    when the batch carries them, precomputed ones (batch["pooled"]: a frozen backbone's cached
    output, see workflows.features), which skip the backbone."""
    if "pooled" in batch:
        return batch["pooled"]
    return pool(backbone(batch), how)


class LinearHead(nn.Module):
    """Dropout + linear: pooled features (B, D) -> outputs (B, n_out)."""

    def __init__(self, d_in: int, n_out: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_in, n_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(x))


class PoolerHead(nn.Module):
    """BERT's sequence-classification head: the [CLS] vector (B, D) -> dense + tanh (BERT's pooler)
    -> dropout -> linear (B, n_out). Exports as BertForSequenceClassification's pooler + classifier."""

    def __init__(self, d_in: int, n_out: int, dropout: float = 0.0):
        super().__init__()
        self.pooler = nn.Linear(d_in, d_in)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(torch.tanh(self.pooler(x))))


# task.pooling=native: per transformers model_type, what the architecture's own
# *ForSequenceClassification does, so a fine-tune exports as that class with its trained head.
NATIVE_HEADS = {
    "bert": "[CLS] -> tanh pooler -> classifier",
    "gpt2": "last non-pad token -> score (a linear layer without bias)",
}


def model_type(backbone: nn.Module) -> str | None:
    """The transformers model_type of a backbone that wraps an HF model (bert, gpt2, ...), else None."""
    config = getattr(getattr(backbone, "model", None), "config", None)
    return getattr(config, "model_type", None)


def task_head(backbone: nn.Module, pooling: str | None, n_out: int, dropout: float) -> tuple[str, nn.Module]:
    """(pooling, head) of a classification/regression task: `pooling` mean/cls/last (default: mean for
    encoders, last for decoders) with a LinearHead, or "native": the architecture's own head path
    (NATIVE_HEADS), which exports to transformers' AutoModelForSequenceClassification unchanged."""
    if pooling != "native":
        default = "last" if getattr(backbone, "causal", False) else "mean"
        return pooling or default, LinearHead(backbone.feature_dim, n_out, dropout)
    arch = model_type(backbone)
    if arch == "bert":
        return "cls", PoolerHead(backbone.feature_dim, n_out, dropout)
    if arch == "gpt2":  # GPT2ForSequenceClassification: no dropout before score, and score has no bias
        return "last", LinearHead(backbone.feature_dim, n_out, 0.0, bias=False)
    raise ConfigError(f"task.pooling=native: no native classification head is known for a {arch or backbone.kind} "
                      f"backbone (native heads: {', '.join(NATIVE_HEADS)}); use pooling mean, cls or last")


class TiedLMHead(nn.Module):
    """Vocabulary logits that reuse the backbone's token-embedding matrix (weight tying, as GPT-2
    and BERT do). The head owns only an optional transform and an output bias, so saving the head
    never duplicates the embedding matrix."""

    def __init__(self, embeddings: nn.Embedding, transform: bool):
        super().__init__()
        d, vocab = embeddings.embedding_dim, embeddings.num_embeddings
        self._embeddings = [embeddings]  # a list hides it from this module's parameters/state dict
        # BERT's MLM head: dense + GELU + LayerNorm before the tied decoder.
        self.transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d)) if transform else nn.Identity()
        self.bias = nn.Parameter(torch.zeros(vocab))

    @property
    def decoder_weight(self) -> torch.Tensor:
        """The tied (V, D) decoder matrix: the backbone's token embeddings."""
        return self._embeddings[0].weight

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(self.transform(h), self.decoder_weight, self.bias)  # (..., V)
