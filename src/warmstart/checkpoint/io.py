"""Atomic checkpoints: safetensors for tensors, JSON for everything else, manifest written last.

A checkpoint is a directory `checkpoints/step_000300/` that is first written as `step_000300.tmp/`,
fsynced, completed by `manifest.json` (file sizes + sha256), then renamed into place; the
`checkpoints/latest` pointer is swapped with os.replace. Readers trust only directories whose
manifest matches, so a crash or kill at any moment leaves the previous checkpoint loadable.
Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from warmstart.errors import CheckpointError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


# ------------------------------------------------------------------------------ small atomic files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to `path` via a temp file + fsync + os.replace: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, or Ctrl-C: the old file stays, and no half-written temp is left
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- checkpoint dirs


def prepare_tmp(ckpt_root: str | Path, name: str) -> Path:
    """An empty `ckpt_root/name.tmp/` to write checkpoint `name` into (a leftover of a killed write is removed)."""
    tmp = Path(ckpt_root) / f"{name}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _write_checkpoint_files(tmp: Path, tensors: dict[str, dict[str, torch.Tensor]], jsons: dict[str, Any]) -> None:
    """Every file of a checkpoint into `tmp` (next to any files already there, e.g. FSDP shards, which
    are listed too), fsynced, then the manifest (sizes and sha256) last."""
    files = {str(p.relative_to(tmp)): None for p in sorted(tmp.rglob("*")) if p.is_file()}
    for stem, sd in tensors.items():
        fname = f"{stem}.safetensors"
        # A CPU copy of each tensor: checkpoints are device-free (a GPU run's checkpoint loads on a
        # CPU-only machine), and a copy never shares storage (safetensors refuses aliased tensors).
        save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in sd.items()}, str(tmp / fname))
        files[fname] = None
    for stem, obj in jsons.items():
        fname = f"{stem}.json"
        (tmp / fname).write_text(json.dumps(obj, indent=2), encoding="utf-8")
        files[fname] = None
    for fname in files:
        with open(tmp / fname, "rb") as f:
            os.fsync(f.fileno())
        files[fname] = {"bytes": (tmp / fname).stat().st_size, "sha256": _sha256(tmp / fname)}
    # The manifest is written last: its presence (and matching hashes) is what makes a checkpoint valid.
    write_json_atomic(tmp / MANIFEST, {"format_version": FORMAT_VERSION, "files": files})
    _fsync_dir(tmp)


def save_checkpoint(ckpt_root: str | Path, name: str, tensors: dict[str, dict[str, torch.Tensor]],
                    jsons: dict[str, Any], keep: int | None = None, point_latest: bool = True,
                    prepared: bool = False) -> Path:
    """Write `ckpt_root/name/` atomically.

    Args:
        tensors: file stem -> state dict, each written as `<stem>.safetensors`.
        jsons: file stem -> JSON-able object, each written as `<stem>.json`.
        keep: keep only the newest `keep` step_* directories (None = keep all).
        point_latest: swap `ckpt_root/latest` to this checkpoint once it is complete.
        prepared: `name.tmp/` was made by prepare_tmp and already holds files written by others (the
            ranks' shards of an FSDP checkpoint); they are kept and listed in the manifest too.
    """
    root = Path(ckpt_root)
    final, tmp = root / name, root / f"{name}.tmp"
    try:
        if not prepared:
            prepare_tmp(root, name)
        _write_checkpoint_files(tmp, tensors, jsons)
    except BaseException:  # a full disk, or Ctrl-C mid-write: drop the partial directory (readers would skip
        shutil.rmtree(tmp, ignore_errors=True)  # it anyway) to free its space and leave no leftover
        raise
    if final.exists():  # re-saving the same step (e.g. 'best'): move the old one aside first
        old = root / f"{name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    _fsync_dir(root)
    if point_latest:
        tmp_ptr = root / "latest.tmp"
        tmp_ptr.write_text(name, encoding="utf-8")
        os.replace(tmp_ptr, root / "latest")
    if keep is not None:
        steps = sorted(p for p in root.glob("step_*") if p.is_dir() and not p.name.endswith((".tmp", ".old")))
        for p in steps[:-keep]:
            if p != final:
                shutil.rmtree(p, ignore_errors=True)
    return final


def finish_swaps(ckpt_root: Path) -> None:
    """Undo what a kill in the middle of re-saving a checkpoint (e.g. `best`) left: `X.old` without
    `X` (killed between the two renames) becomes `X` again; `X.old` next to `X` (killed before the
    old copy was deleted) is deleted."""
    for old in Path(ckpt_root).glob("*.old"):
        final = old.with_name(old.name[: -len(".old")])
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        elif is_valid(old, verify_hashes=True):
            os.replace(old, final)


def is_valid(ckpt: Path, verify_hashes: bool = False) -> bool:
    """A checkpoint is valid when its manifest exists and every listed file has the recorded size
    (and hash, when verify_hashes)."""
    return checkpoint_problem(ckpt, verify_hashes) is None


def checkpoint_problem(ckpt: Path, verify_hashes: bool = True) -> str | None:
    """Why `ckpt` fails verification against its manifest (missing or unreadable manifest, a listed
    file missing or of another size, or - with verify_hashes - another sha256), or None when it verifies."""
    man = ckpt / MANIFEST
    if not man.is_file():
        return f"no {MANIFEST} (an interrupted write)"
    try:
        files = json.loads(man.read_text(encoding="utf-8"))["files"]
        listed = [(str(fname), int(meta["bytes"]), str(meta["sha256"])) for fname, meta in files.items()]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return f"{MANIFEST} is unreadable"
    for fname, size, digest in listed:
        p = ckpt / fname
        if not p.is_file():
            return f"{fname} is missing"
        if p.stat().st_size != size:
            return f"{fname} is {p.stat().st_size} bytes, its manifest says {size}"
        if verify_hashes and _sha256(p) != digest:
            return f"{fname} does not match its manifest's sha256 (corrupted)"
    return None


def resumable_checkpoint(run_dir: str | Path, say=print) -> Path | None:
    """The newest step checkpoint of a run that verifies completely (sizes and sha256 of every file),
    for --resume. Each newer one that fails is reported through `say`, with the reason. None when the
    run has no step checkpoints; a CheckpointError when it has some but none verifies."""
    root = Path(run_dir) / "checkpoints"
    finish_swaps(root)
    steps = sorted((p for p in root.glob("step_*") if p.is_dir() and not p.name.endswith((".tmp", ".old"))),
                   reverse=True)
    failed = []
    for cand in steps:
        problem = checkpoint_problem(cand)
        if problem is None:
            ptr = root / "latest"
            if not ptr.is_file() or ptr.read_text(encoding="utf-8").strip() != cand.name:
                # killed between the checkpoint's rename and the pointer's: point at the newest again
                ptr.with_name("latest.tmp").write_text(cand.name, encoding="utf-8")
                os.replace(ptr.with_name("latest.tmp"), ptr)
            return cand
        failed.append(f"{cand.name}: {problem}")
        say(f"warning: checkpoint {cand} fails verification: {problem}; trying an older one")
    if failed:
        raise CheckpointError(f"{run_dir}: no checkpoint to resume from verifies ({'; '.join(failed)}); "
                              "pass --overwrite to start over")
    return None


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest valid step checkpoint of a run (the `latest` pointer, else a scan), or None."""
    root = Path(run_dir) / "checkpoints"
    ptr = root / "latest"
    if ptr.is_file():
        cand = root / ptr.read_text(encoding="utf-8").strip()
        if is_valid(cand):
            return cand
    for cand in sorted(root.glob("step_*"), reverse=True):
        if cand.is_dir() and not cand.name.endswith((".tmp", ".old")) and is_valid(cand):
            return cand
    return None


def resolve_checkpoint(path: str | Path, prefer_best: bool = True) -> Path:
    """A run dir or a checkpoint dir -> the checkpoint dir to read (best, else latest)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run or checkpoint directory")
    if (path / MANIFEST).is_file():
        if not is_valid(path):
            raise CheckpointError(f"{path}: checkpoint is incomplete or corrupted (manifest does not match files)")
        return path
    best = path / "checkpoints" / "best"
    if prefer_best and is_valid(best):
        return best
    found = latest_checkpoint(path)
    if found is None:
        raise CheckpointError(f"{path}: no complete checkpoint found (expected checkpoints/step_*/manifest.json)")
    return found


def load_tensors(ckpt: Path, stem: str) -> dict[str, torch.Tensor]:
    p = Path(ckpt) / f"{stem}.safetensors"
    if not p.is_file():
        raise CheckpointError(f"{p}: missing from checkpoint")
    return load_file(str(p))


# --------------------------------------------------------------------- optimizer (de)flattening


def flatten_optimizer(sd: dict, prefix: str = "state.", sep: str = ".") -> tuple[dict[str, torch.Tensor], dict]:
    """optimizer.state_dict() -> (tensors for safetensors, JSON-able remainder). Tensor keys are
    `{prefix}{param id}{sep}{name}` (param ids are indices, or names in a DCP optimizer state dict)."""
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{prefix}{pid}{sep}{k}"] = v
            else:
                scalars[f"{pid}{sep}{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict, prefix: str = "state.", sep: str = ".") -> dict:
    """The inverse of flatten_optimizer (tensors whose keys lack `prefix` are ignored)."""
    state: dict[int | str, dict] = {}
    items = [(key[len(prefix):], v) for key, v in tensors.items() if key.startswith(prefix)]
    for key, v in [*items, *meta.get("scalars", {}).items()]:
        pid, k = key.rsplit(sep, 1)
        state.setdefault(int(pid) if pid.isdigit() else pid, {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}
