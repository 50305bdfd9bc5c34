"""Variant runs: a new run directory derived from a finished fine-tune (quantized, pruned) that
evaluate and predict load like any run. What quantize and prune share: the source check, the source's
module, and the new directory with the source's config, lineage and tokenizer or transforms.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs
from warmstart.runs import load_run_config
from warmstart.workflows.finetune import load_finetuned

QUANT_META = "quantize.json"


def is_quantized(run_dir: Path) -> bool:
    return (Path(run_dir) / QUANT_META).is_file()


def finetune_source(run_dir: Path, verb_name: str):
    """The config of a fine-tuning run with its own weights (not a quantized one), else a one-line ConfigError."""
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune" or is_quantized(run_dir):
        what = "an already quantized run" if verb == "finetune" else f"a {verb} run"
        raise ConfigError(f"{run_dir}: {verb_name} takes a fine-tuning run (this one is {what})")
    return cfg


def source_module(run_dir: Path) -> nn.Module:
    """The fine-tuned module of a (source) run, a strategy's extra state (LoRA) merged in, in eval mode."""
    _, cfg = load_run_config(run_dir)
    module, strategy = load_finetuned(cfg, resolve_checkpoint(run_dir))
    strategy.merge(module.backbone)
    return module.eval()


def variant_dir(run_dir: Path, out: str | Path | None, suffix: str) -> Path:
    """Where a variant goes: `out`, or RUN-<suffix> next to the run; it must not exist yet."""
    out = Path(out) if out else run_dir.parent / f"{run_dir.name}-{suffix}"
    if out.exists():
        raise ConfigError(f"{out}: already exists (remove it or pass --out)")
    return out


def start_variant(run_dir: Path, out: Path, lineage_key: str, changes: dict | None = None) -> None:
    """Create `out` with the source's config.json (its sections updated by `changes`, e.g. the strategy a
    pruned model now loads with) plus lineage {lineage_key: source}, and the source's tokenizer or transforms."""
    _, cfg = load_run_config(run_dir)
    out.mkdir(parents=True)
    raw = {**read_json(run_dir / "config.json"), **(changes or {})}
    raw["lineage"] = {**raw.get("lineage", {}), lineage_key: str(run_dir.resolve())}
    write_json_atomic(out / "config.json", raw)
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.save(out)


def source_test(run_dir: Path) -> dict | None:
    """The source run's test metrics (result.json), None when it has none."""
    path = run_dir / "result.json"
    return read_json(path)["test"] if path.is_file() else None
