"""export: a run as a Hugging Face-format directory, or its word vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from warmstart.checkpoint.io import read_json, resolve_checkpoint
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs
from warmstart.models import load_backbone
from warmstart.runs import load_run_config
from warmstart.workflows.finetune import load_finetuned

WORD_VECTOR_FORMATS = ("word2vec", "word2vec-binary", "safetensors")


def export(run_dir: str | Path, fmt: str = "hf", out: str | Path | None = None) -> Path:
    """Write an HF-format directory (config.json, model.safetensors, tokenizer or transforms.json)
    that transformers.AutoModel loads offline; the warmstart head rides along. Backbones that
    wrap a transformers model (transformer, hf, vit) only: a resnet or mlp has no HF format.
    Word vectors (a word-vector run, or any run whose backbone is an embedding table) export as
    --format word2vec, word2vec-binary or safetensors (wordvec/export.py)."""
    if fmt in WORD_VECTOR_FORMATS:
        from warmstart.wordvec.export import export_run

        return export_run(run_dir, fmt, out)
    if fmt != "hf":
        raise ConfigError(f"--format {fmt}: expected one of hf, {', '.join(WORD_VECTOR_FORMATS)}")
    run_dir = Path(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb == "finetune":  # a strategy's extra state (LoRA adapters) is folded into the base weights
        module, strategy = load_finetuned(cfg, ckpt)
        backbone = strategy.merge(module.backbone).requires_grad_(True)
    else:
        backbone = load_backbone(ckpt)
    if not hasattr(getattr(backbone, "model", None), "save_pretrained"):
        raise ConfigError(f"--format hf: the {backbone.kind} backbone has no Hugging Face format; "
                          f"its weights are {ckpt / 'backbone.safetensors'} (spec in backbone.json)")
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    backbone.model.save_pretrained(str(out), safe_serialization=True)
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.export(out)  # the tokenizer files, or transforms.json (normalization statistics)
    # The task/objective head stays in warmstart's own files next to the HF ones.
    shutil.copy(ckpt / "head.safetensors", out / "warmstart_head.safetensors")
    (out / "warmstart_head.json").write_text(json.dumps(read_json(ckpt / "head.json"), indent=2), encoding="utf-8")
    return out
