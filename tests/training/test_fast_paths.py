"""The fast paths change speed, not results: optimizer kernels agree, the LM losses that skip work
equal the full (B, T, V) computation, bf16 stays close to fp32, and "auto" precision resolves honestly."""

import pytest
import torch
import torch.nn.functional as F

from warmstart.config.schema import AdamWOptim, CausalLMObjective, MaskedLMObjective, SGDOptim, TrainSection
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.objectives.masked_lm import mask_tokens
from warmstart.optim import build_optimizer
from warmstart.training.precision import autocast, bf16_native, resolve

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _padded_batch(module):
    batch = module.backbone.example_batch(4)  # row 0 is padded after position 8
    return batch


def _train_params(optim_cfg, steps=3):
    torch.manual_seed(0)
    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL)
    batch = _padded_batch(module)
    opt = build_optimizer([{"params": list(module.parameters()), "lr": optim_cfg.lr}], optim_cfg)
    for _ in range(steps):
        module(batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return torch.cat([p.detach().flatten() for p in module.parameters()])


# Adam divides by sqrt(v): where a gradient is ~0, last-bit differences between kernels grow to
# ~1e-5 after 3 steps of lr 1e-2, i.e. 0.1% of one step; SGD stays within 1e-6.
@pytest.mark.parametrize("make,atol", [
    (lambda impl: AdamWOptim(lr=1e-2, implementation=impl), 1e-4),
    (lambda impl: SGDOptim(lr=0.1, momentum=0.9, weight_decay=0.01, implementation=impl), 1e-6),
], ids=["adamw", "sgd"])
def test_optimizer_kernels_agree(make, atol):
    ref = _train_params(make("for_loop"))
    for impl in ("foreach", "fused"):
        got = _train_params(make(impl))
        assert torch.allclose(got, ref, rtol=0, atol=atol), impl
    assert not torch.equal(ref, _train_params(make("for_loop"), steps=1))  # the steps did move the weights


def test_fused_is_the_default_and_reaches_torch():
    assert AdamWOptim().implementation == SGDOptim().implementation == "fused"
    module = TransformerBackbone.tiny("gpt2")
    opt = build_optimizer([{"params": list(module.parameters()), "lr": 1e-3}], AdamWOptim())
    assert opt.defaults["fused"] is True
    opt = build_optimizer([{"params": list(module.parameters()), "lr": 1e-3}], AdamWOptim(implementation="for_loop"))
    assert opt.defaults["foreach"] is False and not opt.defaults["fused"]


def test_causal_lm_loss_equals_hf_full_logits_loss():
    # Ours projects only the counted positions to the vocabulary; HF's GPT2LMHeadModel computes all
    # (B, T, V) logits and ignores label -100. Same weights, same padded batch -> same loss.
    from transformers import GPT2LMHeadModel

    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL).eval()
    hf = GPT2LMHeadModel(module.backbone.model.config).eval()
    hf.transformer.load_state_dict(module.backbone.model.state_dict())
    hf.tie_weights()
    batch = _padded_batch(module)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        ours = module(batch)
        ref = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
    assert torch.allclose(ours.loss, ref, atol=1e-5)
    assert ours.n_items == int(batch["attention_mask"][:, 1:].sum())


def test_masked_lm_head_on_masked_positions_equals_full_logits():
    module = build_objective(MaskedLMObjective(), TransformerBackbone.tiny("bert"), SPECIAL).eval()
    batch = _padded_batch(module)
    torch.manual_seed(3)
    out = module(batch)
    torch.manual_seed(3)  # the same masks again
    corrupted, selected = mask_tokens(batch["input_ids"], batch["attention_mask"], module.cfg, SPECIAL,
                                      module.vocab_size)
    with torch.no_grad():
        feats = module.backbone({**batch, "input_ids": corrupted})
        logits = module.head(feats.tokens)  # (B, T, V): every position, the slow way
        targets = batch["input_ids"].masked_fill(~selected, -100)
        full = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    assert torch.allclose(out.loss, full, atol=1e-5)


def test_bf16_autocast_close_to_fp32():
    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL).eval()
    batch = _padded_batch(module)
    with torch.no_grad():
        fp32 = module(batch).loss
        with autocast("bf16"):
            bf16 = module(batch).loss
    assert bf16.dtype == torch.float32  # the loss is computed in fp32 even under autocast
    assert abs(float(bf16) - float(fp32)) < 0.05 * float(fp32)


def test_auto_precision_resolves_to_what_the_cpu_supports():
    assert resolve("auto") == ("bf16" if bf16_native() else "fp32")
    assert resolve("fp32") == "fp32" and resolve("bf16") == "bf16"
    assert TrainSection(precision="auto").precision == "auto"


@pytest.mark.slow  # torch.compile costs tens of seconds on 2 cores: run with `pytest -m slow`
@pytest.mark.parametrize("objective,arch", [(CausalLMObjective(), "gpt2"), (MaskedLMObjective(), "bert")],
                         ids=["causal_lm", "masked_lm"])
def test_compiled_step_matches_eager(objective, arch):
    module = build_objective(objective, TransformerBackbone.tiny(arch), SPECIAL).eval()
    batch = _padded_batch(module)
    torch.manual_seed(5)  # masked LM: the same masks in both (mask_tokens runs eagerly under compile)
    eager = module(batch).loss
    torch.manual_seed(5)
    compiled = torch.compile(module)(batch).loss
    assert torch.allclose(eager, compiled, atol=1e-5)
    compiled.backward()  # the backward compiles too
    assert module.backbone.input_embeddings().weight.grad.abs().sum() > 0
