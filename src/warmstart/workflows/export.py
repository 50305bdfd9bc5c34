"""export: a run as a Hugging Face-format directory, or its word vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from warmstart.checkpoint.io import read_json, resolve_checkpoint
from warmstart.data.word_vectors import VECTORS_FILE, load_vectors, save_vectors, save_word2vec_format
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs
from warmstart.models import load_backbone
from warmstart.runs import load_run_config
from warmstart.tokenizers import load_tokenizer, special_ids
from warmstart.tokenizers.words import token_to_word
from warmstart.workflows.finetune import load_finetuned

WORD_VECTOR_FORMATS = ("word2vec", "word2vec-binary", "safetensors")


def export(run_dir: str | Path, fmt: str = "hf", out: str | Path | None = None) -> Path:
    """Write an HF-format directory (config.json, model.safetensors, tokenizer or transforms.json)
    that transformers.AutoModel loads offline; the warmstart head rides along. Backbones that
    wrap a transformers model (transformer, hf, vit) only: a resnet or mlp has no HF format.
    Word vectors (a word-vector run, or any run whose backbone is an embedding table) export as
    --format word2vec, word2vec-binary or safetensors (export_word_vectors)."""
    if fmt in WORD_VECTOR_FORMATS:
        return export_word_vectors(run_dir, fmt, out)
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


# ---------------------------------------------------------------------------------- word vectors


def run_vectors(run_dir: str | Path) -> tuple[np.ndarray, list[str]]:
    """The word vectors of a run: a word-vector run's vectors.safetensors, or the embedding table of
    any run whose backbone is kind=embedding (e.g. a fine-tune that trained its table), one row per
    tokenizer token that stands for a word (special tokens and word-piece continuations left out)."""
    run_dir = Path(run_dir)
    if (run_dir / VECTORS_FILE).is_file():
        return load_vectors(run_dir)
    backbone = load_backbone(resolve_checkpoint(run_dir))
    if backbone.kind != "embedding":
        raise ConfigError(f"{run_dir}: a {backbone.kind} backbone has no word vectors (word2vec/safetensors export "
                          f"needs a word-vector run or a kind=embedding backbone)")
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    table = backbone.embed.weight.detach().numpy()
    skip = {i for i in special_ids(tokenizer).values() if i is not None}
    rows, words, seen = [], [], set()
    for tid, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        word = token_to_word(token)
        if tid in skip or word is None or word in seen or any(ch.isspace() for ch in word):
            continue
        seen.add(word)
        rows.append(tid), words.append(word)
    return table[rows], words


def export_word_vectors(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write a run's word vectors as word2vec text (default RUN/export/vectors.txt), word2vec binary
    (RUN/export/vectors.bin) or safetensors + vocab.txt (into the folder RUN/export); returns the path."""
    vectors, words = run_vectors(run_dir)
    if fmt == "safetensors":
        out = Path(out) if out else Path(run_dir) / "export"
        save_vectors(out, vectors, words)
        return out
    out = (Path(out) if out
           else Path(run_dir) / "export" / ("vectors.bin" if fmt == "word2vec-binary" else "vectors.txt"))
    save_word2vec_format(out, vectors, words, binary=fmt == "word2vec-binary")
    return out
