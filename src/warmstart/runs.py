"""Run directories: create or reopen one, write the resolved config, find where a run came from.

Layout: runs/<name>/{config.json, metrics.jsonl, result.json, tokenizer/, checkpoints/, export/}.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from warmstart.checkpoint.io import read_json, resumable_checkpoint, write_json_atomic
from warmstart.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneConfig, PretrainConfig


def version() -> str:
    from warmstart import __version__

    return __version__


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def open_run_dir(cfg: PretrainConfig | FinetuneConfig, resume: bool, overwrite: bool,
                 world=None, say=print) -> tuple[Path, Path | None]:
    """Create the run dir, or reopen it for --resume. Returns (run_dir, checkpoint to resume or None).

    An existing run with checkpoints is never silently clobbered: the user must say --resume or
    --overwrite. --resume continues from the newest checkpoint that verifies against its manifest
    (sha256 of every file); when the run has checkpoints but none verifies, it stops (CheckpointError)
    rather than silently starting again from step 0. Data-parallel ranks (`world`,
    training.distributed.World) all decide from the same files before rank 0 alone deletes or creates
    anything; they leave once the directory exists.
    """
    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    clear = overwrite and run_dir.exists()
    has_steps = run_dir.exists() and any((run_dir / "checkpoints").glob("step_*"))
    if not clear and run_dir.exists() and (has_steps or (run_dir / "metrics.jsonl").exists()) and not resume:
        raise ConfigError(f"{run_dir}: run directory already exists; pass --resume to continue it or --overwrite "
                          "to start over")
    ckpt = resumable_checkpoint(run_dir, say) if resume and not clear and run_dir.exists() else None
    if ckpt is not None:
        saved = read_json(run_dir / "config.json")
        now = cfg.model_dump(mode="json")
        changed = [k for k in now if k not in ("train",) and saved.get(k) != now[k]]
        if changed:
            raise ConfigError(f"{run_dir}: cannot resume with a different config "
                              f"(sections changed: {', '.join(changed)})")
    if world is not None:
        world.barrier()  # every rank has read the directory as it was
    if world is None or world.is_main:
        if clear:
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    if world is not None:
        world.barrier()
    return run_dir, ckpt


def write_config(run_dir: Path, cfg: PretrainConfig | FinetuneConfig, verb: str, lineage: dict | None = None) -> None:
    """config.json: the fully resolved config (defaults filled in) + version info + lineage.
    Resume, evaluate, predict and reports read this, never the user's file."""
    snapshot = {**cfg.model_dump(mode="json"), "verb": verb, "warmstart_version": version(),
                "git_sha": git_sha(), "torch_version": torch.__version__}
    if lineage:
        snapshot["lineage"] = lineage
    write_json_atomic(run_dir / "config.json", snapshot)


def run_dir_of(ckpt: Path) -> Path:
    """The run directory that owns checkpoint dir `ckpt` (runs/x/checkpoints/step_N -> runs/x)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt


def load_run_config(run_dir: Path):
    """The validated config of an existing run, from its config.json snapshot."""
    from warmstart.config import parse_config

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a warmstart run (no config.json)")
    raw = read_json(path)
    verb = raw.get("verb")
    if verb not in ("pretrain", "finetune"):
        raise CheckpointError(f"{path}: unknown verb {verb!r}")
    extra = ("verb", "warmstart_version", "git_sha", "torch_version", "lineage")
    body = {k: v for k, v in raw.items() if k not in extra}
    return verb, parse_config(body, verb, str(path))


def split_warning(init: str, data_cfg, stratify: bool) -> str | None:
    """A warning line when the pretraining run `init` (a run or checkpoint directory) read the training
    pool of the labeled set `data_cfg` fine-tunes on under another split (data.pools.split_mismatch);
    None otherwise, also when `init` is not a readable pretraining run."""
    from warmstart.checkpoint.io import resolve_checkpoint
    from warmstart.data.pools import split_mismatch

    try:
        verb, pre_cfg = load_run_config(run_dir_of(resolve_checkpoint(init, prefer_best=False)))
    except (CheckpointError, ConfigError):
        return None
    return split_mismatch(pre_cfg.data, data_cfg, stratify, init) if verb == "pretrain" else None


def set_threads(n: int | None) -> None:
    """Use the cores this process may run on (cgroup/affinity aware), unless told otherwise."""
    torch.set_num_threads(n or max(len(os.sched_getaffinity(0)), 1))
