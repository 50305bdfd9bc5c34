"""BERT-style pretraining: select mask_prob of the real tokens, corrupt them (80% [MASK], 10% random
token, 10% unchanged by default) and predict the originals. Only selected positions count.

With objective.nsp, batches are [CLS] A [SEP] B [SEP] segment pairs (data.pairs) and a second head
on [CLS] predicts whether B is A's next segment (BERT's NSP) or in order (ALBERT's SOP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import LMMetrics, MLMPairMetrics
from warmstart.heads import TiedLMHead
from warmstart.models.base import Backbone
from warmstart.objectives.lm_loss import chunk_rows, count, lm_loss
from warmstart.types import StepOutput, TextBatch

if TYPE_CHECKING:
    from warmstart.config.schema import MaskedLMObjective


# Eager even inside torch.compile: the number of random replacement tokens is data-dependent (which
# dynamo cannot trace), and eager draws from torch's global RNG keep masks identical compiled or not.
@torch.compiler.disable
def mask_tokens(ids: torch.Tensor, attention_mask: torch.Tensor, cfg: MaskedLMObjective,
                special: dict[str, int | None],
                vocab_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (corrupted ids, selected) where selected (B, T) bool marks the positions to predict.

    Special tokens and padding are never selected. Draws come from `generator` (default: torch's
    global RNG, which the loop saves in checkpoints, so resumed runs draw the same masks).
    """
    never = ~attention_mask.bool()
    for name in ("pad", "cls", "sep"):
        if special.get(name) is not None:
            never |= ids == special[name]
    # Draws are made on the CPU (the generator, or the global CPU RNG that checkpoints save) and then
    # moved: the masks are the same whatever device the batch is on.
    u = torch.rand(ids.shape, generator=generator).to(ids.device)
    selected = (u < cfg.mask_prob) & ~never
    # Guarantee at least one prediction per batch so the loss is always defined.
    if not bool(selected.any()):
        candidates = (~never).nonzero()
        if len(candidates):
            r, c = candidates[torch.randint(len(candidates), (1,), generator=generator)][0]
            selected[r, c] = True
    # One more uniform draw splits the selected positions into [MASK] / random / keep.
    v = torch.rand(ids.shape, generator=generator).to(ids.device)
    corrupted = ids.clone()
    to_mask = selected & (v < cfg.mask_token_frac)
    to_random = selected & (v >= cfg.mask_token_frac) & (v < cfg.mask_token_frac + cfg.random_token_frac)
    corrupted[to_mask] = special["mask"]
    corrupted[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=generator).to(ids.device)
    return corrupted, selected


class NextSentenceHead(nn.Module):
    """The pair classifier on [CLS]: BERT's pooler (dense + tanh) and a 2-way linear layer. Named as
    BertForPreTraining's bert.pooler.dense and cls.seq_relationship, which it maps onto one to one."""

    def __init__(self, d_model: int):
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.seq_relationship = nn.Linear(d_model, 2)

    def forward(self, cls: torch.Tensor) -> torch.Tensor:
        return self.seq_relationship(torch.tanh(self.pooler(cls)))  # (B, D) -> (B, 2)


class MaskedLM(nn.Module):
    def __init__(self, backbone: Backbone, cfg: MaskedLMObjective, special: dict[str, int | None]):
        super().__init__()
        if special.get("mask") is None:
            raise ConfigError("objective.kind=masked_lm needs a tokenizer with a mask token")
        self.backbone, self.cfg, self.special = backbone, cfg, special
        self.vocab_size = backbone.input_embeddings().num_embeddings
        self.head = TiedLMHead(backbone.input_embeddings(), transform=True)
        self.nsp = cfg.nsp != "off"
        if self.nsp:
            # Inside self.head: the objective head is what checkpoints keep besides the backbone, and
            # what fine-tuning drops.
            self.head.nsp = NextSentenceHead(backbone.feature_dim)
        self.chunk = chunk_rows(cfg.loss_chunk, self.vocab_size)  # rows of logits at a time

    def forward(self, batch: TextBatch) -> StepOutput:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        corrupted, selected = mask_tokens(ids, mask, self.cfg, self.special, self.vocab_size)
        feats = self.backbone({**batch, "input_ids": corrupted})
        # Only the selected positions go through the vocabulary projection: ~15% of the (B, T, V) work.
        loss = lm_loss(self.head.transform(feats.tokens[selected]), self.head.decoder_weight, self.head.bias,
                       ids[selected], self.chunk)
        n_masked = count(selected)
        if not self.nsp:
            return StepOutput(loss=loss, n_items=n_masked)
        labels = batch["nsp_labels"]  # (B,) 0 = B follows A, 1 = random B / swapped
        logits = self.head.nsp(feats.tokens[:, 0])  # (B, 2) from [CLS]
        nsp_sum = F.cross_entropy(logits.float(), labels, reduction="sum")
        # loss = MLM + NSP (BERT sums the two means), written as a sum over the masked tokens so the
        # loop's exact accumulation (loss * n_items summed over micro-batches, then / total) stays exact:
        # each pair's NSP loss is weighted by the expected masked tokens per pair, c = mask_prob x its
        # maskable tokens (a constant: every pair has 2 x seg_len of them), so the step's loss is
        # mean MLM + (sum NSP * c) / n_masked = mean MLM + mean NSP in expectation.
        c = self.cfg.mask_prob * (ids.size(1) - 3)  # all but [CLS] and the two [SEP]s can be masked
        total = loss + nsp_sum * c / n_masked
        correct = (logits.argmax(-1) == labels).sum()
        return StepOutput(loss=total, n_items=n_masked, logits=logits,
                          metrics={"mlm_loss": loss.detach(), "nsp_loss_sum": nsp_sum.detach(),
                                   "nsp_correct": correct.detach(), "pairs": labels.numel()})

    def new_metrics(self) -> LMMetrics | MLMPairMetrics:
        return MLMPairMetrics() if self.nsp else LMMetrics()

    def info(self) -> dict:
        """Facts for head.json: which pair task the head was trained on."""
        return {"nsp": self.cfg.nsp} if self.nsp else {}
