"""T5's span-corruption pretraining for encoder-decoders (Raffel et al. 2020, section 3.1.4).

In each row, noise_density of the real tokens are dropped in random spans of mean length
mean_noise_span_length. The encoder reads the row with each dropped span replaced by one sentinel
(<extra_id_0>, <extra_id_1>, ... in order) and an end-of-sequence token; the decoder predicts each
sentinel followed by the span it replaced, then end-of-sequence:

    row     a b c d e f g h           (spans "c d" and "g")
    input   a b <0> e f <1> h </s>
    target  <0> c d <1> g </s>

Replacing every sentinel of the input by its span in the target gives the row back. The output
layer is the tied embedding matrix (T5 v1.0): the objective adds no parameters, so a fine-tune
starts its output layer from exactly what was pretrained (encdec.output_init).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.encdec import IGNORE, output_scale, shift_right, token_ids
from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import LMMetrics
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import SpanCorruptionObjective


def _segments(n_items: int, n_segments: int, generator: torch.Generator | None) -> list[int]:
    """A uniformly random split of n_items into n_segments positive lengths (in order): the cut
    points are n_segments - 1 distinct positions among the n_items - 1 gaps."""
    cuts = sorted((torch.randperm(n_items - 1, generator=generator)[: n_segments - 1] + 1).tolist())
    bounds = [0, *cuts, n_items]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def noise_mask(length: int, noise_density: float, mean_span: float,
               generator: torch.Generator | None = None) -> list[bool]:
    """Which of `length` tokens are dropped: round(length * noise_density) of them (at least 1, and
    at least 1 kept), in round(n_noise / mean_span) spans (at least 1); the row starts with kept
    tokens, and kept runs and dropped spans alternate. Needs length >= 2."""
    n_noise = min(max(round(length * noise_density), 1), length - 1)
    n_spans = min(max(round(n_noise / mean_span), 1), n_noise, length - n_noise)
    noise, keep = _segments(n_noise, n_spans, generator), _segments(length - n_noise, n_spans, generator)
    out: list[bool] = []
    for k, s in zip(keep, noise, strict=True):
        out += [False] * k + [True] * s
    return out


# Eager even inside torch.compile (Python loops over rows); the draws come from torch's global RNG
# (saved in checkpoints, so a resumed run corrupts the same spans) unless a generator is given.
@torch.compiler.disable
def span_corrupt(ids: torch.Tensor, attention_mask: torch.Tensor, cfg: SpanCorruptionObjective,
                 sentinels: list[int], eos: int, pad: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs (B, S), their attention mask (B, S), targets (B, U) with IGNORE padding) for the real
    tokens of each row of ids (B, T). Rows of one length (packed blocks) need no padding."""
    inputs, targets = [], []
    for row, m in zip(ids.tolist(), attention_mask.bool().tolist(), strict=True):
        tokens = [t for t, real in zip(row, m, strict=True) if real]
        if len(tokens) < 2:
            raise ConfigError("objective.kind=span_corruption: a row has fewer than 2 tokens to corrupt")
        dropped = noise_mask(len(tokens), cfg.noise_density, cfg.mean_noise_span_length, generator)
        src, tgt, span = [], [], -1
        for i, (tok, noisy) in enumerate(zip(tokens, dropped, strict=True)):
            if noisy and (i == 0 or not dropped[i - 1]):  # a span starts: one sentinel on each side
                span += 1
                if span >= len(sentinels):
                    raise ConfigError(f"objective.kind=span_corruption: a row of {len(tokens)} tokens needs more than "
                                      f"the tokenizer's {len(sentinels)} sentinel tokens; lower data.max_len")
                src.append(sentinels[span])
                tgt.append(sentinels[span])
            (tgt if noisy else src).append(tok)
        inputs.append(src + [eos])
        targets.append(tgt + [eos])
    device = ids.device
    width_in, width_out = max(map(len, inputs)), max(map(len, targets))
    x = torch.full((len(inputs), width_in), pad, dtype=torch.long)
    x_mask = torch.zeros_like(x)
    y = torch.full((len(targets), width_out), IGNORE, dtype=torch.long)
    for r, (src, tgt) in enumerate(zip(inputs, targets, strict=True)):
        x[r, : len(src)] = torch.tensor(src)
        x_mask[r, : len(src)] = 1
        y[r, : len(tgt)] = torch.tensor(tgt)
    return x.to(device), x_mask.to(device), y.to(device)


class TiedOutput(nn.Module):
    """Vocabulary logits from the backbone's shared embeddings (times T5's output scale): no
    parameters of its own, so the head's checkpoint is empty and nothing is duplicated."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self._embeddings = [backbone.input_embeddings()]  # a list hides it from this module's parameters
        self.scale = output_scale(backbone.model.config)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h * self.scale, self._embeddings[0].weight)  # (..., V)


class SpanCorruption(nn.Module):
    def __init__(self, backbone: Backbone, cfg: SpanCorruptionObjective, special: dict):
        super().__init__()
        if not getattr(backbone, "encoder_decoder", False):
            raise ConfigError("objective.kind=span_corruption needs an encoder-decoder backbone (model.arch=t5, or a "
                              "local T5/BART directory as model.kind=hf)")
        self.sentinels = list(special.get("sentinels") or [])
        if not self.sentinels:
            raise ConfigError("objective.kind=span_corruption: the tokenizer has no sentinel tokens <extra_id_0>, ...")
        self.backbone, self.cfg = backbone, cfg
        self.start, self.pad, self.eos = token_ids(backbone.model.config)
        self.head = TiedOutput(backbone)

    def forward(self, batch: TextBatch) -> StepOutput:
        inputs, mask, targets = span_corrupt(batch["input_ids"], batch["attention_mask"], self.cfg, self.sentinels,
                                             self.eos, self.pad)
        counted = targets != IGNORE
        feats = self.backbone({"input_ids": inputs, "attention_mask": mask,
                               "decoder_input_ids": shift_right(targets, self.start, self.pad),
                               "decoder_attention_mask": counted.long()})
        logits = self.head(feats.tokens[counted])  # (N, V): only real target positions
        # Mean cross-entropy over the target tokens (sentinels, dropped tokens, end-of-sequence), in fp32.
        loss = F.cross_entropy(logits.float(), targets[counted])
        return StepOutput(loss=loss, n_items=int(counted.sum()))

    def new_metrics(self) -> LMMetrics:
        return LMMetrics()
