"""Transformer backbones: a GPT-2-style decoder or a BERT-style encoder built from a `transformers`
config, wrapped behind the Backbone contract. token ids + mask -> per-token features + masked mean.

We wrap Hugging Face models instead of reimplementing them: measured on our CPUs, HF GPT-2 trains as
fast as a hand-written GPT, and wrapping gives HF-format export and any local HF model for free.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from warmstart.errors import ConfigError
from warmstart.models.base import Backbone
from warmstart.types import Features, TextBatch

# Size presets: (n_layers, d_model, n_heads). d_ff defaults to 4 * d_model.
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 128, 4),
    "small": (6, 256, 4),
    "base": (12, 768, 12),
}


def hf_config(arch: str, vocab_size: int, max_len: int, n_layers: int, d_model: int, n_heads: int,
              d_ff: int, dropout: float, special: dict[str, int | None]):
    """A transformers config for our three architectures, with our special-token ids."""
    if d_model % n_heads:
        raise ConfigError(f"model.d_model ({d_model}) must be divisible by model.n_heads ({n_heads})")
    if arch == "t5":
        from transformers import T5Config

        # T5 v1.0's layout: ReLU feed-forward, embeddings tied to the output layer (decoder states scaled
        # by d_model^-0.5 before it), relative position buckets (n_positions only records data.max_len).
        # The decoder starts from the pad id and stops at [SEP] (our end-of-sequence), as T5 does.
        return T5Config(
            vocab_size=vocab_size, d_model=d_model, d_kv=d_model // n_heads, d_ff=d_ff, num_layers=n_layers,
            num_decoder_layers=n_layers, num_heads=n_heads, dropout_rate=dropout, feed_forward_proj="relu",
            pad_token_id=special.get("pad") or 0, eos_token_id=special.get("sep"),
            decoder_start_token_id=special.get("pad") or 0, n_positions=max_len,
        )
    if arch == "gpt2":
        from transformers import GPT2Config

        return GPT2Config(
            vocab_size=vocab_size, n_positions=max_len, n_embd=d_model, n_layer=n_layers, n_head=n_heads,
            n_inner=d_ff, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
            bos_token_id=special.get("cls"), eos_token_id=special.get("sep"), pad_token_id=special.get("pad"),
        )
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size, max_position_embeddings=max_len, hidden_size=d_model, num_hidden_layers=n_layers,
        num_attention_heads=n_heads, intermediate_size=d_ff, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, pad_token_id=special.get("pad") or 0,
    )


def model_from_config(config) -> nn.Module:
    """Instantiate the bare (headless) HF model for a config, randomly initialized."""
    from transformers import AutoModel, BertModel

    if config.model_type == "bert":  # no pooler: we pool ourselves, and unused params would never train
        return BertModel(config, add_pooling_layer=False)
    return AutoModel.from_config(config)


def _sliced(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A copy of `linear` keeping output rows (dim 0) or input columns (dim 1) `index`."""
    weight = linear.weight.detach().index_select(dim, index)
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    with torch.no_grad():
        out.weight.copy_(weight)
        if linear.bias is not None:
            out.bias.copy_(linear.bias.detach() if dim == 1 else linear.bias.detach()[index])
    return out


@torch.compiler.disable  # a data-dependent branch: under torch.compile, a quiet graph break here
def _all_ones(mask: torch.Tensor) -> bool:
    return bool(mask.all())


class TransformerBackbone(Backbone):
    """Any bare HF transformer (GPT-2, BERT, or a local model of another type) as a Backbone.

    `self.model` is the HF module, so state-dict keys are `model.<HF name>` and export is
    `self.model.save_pretrained(dir)`.
    """

    kind = "transformer"

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        cfg = model.config
        self.feature_dim = int(getattr(cfg, "hidden_size", None) or cfg.n_embd)
        # Decoders attend left-to-right: their natural pooled token is the last real one.
        self.causal = bool(cfg.model_type in ("gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2")
                           or getattr(cfg, "is_decoder", False))
        self.max_len = int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 512)
        # Encoder-decoder (T5, BART): forward runs the encoder, and the decoder too when the batch has
        # decoder_input_ids (seq2seq.py holds the generation and the LM head).
        self.encoder_decoder = bool(getattr(cfg, "is_encoder_decoder", False))
        self.shrunk: dict[str, list[int]] = {}  # per-layer kept heads / FFN neurons after structured pruning

    @classmethod
    def build(cls, arch: str, size: str, vocab_size: int, max_len: int, special: dict[str, int | None],
              n_layers: int | None = None, d_model: int | None = None, n_heads: int | None = None,
              d_ff: int | None = None, dropout: float = 0.1) -> "TransformerBackbone":
        p_layers, p_d, p_heads = PRESETS[size]
        d_model = d_model or p_d
        config = hf_config(arch, vocab_size, max_len, n_layers or p_layers, d_model, n_heads or p_heads,
                           d_ff or 4 * d_model, dropout, special)
        return cls(model_from_config(config))

    def forward(self, batch: TextBatch) -> Features:
        if self.encoder_decoder:
            return self._encoder_decoder_forward(batch)
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        # A mask of all ones (packed pretraining blocks) is dropped so SDPA takes its fast path. Not when
        # exporting a graph (ONNX): the branch is data-dependent, and the graph must take any mask.
        exporting = torch.compiler.is_exporting()
        hf_mask = None if mask is None or (not exporting and _all_ones(mask)) else mask
        # Segment ids (extractive QA: 0 = question, 1 = context) reach models that have segment
        # embeddings (BERT's type_vocab_size 2); GPT-2 would look them up as tokens, so never there.
        segments = {}
        if "token_type_ids" in batch and getattr(self.model.config, "type_vocab_size", 0) > 1:
            segments["token_type_ids"] = batch["token_type_ids"]
        hidden = self.model(input_ids=ids, attention_mask=hf_mask, **segments).last_hidden_state  # (B, T, D)
        if mask is None:
            mask = torch.ones_like(ids)
        m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        # Masked mean over real tokens; clamp guards an all-padding row against 0/0.
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D)
        return Features(tokens=hidden, pooled=pooled, mask=mask)

    def _encoder_decoder_forward(self, batch: TextBatch) -> Features:
        """Encoder features (B, T, D) of input_ids; with decoder_input_ids (B, U) in the batch, the
        decoder's features (B, U, D) over the encoded input instead (teacher forcing: position u sees
        decoder inputs <= u). `mask`/`pooled` go with the features returned."""
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(ids)
        if "decoder_input_ids" in batch:
            dec_mask = batch.get("decoder_attention_mask")
            hidden = self.model(input_ids=ids, attention_mask=mask, decoder_input_ids=batch["decoder_input_ids"],
                                decoder_attention_mask=dec_mask, use_cache=False).last_hidden_state  # (B, U, D)
            mask = dec_mask if dec_mask is not None else torch.ones_like(batch["decoder_input_ids"])
        else:
            hidden = self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, D)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D) masked mean
        return Features(tokens=hidden, pooled=pooled, mask=mask)

    def input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def blocks(self) -> nn.ModuleList | None:
        """The repeated transformer blocks: the largest nn.ModuleList (GPT-2's h, BERT's encoder.layer)."""
        return max((m for m in self.model.modules() if isinstance(m, nn.ModuleList)),
                   key=lambda m: sum(p.numel() for p in m.parameters()), default=None)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Embeddings, then one group per block, then anything after the blocks (final norm).

        Works for any HF transformer: the blocks are the largest nn.ModuleList; parameters registered
        before the first block form the input group, the rest the output group. Encoder-decoders:
        encoder_decoder_groups.
        """
        if self.encoder_decoder:
            return self.encoder_decoder_groups()
        blocks = self.blocks()
        block_of = {}
        if blocks is not None:
            for i, block in enumerate(blocks):
                for p in block.parameters():
                    block_of[id(p)] = i
        n_blocks = len(blocks) if blocks is not None else 0
        before, after, per_block = [], [], [[] for _ in range(n_blocks)]
        seen_block = False
        for p in self.model.parameters():  # registration order = depth order for HF models
            if id(p) in block_of:
                per_block[block_of[id(p)]].append(p)
                seen_block = True
            else:
                (after if seen_block else before).append(p)
        return [g for g in [before, *per_block, after] if g]

    def encoder_decoder_groups(self) -> list[list[nn.Parameter]]:
        """Depth order of an encoder-decoder: shared embeddings, each encoder block, what lies between
        (the encoder's final norm), each decoder block, and what follows (the decoder's final norm).
        A block list is the largest nn.ModuleList of the encoder and of the decoder; each run of
        parameters outside them (in registration order) is one group."""
        def largest(part: nn.Module) -> nn.ModuleList:
            return max((m for m in part.modules() if isinstance(m, nn.ModuleList)),
                       key=lambda m: sum(p.numel() for p in m.parameters()))

        block_of = {}
        for side, part in enumerate((self.model.get_encoder(), self.model.get_decoder())):
            for i, block in enumerate(largest(part)):
                for p in block.parameters():
                    block_of[id(p)] = (side, i)
        groups: list[list[nn.Parameter]] = []
        current = object()
        for p in self.model.parameters():  # registration order; a tied parameter only once
            key = block_of.get(id(p), "between")
            if key != current or not groups:
                groups.append([])
                current = key
            groups[-1].append(p)
        return groups

    def spec(self) -> dict[str, Any]:
        spec = {"kind": self.kind, "hf_config": self.model.config.to_dict()}
        if self.shrunk:  # a transformers config has one head count and one d_ff for all layers
            spec["shrunk"] = self.shrunk
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "TransformerBackbone":
        from transformers import AutoConfig

        cfg = dict(spec["hf_config"])
        config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
        backbone = cls(model_from_config(config))
        shrunk = spec.get("shrunk") or {}
        if shrunk:  # the same shapes as the pruned model (which rows survive is in the weights loaded next)
            backbone.shrink([list(range(n)) for n in shrunk["heads"]], [list(range(n)) for n in shrunk["d_ff"]])
        return backbone

    def encoder_layers(self) -> list[nn.Module] | None:
        """The blocks of a BERT-style encoder (attention.self.query/key/value, attention.output.dense,
        intermediate.dense, output.dense), the layout `shrink` slices; None for other architectures."""
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if layers is None or not all(hasattr(b, "attention") and hasattr(b.attention, "self")
                                     and hasattr(b.attention.self, "query") and hasattr(b, "intermediate")
                                     for b in layers):
            return None
        return list(layers)

    def shrink(self, heads: list[list[int]], neurons: list[list[int]]) -> None:
        """Keep only the listed attention heads and FFN neurons of each encoder layer, slicing the Linear
        layers (a smaller model, not a masked one). heads[i] / neurons[i]: sorted indices kept in layer i."""
        for block, keep_heads, keep_ff in zip(self.encoder_layers(), heads, neurons, strict=True):
            att = block.attention.self
            d_head = att.attention_head_size
            rows = torch.cat([torch.arange(h * d_head, (h + 1) * d_head) for h in keep_heads])
            if len(keep_heads) != att.num_attention_heads:
                att.query, att.key, att.value = (_sliced(lin, rows, 0) for lin in (att.query, att.key, att.value))
                block.attention.output.dense = _sliced(block.attention.output.dense, rows, 1)
                # Attention reshapes to (-1, d_head) and scales by d_head ** -0.5: only the count changes.
                att.num_attention_heads, att.all_head_size = len(keep_heads), len(keep_heads) * d_head
            if len(keep_ff) != block.intermediate.dense.out_features:
                cols = torch.tensor(keep_ff)
                block.intermediate.dense = _sliced(block.intermediate.dense, cols, 0)
                block.output.dense = _sliced(block.output.dense, cols, 1)
        self.shrunk = {"heads": [b.attention.self.num_attention_heads for b in self.encoder_layers()],
                       "d_ff": [b.intermediate.dense.out_features for b in self.encoder_layers()]}

    @classmethod
    def tiny(cls, arch: str = "bert") -> "TransformerBackbone":
        return cls.build(arch, "tiny", vocab_size=64, max_len=16, special={"pad": 0, "cls": 2, "sep": 3},
                         n_layers=2, d_model=16, n_heads=2, d_ff=32, dropout=0.0)

    def example_batch(self, batch_size: int = 4) -> TextBatch:
        vocab = self.input_embeddings().num_embeddings
        ids = torch.randint(5, vocab, (batch_size, 12))
        mask = torch.ones_like(ids)
        mask[0, 8:] = 0  # one padded row exercises masking
        ids[0, 8:] = 0
        return {"input_ids": ids, "attention_mask": mask}

