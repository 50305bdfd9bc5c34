"""GPT-style pretraining: predict token t+1 from tokens <= t. Loss = mean cross-entropy over the
next-token targets that are real tokens (padding never counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import LMMetrics
from warmstart.heads import TiedLMHead
from warmstart.models.base import Backbone
from warmstart.objectives.lm_loss import IGNORE, chunk_rows, count, lm_loss
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import CausalLMObjective


class CausalLM(nn.Module):
    def __init__(self, backbone: Backbone, cfg: CausalLMObjective, special: dict[str, int | None]):
        super().__init__()
        if not getattr(backbone, "causal", False):
            raise ConfigError("objective.kind=causal_lm needs a causal (decoder) backbone, e.g. model.arch=gpt2")
        self.backbone, self.cfg = backbone, cfg
        # GPT-2 applies its final LayerNorm inside the backbone, so the head is just the tied decoder.
        self.head = TiedLMHead(backbone.input_embeddings(), transform=False)
        self.chunk = chunk_rows(cfg.loss_chunk, backbone.input_embeddings().num_embeddings)  # rows of logits at a time

    def forward(self, batch: TextBatch) -> StepOutput:
        ids = batch["input_ids"]  # (B, T)
        feats = self.backbone(batch)
        h = feats.tokens[:, :-1]  # (B, T-1, D): position t predicts token t+1
        counted = feats.mask[:, 1:].bool()  # a target counts only if it is a real token
        # Padding targets become ignore_index instead of being gathered out: shapes stay static, so
        # torch.compile keeps the head and loss in one graph (a boolean gather breaks it and syncs).
        # Pretraining blocks are packed, so there is no padding to project in the first place.
        targets = ids[:, 1:].masked_fill(~counted, IGNORE)  # (B, T-1)
        loss = lm_loss(self.head.transform(h.flatten(0, 1)), self.head.decoder_weight, self.head.bias,
                       targets.flatten(), self.chunk)
        return StepOutput(loss=loss, n_items=count(counted))

    def new_metrics(self) -> LMMetrics:
        return LMMetrics()
