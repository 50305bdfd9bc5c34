"""export of a causal-LM pretraining run as transformers' AutoModelForCausalLM, so that
`pipeline("text-generation", model=OUT)` generates with the trained LM head.

The causal_lm objective's head is the tied token embedding plus a trained output bias (heads.TiedLMHead):
logits = W y + b, with y the backbone's final LayerNorm output. GPT-2's LM head has no bias. For GPT-2 the
bias is folded exactly into an untied LM-head weight: y = gamma * n + beta with n the normalized
activations, whose entries sum to 0, so with u = 1 / gamma (elementwise) every output y has the same
u . y = u . beta =: k. Hence b = b (u . y) / k and logits = (W + b u^T / k) y. When k is near 0 the
final LayerNorm bias is shifted along u first (beta' = beta + s u, with the change in W beta' moved into
the folded bias), which leaves the logits unchanged. A zero bias keeps the tied head as it is.

The exported tokenizer encodes text the way pretraining saw it: no [CLS]/[SEP] around a prompt
(documents were packed without them), but the document separator in front, since every pretraining
document followed one; generation stops at the separator (eos).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.heads import model_type

MIN_K = 0.5  # |u . beta| below this: shift beta so the fold divides by 1, not by a number near 0


def fold_logit_bias(weight: torch.Tensor, bias: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(lm_head weight, final LayerNorm bias) with (W' (gamma n + beta') == W (gamma n + beta) + b) for every
    normalized n (sum n = 0). weight (V, D), bias (V,), gamma and beta (D,). Computed in float64."""
    if bool((gamma.abs() < 1e-6).any()):
        raise ConfigError("--format hf: the final LayerNorm has a zero scale, so the LM head's output bias cannot "
                          "be folded into its weights; export with --format hf-backbone")
    w, b, g, be = (t.detach().double() for t in (weight, bias, gamma, beta))
    u = 1.0 / g  # (D,)
    k = float(u @ be)
    shift = 0.0 if abs(k) >= MIN_K else (1.0 - k) / float(u @ u)  # then u . beta' = 1
    beta2 = be + shift * u
    b2 = b - shift * (w @ u)  # W beta' = W beta + shift W u: take the extra term out of the bias
    k2 = float(u @ beta2)
    folded = w + torch.outer(b2 / k2, u)  # (V, D)
    return folded.to(weight.dtype), beta2.to(beta.dtype)


def hf_causal_lm_model(backbone: nn.Module, head_bias: torch.Tensor) -> nn.Module:
    """transformers' *ForCausalLM with the backbone's weights and the objective head's bias folded in."""
    from transformers import AutoModelForCausalLM

    arch = model_type(backbone)
    zero_bias = not bool(head_bias.abs().gt(0).any())
    if not zero_bias and arch != "gpt2":
        raise ConfigError(f"--format hf: the LM head's output bias can only be folded into a gpt2 model's head, not "
                          f"{arch or backbone.kind}'s; export with --format hf-backbone")
    config = copy.deepcopy(backbone.model.config)
    config.tie_word_embeddings = zero_bias  # a folded bias makes the head's weight differ from the embeddings
    model = AutoModelForCausalLM.from_config(config)
    state = {f"{model.base_model_prefix}.{k}": v for k, v in backbone.model.state_dict().items()}
    embeddings = backbone.model.get_input_embeddings().weight
    if zero_bias:
        state["lm_head.weight"] = embeddings
    else:
        ln_f = backbone.model.ln_f
        state["lm_head.weight"], state[f"{model.base_model_prefix}.ln_f.bias"] = fold_logit_bias(
            embeddings, head_bias, ln_f.weight, ln_f.bias)
    model.load_state_dict(state, strict=True)  # every parameter comes from the run
    return model.eval()


def set_generation_tokens(out: Path, model: nn.Module, special: dict) -> None:
    """Make the exported tokenizer and config generate as pretraining trained: the separator (the eos that
    ended every document) in front of the text instead of [CLS] ... [SEP] around it, and as eos."""
    from tokenizers import processors
    from warmstart.tokenizers import load_tokenizer

    sep, pad = special.get("sep"), special.get("pad")
    if sep is None:
        raise ConfigError("--format hf: the run's tokenizer has no separator token to end generation with")
    tokenizer = load_tokenizer(out)
    sep_token = tokenizer.convert_ids_to_tokens(sep)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{sep_token} $A", pair=f"{sep_token} $A {sep_token} $B", special_tokens=[(sep_token, sep)])
    tokenizer.bos_token = tokenizer.eos_token = sep_token
    tokenizer.save_pretrained(str(out))
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = sep, sep, pad
    model.config.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))
