"""Backbones only: inputs -> Features. No heads, no losses.

BACKBONES maps the config `kind` to a class; `build_backbone` makes a fresh one from config,
`load_backbone` rebuilds one from a checkpoint's backbone.json + backbone.safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from warmstart.checkpoint.io import load_tensors, read_json
from warmstart.errors import CheckpointError
from warmstart.models.base import Backbone, check_layer_groups
from warmstart.models.embedding import EmbeddingBackbone
from warmstart.models.hf import HFBackbone
from warmstart.models.mlp import MLPBackbone
from warmstart.models.resnet import ResNetBackbone
from warmstart.models.transformer import TransformerBackbone
from warmstart.models.vit import ViTBackbone

if TYPE_CHECKING:
    from warmstart.config.schema import Model

BACKBONES: dict[str, type[Backbone]] = {
    "transformer": TransformerBackbone,
    "hf": HFBackbone,
    "resnet": ResNetBackbone,
    "vit": ViTBackbone,
    "mlp": MLPBackbone,
    "embedding": EmbeddingBackbone,
}

BACKBONE_FORMAT_VERSION = 1


def build_backbone(cfg: Model, vocab_size: int = 0, special: dict[str, int | None] | None = None, max_len: int = 0,
                   input_shape: tuple[int, ...] | None = None, tokens: list[str] | None = None) -> Backbone:
    """A freshly built backbone for a `model` config section (random init, or a local HF dir).

    Text backbones need the tokenizer's vocab_size and special ids and max_len; image and vector
    backbones (resnet, vit, mlp) need the input_shape of one example: (C, H, W) or (F,). An
    embedding table filled from word vectors (model.vectors) needs the tokenizer's `tokens` in id order.
    """
    if cfg.kind == "hf":
        return HFBackbone.load(cfg.path, cfg.pretrained_weights)
    if cfg.kind in ("resnet", "vit", "mlp"):
        return BACKBONES[cfg.kind].from_config(cfg, tuple(input_shape))
    if cfg.kind == "embedding":
        return EmbeddingBackbone.from_config(cfg, vocab_size, special, tokens)
    return TransformerBackbone.build(
        cfg.arch, cfg.size, vocab_size=vocab_size, max_len=cfg.max_len or max_len, special=special,
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_ff=cfg.d_ff, dropout=cfg.dropout,
    )


def backbone_json(backbone: Backbone) -> dict:
    return {"format_version": BACKBONE_FORMAT_VERSION, **backbone.spec()}


def load_backbone(ckpt: Path, random_init: bool = False) -> Backbone:
    """Rebuild the backbone saved in checkpoint dir `ckpt`; load its weights unless random_init.

    Loading is strict: a missing or unexpected key is an incompatible checkpoint, never a silent
    partial load.
    """
    spec = read_json(Path(ckpt) / "backbone.json")
    kind = spec.get("kind")
    if kind not in BACKBONES:
        raise CheckpointError(f"{ckpt}/backbone.json: unknown backbone kind {kind!r}; "
                              f"expected one of {sorted(BACKBONES)}")
    if spec.get("format_version", 0) > BACKBONE_FORMAT_VERSION:
        raise CheckpointError(f"{ckpt}/backbone.json: format_version {spec['format_version']} "
                              "is newer than this warmstart supports")
    backbone = BACKBONES[kind].from_spec(spec)
    if not random_init:
        state = load_tensors(ckpt, "backbone")
        missing, unexpected = backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{ckpt}/backbone.safetensors: does not match backbone.json "
                f"(missing {len(missing)} keys e.g. {missing[:2]}, unexpected {len(unexpected)} e.g. {unexpected[:2]})")
    return backbone


__all__ = ["BACKBONES", "Backbone", "build_backbone", "load_backbone", "backbone_json", "check_layer_groups"]
