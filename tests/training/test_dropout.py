"""Hashed dropout (train.dropout_rng=hash): the right keep probability and scale, independent
masks across calls and neighbours, reproducible under a seed; the attention it uses under compile
equals SDPA without dropout; switching a model to it changes no weight, key or saved config."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from warmstart.config.schema import CausalLMObjective, MaskedLMObjective
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.training.dropout import (
    WARMSTART_SDPA,
    FastDropout,
    hash_dropout,
    keep_mask,
    math_attention,
    use_fast_dropout,
)

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_probability_and_scale(p):
    torch.manual_seed(0)
    y = hash_dropout(torch.ones(1000, 1000), p)
    kept = y != 0
    assert abs(float(kept.float().mean()) - (1 - p)) < 0.003  # 1M draws: 3 standard errors is ~0.0015
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))


def test_edge_probabilities():
    x = torch.randn(5, 7)
    assert hash_dropout(x, 0.0) is x
    assert torch.equal(hash_dropout(x, 1.0), torch.zeros_like(x))


def test_masks_are_independent_across_calls_and_neighbours():
    torch.manual_seed(0)
    a, b = keep_mask(torch.Size([1000, 1000]), 0.5), keep_mask(torch.Size([1000, 1000]), 0.5)
    assert abs(float((a == b).float().mean()) - 0.5) < 0.005  # two calls agree only by chance
    f = a.float()
    for x, y in [(f[:, :-1], f[:, 1:]), (f[:-1], f[1:])]:  # along a row, and between rows
        assert abs(float(torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])) < 0.01


def test_reproducible_under_a_seed():
    torch.manual_seed(7)
    a = keep_mask(torch.Size([64, 64]), 0.1)
    torch.manual_seed(7)
    assert torch.equal(a, keep_mask(torch.Size([64, 64]), 0.1))


def test_math_attention_equals_sdpa_without_dropout():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    scale = 8 ** -0.5
    assert torch.allclose(math_attention(q, k, v, None, 0.0, scale, True),
                          F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    assert torch.allclose(math_attention(q, k, v, None, 0.0, scale, False),
                          F.scaled_dot_product_attention(q, k, v), atol=1e-6)
    keep = torch.rand(2, 1, 10, 10) > 0.3
    keep[..., 0] = True
    assert torch.allclose(math_attention(q, k, v, keep, 0.0, scale, False),
                          F.scaled_dot_product_attention(q, k, v, attn_mask=keep), atol=1e-6)
    additive = torch.randn(2, 1, 10, 10)
    assert torch.allclose(math_attention(q, k, v, additive, 0.0, scale, False),
                          F.scaled_dot_product_attention(q, k, v, attn_mask=additive), atol=1e-6)


def test_attention_dropout_keeps_the_expected_output():
    # E[dropout(P)] = P, so averaged over many calls the output approaches dropout-free attention.
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 6, 4) for _ in range(3))
    exact = math_attention(q, k, v, None, 0.0, 0.5, True)
    mean = torch.stack([math_attention(q, k, v, None, 0.3, 0.5, True) for _ in range(2000)]).mean(0)
    assert not torch.allclose(math_attention(q, k, v, None, 0.3, 0.5, True), exact)
    assert torch.allclose(mean, exact, atol=0.05)


@pytest.mark.parametrize("objective,arch", [(CausalLMObjective(), "gpt2"), (MaskedLMObjective(), "bert")],
                         ids=["gpt2", "bert"])
def test_switching_changes_no_weight_key_or_saved_config(objective, arch, tmp_path):
    backbone = TransformerBackbone.build(arch, "tiny", vocab_size=64, max_len=16, special=SPECIAL, n_layers=2,
                                         d_model=16, n_heads=2, d_ff=32, dropout=0.1)
    module = build_objective(objective, backbone, SPECIAL)
    plain = sum(type(m) is nn.Dropout for m in module.modules())
    keys = list(module.state_dict())
    assert use_fast_dropout(module) == plain + 1  # every dropout module, and the attention function
    assert not any(type(m) is nn.Dropout for m in module.modules())
    assert sum(isinstance(m, FastDropout) for m in module.modules()) == plain
    assert backbone.model.config._attn_implementation == WARMSTART_SDPA
    assert list(module.state_dict()) == keys
    backbone.model.save_pretrained(tmp_path)
    assert WARMSTART_SDPA not in (tmp_path / "config.json").read_text()
    assert WARMSTART_SDPA not in json.dumps(backbone.spec())


def test_eager_runs_are_torch_dropout():
    # Outside torch.compile the switched model draws exactly what torch's dropout draws.
    backbone = TransformerBackbone.build("gpt2", "tiny", vocab_size=64, max_len=16, special=SPECIAL, n_layers=2,
                                         d_model=16, n_heads=2, d_ff=32, dropout=0.1)
    module = build_objective(CausalLMObjective(), backbone, SPECIAL).train()
    batch = backbone.example_batch(4)
    torch.manual_seed(1)
    before = module(batch).loss
    use_fast_dropout(module)
    torch.manual_seed(1)
    assert torch.equal(module(batch).loss, before)


# The warning is raised inside torch's compile.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_training_step_uses_the_hash():
    # The one compiled test in the default suite, because hash dropout is the default compiled path
    # (~25 s on 2 cores with a cold compile cache, forward and backward).
    from warmstart.config.schema import TrainSection
    from warmstart.training.loop import _compiled

    backbone = TransformerBackbone.build("gpt2", "tiny", vocab_size=64, max_len=16, special=SPECIAL, n_layers=2,
                                         d_model=16, n_heads=2, d_ff=32, dropout=0.1)
    module = build_objective(CausalLMObjective(), backbone, SPECIAL)
    batch = {"input_ids": torch.randint(5, 64, (4, 16)), "attention_mask": torch.ones(4, 16, dtype=torch.long)}
    step = _compiled(module, TrainSection(compile=True))
    assert backbone.model.config._attn_implementation == WARMSTART_SDPA
    torch.manual_seed(0)
    first = step(batch).loss
    second = step(batch).loss
    assert torch.isfinite(first) and not torch.equal(first, second)  # dropout is on, with fresh masks per call
    torch.manual_seed(0)
    again = step(batch).loss
    assert torch.equal(again, first)  # and reproducible under the seed
    again.backward()
    assert backbone.input_embeddings().weight.grad.abs().sum() > 0
