"""Instruction tuning (SFT) of a causal LM: next-token cross-entropy on the completion tokens and
their EOS (the prompt too with task.train_on_prompt); evaluation also generates a completion for
every prompt (greedy) and scores it against the reference with exact match, chrF and ROUGE-L
(evaluation.text_metrics).

The head is the backbone's own token embeddings (tied, no bias), exactly GPT-2's LM head, so a
fine-tuned run exports as transformers' AutoModelForCausalLM with nothing dropped, and LoRA trains
adapters only. Batches come from data.loaders.sft_examples: `input_ids`, `attention_mask`, `labels`
(B, T) (-100 where a position does not count), and as lists the `prompts` (ids to generate from),
`references` (completion texts) and `chat` (the ChatEncoder: its EOS and decoder). No packing:
one example per row, right-padded, so attention and positions never cross examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.seq2seq_metrics import Seq2SeqMetrics, example_scores
from warmstart.models.base import Backbone
from warmstart.objectives.lm_loss import IGNORE, chunk_rows, lm_loss
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import SFTTask


@dataclass
class GenerationOutput(StepOutput):
    """A StepOutput that also carries the batch's generated completions and their references."""

    predictions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


class SFTMetrics(Seq2SeqMetrics):
    """Completion loss (mean cross-entropy per counted token) and its perplexity, and exact_match
    (0-1), chrf and rouge_l (0-100) of the generated completions, streamed from per-example rows
    exactly as seq2seq's are (so ranks reduce by summing); `primary` is task.metric. The text scores
    are left out when nothing was generated (batches scored in training mode)."""

    directions = {**Seq2SeqMetrics.directions, "ppl": False}

    def __init__(self, primary: str = "chrf"):
        super().__init__()
        self.primary = primary

    def compute(self) -> dict[str, float]:
        scores = super().compute()
        out = {"loss": scores["loss"], "ppl": math.exp(min(scores["loss"], 50.0))}
        if self.count:
            out.update({k: scores[k] for k in ("exact_match", "chrf", "rouge_l")})
        return out


class TiedOutput(nn.Module):
    """The LM head: logits = h @ E^T with the backbone's token embeddings E. Owns no parameters (the
    embeddings stay the backbone's; a list hides them from this module's state dict)."""

    def __init__(self, embeddings: nn.Embedding):
        super().__init__()
        self._embeddings = [embeddings]

    @property
    def weight(self) -> torch.Tensor:
        return self._embeddings[0].weight  # (V, D)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.weight.t()  # (..., V)


class SFT(nn.Module):
    def __init__(self, backbone: Backbone, cfg: SFTTask, info: dict):
        super().__init__()
        if not getattr(backbone, "causal", False):
            raise ConfigError("task.kind=sft needs a causal (decoder) backbone, e.g. model.arch=gpt2 or a local "
                              "GPT-2-style HF directory")
        config = getattr(getattr(backbone, "model", None), "config", None)
        if config is not None and getattr(config, "tie_word_embeddings", True) is False:
            raise ConfigError("task.kind=sft: this model's output layer is not tied to its token embeddings "
                              "(tie_word_embeddings: false); sft supports GPT-2-style tied LM heads")
        self.backbone, self.cfg = backbone, cfg
        self.head = TiedOutput(backbone.input_embeddings())
        self.chunk = chunk_rows("auto", backbone.input_embeddings().num_embeddings)

    @staticmethod
    def head_info(train_records: list[dict], cfg: SFTTask | None = None, all_records: list[dict] | None = None) -> dict:
        return {}

    def info(self) -> dict:
        return {}

    def forward(self, batch: TextBatch) -> StepOutput:
        feats = self.backbone(batch)
        # Position t predicts token t+1: hidden states at 0..T-2 against labels at 1..T-1. Only the
        # counted rows are projected onto the vocabulary (the prompt's never are by default).
        targets = batch["labels"][:, 1:]  # (B, T-1)
        counted = targets != IGNORE
        h = feats.tokens[:, :-1][counted]  # (N, D)
        loss = lm_loss(h, self.head.weight, None, targets[counted], self.chunk)
        n = int(counted.sum())
        if self.training or "references" not in batch:
            return StepOutput(loss=loss, n_items=n)
        predictions = [batch["chat"].decode(ids) for ids in self.generate(batch["prompts"], batch["chat"])]
        references = batch["references"]
        scores = torch.tensor([example_scores(p, r) for p, r in zip(predictions, references, strict=True)],
                              dtype=torch.float64)
        return GenerationOutput(loss=loss, n_items=n, scores=scores, predictions=predictions, references=references)

    def _causal_lm(self) -> nn.Module:
        """transformers' *ForCausalLM around this backbone's model (shared, not copied) with the tied
        head, so generation is transformers' own `generate`, the same code an exported model runs."""
        from transformers import AutoModelForCausalLM

        base = self.backbone.model
        with torch.device("meta"):  # the shell only: its own weights are replaced next, never allocated
            lm = AutoModelForCausalLM.from_config(base.config)
        setattr(lm, lm.base_model_prefix, base)
        out = nn.Linear(self.backbone.feature_dim, self.head.weight.shape[0], bias=False, device="meta")
        out.weight = base.get_input_embeddings().weight
        lm.set_output_embeddings(out)
        return lm

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], chat) -> list[list[int]]:
        """Greedy completions (new ids only, up to and including EOS when reached) of prompt id lists.
        Prompts are left-padded in one batch (positions follow the attention mask); a prompt longer
        than max positions - max_new_tokens keeps its end."""
        room = max(1, self.backbone.max_len - self.cfg.max_new_tokens)
        prompts = [p[-room:] for p in prompts]
        width = max(len(p) for p in prompts)
        device = self.head.weight.device
        ids = torch.full((len(prompts), width), chat.pad, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for r, p in enumerate(prompts):
            ids[r, width - len(p):] = torch.as_tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        new = min(self.cfg.max_new_tokens, self.backbone.max_len - width)
        lm = self._causal_lm()
        out = lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                          eos_token_id=chat.eos, pad_token_id=chat.pad, num_beams=1)
        rows = out[:, width:].tolist()
        return [row[: row.index(chat.eos) + 1] if chat.eos in row else row for row in rows]

    def logits(self, batch: TextBatch) -> list[list[int]]:
        """What `predict` decodes: the generated ids of every prompt of the batch."""
        return self.generate(batch["prompts"], batch["chat"])

    def predictions(self, generated: list[list[int]], batch: TextBatch | None = None) -> list[dict]:
        """What `predict` prints per prompt: {"completion": the generated text, "n_tokens"}."""
        chat = batch["chat"]
        return [{"completion": chat.decode(ids), "n_tokens": len(ids)} for ids in generated]

    def new_metrics(self) -> SFTMetrics:
        return SFTMetrics(self.cfg.metric)
