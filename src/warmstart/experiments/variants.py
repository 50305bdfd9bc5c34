"""Variant cells of a compare: a quantized or pruned copy of another arm's finished cell (same label
budget and seed), made by workflows.quantize / workflows.prune and scored on the same test split.

A variant cell is an ordinary variant run directory (evaluate and predict load it) whose result.json
also carries what a fine-tune cell's does (n_labels, parameters, the seconds it took), so compare.json,
the tables and the data-efficiency curves take it like any cell. It trains nothing in the compare's
sense: its metrics.jsonl holds only its test line (a pruned cell's recovery log is kept as
variant_metrics.jsonl), so it draws no convergence curve.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from warmstart.checkpoint.io import read_json, write_json_atomic
from warmstart.errors import ConfigError

RECOVERY_LOG = "variant_metrics.jsonl"


@dataclass(frozen=True)
class VariantCell:
    """One variant cell: `kind` quantize | prune of the finished cell in `of_dir`, written to `run_dir`
    with the source section's settings in `options`."""

    kind: str
    of_arm: str
    of_dir: str
    run_dir: str
    options: dict = field(default_factory=dict)


def variant_cell(src, of_arm: str, of_dir: Path, run_dir: Path) -> VariantCell:
    """The cell for a QuantizeSource or PruneSource section."""
    options = src.model_dump(mode="json", exclude={"of"})
    return VariantCell(src.kind, of_arm, str(of_dir), str(run_dir), options)


def run_variant(cell: VariantCell) -> dict:
    """Make and score one variant cell (or return its result.json when it already finished)."""
    from warmstart.workflows.prune import prune
    from warmstart.workflows.quantize import quantize

    run_dir, of_dir = Path(cell.run_dir), Path(cell.of_dir)
    if (run_dir / "result.json").is_file():
        return read_json(run_dir / "result.json")
    if not (of_dir / "result.json").is_file():
        raise ConfigError(f"{of_dir}: the cell this variant derives from has not finished (no result.json)")
    parent = read_json(of_dir / "result.json")
    # Built beside its final place and renamed into it: a crash leaves no half-made cell that looks finished.
    tmp = run_dir.parent / f".{run_dir.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    if run_dir.exists():  # an interrupted cell from before: derived anew from its source
        shutil.rmtree(run_dir)
    opts = cell.options
    start = time.perf_counter()
    quiet = lambda *_: None  # noqa: E731
    if cell.kind == "quantize":
        made = quantize(of_dir, opts["quantize"], opts.get("backend"), out=tmp, say=quiet)
        meta = made["quantize"]
        params, trained, steps = parent.get("params_total"), 0, 0
    else:
        made = prune(of_dir, opts["prune"], opts["structured"], opts["recover_steps"], out=tmp,
                     recover_lr=opts.get("recover_lr"), say=quiet)
        meta = made["prune"]
        params, steps = meta["params_after"], opts["recover_steps"]
        trained = params if steps else 0
    seconds = round(time.perf_counter() - start, 3)
    if (tmp / "metrics.jsonl").is_file():  # a recovery's training log is not a fine-tuning curve of this arm
        os.replace(tmp / "metrics.jsonl", tmp / RECOVERY_LOG)
    with open(tmp / "metrics.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"step": steps, "split": "test", **made["test"], "elapsed_s": seconds}) + "\n")
    result = {
        **made, "n_labels": parent.get("n_labels"), "n_pool": parent.get("n_pool"), "best_val": None,
        "best_step": steps, "steps": steps, "train_seconds": seconds, "seconds_to_best": seconds,
        "params_trained": trained, "params_total": params, "items_seen": None,
        "variant": {"kind": cell.kind, "of": cell.of_arm, "of_run_dir": str(of_dir), **opts, **_facts(cell.kind, meta)},
    }
    write_json_atomic(tmp / "result.json", result)
    os.replace(tmp, run_dir)
    return result


def _facts(kind: str, meta: dict) -> dict:
    """What the report shows of a variant besides its metric: file size (quantized), sparsity (pruned)."""
    if kind == "quantize":
        return {"backend": meta["backend"], "file_mb": meta.get("file_mb", meta.get("state_mb")),
                "fp32_mb": meta.get("fp32_file_mb", meta.get("fp32_state_mb"))}
    return {"sparsity_achieved": meta["sparsity_achieved"]["pruned_layers"], "units_removed": meta["units_removed"],
            "params_before": meta["params_before"], "params_after": meta["params_after"], "kept": meta["kept"]}
