"""The chunked LM loss (objective.loss_chunk) equals the whole-logits loss in value and in every
gradient, skips ignored rows, and is wired into both LM objectives."""

import pytest
import torch
import torch.nn.functional as F

from warmstart.config.schema import CausalLMObjective, MaskedLMObjective
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.objectives.lm_loss import AUTO_LOGITS, IGNORE, chunk_rows, lm_loss
from warmstart.training.precision import autocast

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _inputs(n=37, d=8, v=50):
    torch.manual_seed(0)
    h = torch.randn(n, d, requires_grad=True)
    w = torch.randn(v, d, requires_grad=True)
    b = torch.randn(v, requires_grad=True)
    t = torch.randint(0, v, (n,))
    t[::5] = IGNORE  # some rows do not count
    return h, w, b, t


def _loss_and_grads(chunk):
    h, w, b, t = _inputs()
    loss = lm_loss(h, w, b, t, chunk)
    (3.0 * loss).backward()  # a non-unit upstream gradient, as the loop's loss * n_items gives
    return loss.detach(), h.grad, w.grad, b.grad


@pytest.mark.parametrize("chunk", [1, 8, 10, 36])  # 37 rows: chunks that do and do not divide it
def test_chunked_equals_whole_in_value_and_gradients(chunk):
    whole = _loss_and_grads(None)
    ref = F.cross_entropy(F.linear(*_inputs()[:3]), _inputs()[3], ignore_index=IGNORE)
    assert torch.allclose(whole[0], ref)
    for a, b in zip(_loss_and_grads(chunk), whole, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_ignored_rows_get_no_gradient_and_no_grad_mode_works():
    h, w, b, t = _inputs()
    lm_loss(h, w, b, t, 8).backward()
    assert torch.all(h.grad[t == IGNORE] == 0) and h.grad[t != IGNORE].abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(lm_loss(h, w, b, t, 8), lm_loss(h, w, b, t, None))


def test_chunked_under_bf16_autocast_close_to_whole():
    h, w, b, t = _inputs(n=64, d=32, v=100)
    with autocast("bf16"):
        whole, chunked = lm_loss(h, w, b, t, None), lm_loss(h, w, b, t, 16)
    assert chunked.dtype == torch.float32
    assert abs(float(whole.detach()) - float(chunked.detach())) < 0.02 * float(whole.detach())
    chunked.backward()
    assert w.grad.dtype == torch.float32 and torch.isfinite(w.grad).all()


@pytest.mark.parametrize("objective,arch", [(CausalLMObjective, "gpt2"), (MaskedLMObjective, "bert")],
                         ids=["causal_lm", "masked_lm"])
def test_objectives_give_the_same_loss_and_gradients_chunked(objective, arch):
    def run(chunk):
        torch.manual_seed(0)
        module = build_objective(objective(loss_chunk=chunk), TransformerBackbone.tiny(arch), SPECIAL).eval()
        batch = module.backbone.example_batch(4)  # one padded row
        torch.manual_seed(1)  # the same MLM masks in both
        out = module(batch)
        out.loss.backward()
        return out.loss.detach(), module.backbone.input_embeddings().weight.grad  # tied: body + head gradient

    (loss, grad), (loss_c, grad_c) = run(None), run(5)
    assert torch.allclose(loss, loss_c, atol=1e-6) and torch.allclose(grad, grad_c, atol=1e-6)


def test_auto_chunk_keeps_logits_under_the_budget():
    assert chunk_rows("auto", 8000) == AUTO_LOGITS // 8000 and chunk_rows("auto", 50257) * 50257 <= AUTO_LOGITS
    assert chunk_rows("auto", 10**9) == 1 and chunk_rows(None, 8000) is None and chunk_rows(64, 8000) == 64
    assert CausalLMObjective().loss_chunk == "auto" and MaskedLMObjective(loss_chunk=None).loss_chunk is None
    with pytest.raises(ValueError):
        CausalLMObjective(loss_chunk=0)
