"""Encoder-decoder language-model pieces shared by the span-corruption objective, the seq2seq task
and export: the decoder's shifted inputs, the output layer's starting weights, and a transformers
*ForConditionalGeneration model assembled around a backbone and an output layer (for `generate`
and for `export --format hf`).

The backbone wraps the bare HF encoder-decoder (T5Model, BartModel: embeddings, encoder, decoder);
the output layer belongs to the objective or task. T5 v1.0 ties it to the embeddings and scales the
decoder states by d_model^-0.5 first (config.scale_decoder_outputs); BART ties it without a scale.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

IGNORE = -100  # target positions that do not count (padding)


def output_scale(config) -> float:
    """The factor T5 v1.0 applies to decoder states before its tied output layer (1 otherwise)."""
    return float(config.d_model) ** -0.5 if getattr(config, "scale_decoder_outputs", False) else 1.0


def output_init(backbone) -> torch.Tensor:
    """(V, D) weights of an untied output layer that gives the model's own logits: the pretrained
    output layer a local HF directory brought (HFBackbone.output_weight), else the tied embeddings
    times output_scale."""
    weight = getattr(backbone, "output_weight", None)
    if weight is not None:
        return weight
    config = backbone.model.config
    return backbone.input_embeddings().weight.detach() * output_scale(config)


def shift_right(labels: torch.Tensor, start: int, pad: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: (B, U) targets -> [start, targets[:-1]], with the
    ignored (-100) positions as pad. Position u then predicts target u from targets < u."""
    out = torch.full_like(labels, pad)
    out[:, 0] = start
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == IGNORE, pad)


def token_ids(config) -> tuple[int, int, int]:
    """(decoder start, pad, end-of-sequence) ids of an encoder-decoder config."""
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    start = getattr(config, "decoder_start_token_id", None)
    return (pad if start is None else int(start)), int(pad), int(config.eos_token_id)


def conditional_lm(backbone, head: nn.Linear):
    """transformers' AutoModelForSeq2SeqLM around `backbone`'s modules and `head` (V x D, no bias)
    as its untied output layer: the same modules, not copies, so it generates with the weights as
    they are now (LoRA layers included) and saves with save_pretrained (after merging adapters).

    The shell is built on the meta device and every part is then replaced by ours; a buffer only
    the shell has (BART's final_logits_bias) becomes zeros."""
    from transformers import AutoModelForSeq2SeqLM

    config = copy.deepcopy(backbone.model.config)
    if hasattr(config, "scale_decoder_outputs"):
        config.scale_decoder_outputs = False  # any scale is folded into the head (output_init)
    config.tie_word_embeddings = False
    with torch.device("meta"):
        lm = AutoModelForSeq2SeqLM.from_config(config)
    inner = getattr(lm, lm.base_model_prefix, None) if lm.base_model_prefix else None
    if isinstance(inner, nn.Module) and inner is not lm:  # BART: lm.model is the bare model
        setattr(lm, lm.base_model_prefix, backbone.model)
    else:  # T5: shared, encoder and decoder sit at the top level
        for name, child in backbone.model.named_children():
            setattr(lm, name, child)
    lm.lm_head = head
    device = head.weight.device
    for name, buf in list(lm.named_buffers()):
        if buf.is_meta:
            owner, _, leaf = name.rpartition(".")
            (lm.get_submodule(owner) if owner else lm).register_buffer(leaf, torch.zeros(buf.shape, device=device))
    left = [n for n, p in lm.named_parameters() if p.is_meta]
    if left:
        raise RuntimeError(f"conditional_lm: parameters left on the meta device: {left[:3]}")
    start, pad, eos = token_ids(backbone.model.config)
    lm.generation_config.decoder_start_token_id = start
    lm.generation_config.pad_token_id, lm.generation_config.eos_token_id = pad, eos
    lm.train(backbone.training)
    return lm


@torch.no_grad()
def generate(lm, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_beams: int,
             max_new_tokens: int) -> torch.Tensor:
    """(B, L) generated ids after the decoder start token: greedy (num_beams=1) or beam search,
    deterministic; rows that end early are padded with the pad id."""
    from transformers import GenerationConfig

    base = lm.generation_config
    gen = GenerationConfig(decoder_start_token_id=base.decoder_start_token_id, pad_token_id=base.pad_token_id,
                           eos_token_id=base.eos_token_id, num_beams=num_beams, max_new_tokens=max_new_tokens,
                           do_sample=False, forced_bos_token_id=getattr(base, "forced_bos_token_id", None),
                           forced_eos_token_id=getattr(base, "forced_eos_token_id", None))
    out = lm.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=gen)
    return out[:, 1:]
