"""train.activation_checkpointing: each transformer block recomputes its activations in backward;
the gradients equal the stored-activation run's (dropout masks replayed), and the loop trains the
same weights. A backbone without transformer blocks is a one-line ConfigError."""

import pytest
import torch

from warmstart.config.schema import CausalLMObjective, MaskedLMObjective
from warmstart.errors import ConfigError
from warmstart.models.mlp import MLPBackbone
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.training.distributed import checkpoint_activations

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _grads(arch, objective, checkpointed):
    torch.manual_seed(0)
    backbone = TransformerBackbone.build(arch, "tiny", vocab_size=64, max_len=16, special=SPECIAL, n_layers=2,
                                         d_model=16, n_heads=2, d_ff=32, dropout=0.2)
    module = build_objective(objective, backbone, SPECIAL)
    if checkpointed:
        checkpoint_activations(module)
    batch = backbone.example_batch()
    module.train()
    torch.manual_seed(1)  # the same dropout masks and MLM masks in both runs
    out = module(batch)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("arch,objective", [("gpt2", CausalLMObjective()), ("bert", MaskedLMObjective())],
                         ids=["gpt2", "bert"])
def test_checkpointed_blocks_give_the_same_gradients(arch, objective):
    loss, grads = _grads(arch, objective, checkpointed=False)
    loss_ac, grads_ac = _grads(arch, objective, checkpointed=True)
    assert torch.equal(loss, loss_ac)
    assert grads.keys() == grads_ac.keys() and len(grads) > 10
    for name in grads:
        torch.testing.assert_close(grads_ac[name], grads[name], atol=1e-7, rtol=1e-6, msg=name)


def test_checkpointing_really_recomputes_the_blocks():
    # What is inside each block runs twice per training step under checkpointing (forward, then again in
    # backward; HF checkpoints the block's forward, so hooks on the block itself, FSDP2's, run once).
    torch.manual_seed(0)
    backbone = TransformerBackbone.tiny("gpt2")
    module = build_objective(CausalLMObjective(), backbone, SPECIAL)
    checkpoint_activations(module)
    calls = []
    for block in backbone.blocks():
        next(block.children()).register_forward_hook(lambda *_: calls.append(1))
    module.train()
    module(backbone.example_batch()).loss.backward()
    assert len(calls) == 2 * len(backbone.blocks())


def test_activation_checkpointing_without_transformer_blocks_is_a_config_error():
    module = torch.nn.Module()
    module.backbone = MLPBackbone((4,), n_layers=1, d_model=8)
    with pytest.raises(ConfigError, match="train.activation_checkpointing needs a transformer backbone"):
        checkpoint_activations(module)
