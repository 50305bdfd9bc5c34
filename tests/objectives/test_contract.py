"""Every objective: finite loss, n_items > 0, gradients reach the backbone, loss falls on a fixed batch."""

import pytest
import torch

from warmstart.config.schema import CausalLMObjective, MaskedLMObjective, SpanCorruptionObjective
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.objectives.masked_lm import mask_tokens

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4, "sentinels": list(range(63, 43, -1))}
CASES = {"causal_lm": ("gpt2", CausalLMObjective()), "masked_lm": ("bert", MaskedLMObjective()),
         "span_corruption": ("t5", SpanCorruptionObjective())}


@pytest.mark.parametrize("kind", sorted(CASES))  # image/vector objectives: test_vision_contract.py
def test_objective_contract(kind, fixed_batch_losses):
    arch, cfg = CASES[kind]
    module = build_objective(cfg, TransformerBackbone.tiny(arch), SPECIAL)
    batch = module.backbone.example_batch(4)
    out = module(batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.n_items > 0
    out.loss.backward()
    assert module.backbone.input_embeddings().weight.grad.abs().sum() > 0
    losses = fixed_batch_losses(module, batch)  # same masks/noise each step: a fixed batch
    assert losses[-1] < losses[0]


def test_masking_rules():
    torch.manual_seed(0)
    ids = torch.randint(5, 1000, (64, 32))
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
    mask = torch.ones_like(ids)
    mask[:, 28:] = 0
    corrupted, selected = mask_tokens(ids, mask, MaskedLMObjective(), SPECIAL, 1000)
    assert not selected[:, 0].any() and not selected[:, -1].any() and not selected[:, 28:].any()
    frac = selected.sum() / (mask.sum() - 64)  # real, non-special positions
    assert 0.12 < float(frac) < 0.18
    masked = (corrupted == 4) & selected
    assert 0.74 < float(masked.sum() / selected.sum()) < 0.86
    assert torch.equal(corrupted[~selected], ids[~selected])  # unselected tokens untouched


def test_only_masked_positions_count():
    module = build_objective(MaskedLMObjective(), TransformerBackbone.tiny("bert"), SPECIAL)
    batch = module.backbone.example_batch(4)
    torch.manual_seed(1)
    out = module(batch)
    torch.manual_seed(1)
    _, selected = mask_tokens(batch["input_ids"], batch["attention_mask"], module.cfg, SPECIAL, module.vocab_size)
    assert out.n_items == int(selected.sum())


def test_causal_lm_ignores_padding_targets():
    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL)
    batch = module.backbone.example_batch(4)
    out = module(batch)
    assert out.n_items == int(batch["attention_mask"][:, 1:].sum())


def test_causal_lm_rejects_encoder():
    from warmstart.errors import ConfigError

    with pytest.raises(ConfigError, match="causal"):
        build_objective(CausalLMObjective(), TransformerBackbone.tiny("bert"), SPECIAL)
