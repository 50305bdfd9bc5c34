"""Text-to-text (seq2seq) with an encoder-decoder backbone (T5, BART): the encoder reads the source,
the decoder is trained with teacher forcing to produce the target, and evaluation generates text
(greedy or beam search, task.generation) and scores it against the reference with exact match,
chrF (the headline) and ROUGE-L (evaluation.seq2seq_metrics).

The head is the output layer: an untied (V, D) projection started from the model's own output
weights (the tied embeddings times T5's scale, or a local HF model's pretrained lm_head), so
before any step the module predicts exactly what the pretrained model does. It is the part a
linear probe trains: with strategy.kind=linear_probe the encoder, decoder and embeddings are
frozen and only this projection learns. Exported, it is the lm_head of an AutoModelForSeq2SeqLM.

Batches: `input_ids`, `attention_mask` (B, T) sources; `labels` (B, U) target ids with -100
padding; `targets` (B reference strings, for scoring) and `detokenize` (ids -> texts, the run's
tokenizer) as Python values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.encdec import IGNORE, conditional_lm, generate, output_init, shift_right, token_ids
from warmstart.errors import ConfigError
from warmstart.evaluation.seq2seq_metrics import Seq2SeqMetrics, example_scores
from warmstart.models.base import Backbone
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import Seq2SeqTask


class Seq2Seq(nn.Module):
    def __init__(self, backbone: Backbone, cfg: Seq2SeqTask, info: dict):
        super().__init__()
        if not getattr(backbone, "encoder_decoder", False):
            raise ConfigError("task.kind=seq2seq needs an encoder-decoder backbone (model.arch=t5, a span_corruption "
                              "pretraining run, or a local T5/BART directory as model.kind=hf)")
        self.backbone, self.cfg = backbone, cfg
        weight = output_init(backbone)  # (V, D)
        self.head = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(weight)
        self.start, self.pad, self.eos = token_ids(backbone.model.config)
        self._lm: list = []  # [(backbone model, head), its conditional LM]: a list keeps it out of the state dict

    @staticmethod
    def head_info(train_records: list[dict], cfg: Seq2SeqTask | None = None,
                  all_records: list[dict] | None = None) -> dict:
        """Nothing data-derived: the output vocabulary is the tokenizer's."""
        return {}

    def info(self) -> dict:
        return {}

    def lm(self):
        """This module as a transformers *ForConditionalGeneration (the same modules, not copies);
        built once, and again only if the backbone's model or the head is replaced."""
        key = (self.backbone.model, self.head)
        if not self._lm or self._lm[0][0] is not key[0] or self._lm[0][1] is not key[1]:
            self._lm[:] = [key, conditional_lm(self.backbone, self.head)]
        return self._lm[1]

    def generate(self, batch: TextBatch, num_beams: int | None = None) -> torch.Tensor:
        """(B, L) generated ids for the batch's sources (task.generation's settings by default)."""
        gen = self.cfg.generation
        return generate(self.lm(), batch["input_ids"], batch["attention_mask"], num_beams or gen.num_beams,
                        gen.max_new_tokens)

    def logits(self, batch: TextBatch) -> torch.Tensor:
        """What predict decodes: the generated ids (B, L)."""
        return self.generate(batch)

    def predictions(self, generated: torch.Tensor, batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per input: {"output": the generated text}."""
        return [{"output": text} for text in batch["detokenize"](generated)]

    def forward(self, batch: TextBatch) -> StepOutput:
        labels = batch["labels"]  # (B, U)
        counted = labels != IGNORE
        feats = self.backbone({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                               "decoder_input_ids": shift_right(labels, self.start, self.pad),
                               "decoder_attention_mask": counted.long()})
        logits = self.head(feats.tokens[counted])  # (N, V): real target positions only
        n = int(counted.sum())
        # A SUM over target tokens divided by their count (the loop's exact accumulation), in fp32.
        loss = F.cross_entropy(logits.float(), labels[counted], label_smoothing=self.cfg.label_smoothing,
                               reduction="sum") / max(n, 1)
        scores = None
        if not self.training and "targets" in batch:  # evaluation: generate and score the text
            texts = batch["detokenize"](self.generate(batch))
            scores = torch.tensor([example_scores(p, r) for p, r in zip(texts, batch["targets"], strict=True)],
                                  dtype=torch.float64)
        return StepOutput(loss=loss, n_items=n, scores=scores)

    def new_metrics(self) -> Seq2SeqMetrics:
        return Seq2SeqMetrics()
