import json
import os

import pytest
import torch

from warmstart.checkpoint.io import (
    flatten_optimizer,
    is_valid,
    latest_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    unflatten_optimizer,
)
from warmstart.errors import CheckpointError


def _save(root, step, value):
    return save_checkpoint(root, f"step_{step:06d}", {"w": {"x": torch.full((3,), float(value))}},
                           {"state": {"step": step}}, keep=2)


def test_atomic_save_latest_and_pruning(tmp_path):
    root = tmp_path / "run" / "checkpoints"
    for s in (1, 2, 3):
        _save(root, s, s)
    assert (root / "latest").read_text() == "step_000003"
    assert sorted(p.name for p in root.glob("step_*")) == ["step_000002", "step_000003"]
    assert latest_checkpoint(tmp_path / "run").name == "step_000003"
    assert is_valid(root / "step_000003", verify_hashes=True)


def test_interrupted_write_leaves_previous_checkpoint_loadable(tmp_path):
    root = tmp_path / "run" / "checkpoints"
    _save(root, 1, 1)
    # Simulate a kill mid-write: a .tmp dir without a manifest, and a stale pointer to it.
    partial = root / "step_000002.tmp"
    partial.mkdir()
    (partial / "w.safetensors").write_bytes(b"\x00" * 10)
    (root / "latest").write_text("step_000002")
    assert latest_checkpoint(tmp_path / "run").name == "step_000001"
    # A truncated file inside a "complete" checkpoint is caught by the manifest sizes.
    good = _save(root, 3, 3)
    with open(good / "w.safetensors", "r+b") as f:
        f.truncate(5)
    assert latest_checkpoint(tmp_path / "run").name == "step_000001"
    with pytest.raises(CheckpointError, match="incomplete or corrupted"):
        resolve_checkpoint(good)


def test_resolve_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such run"):
        resolve_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve_checkpoint(tmp_path / "empty")


def test_optimizer_flatten_roundtrip():
    p = torch.nn.Parameter(torch.randn(4, 3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.grad = torch.randn(4, 3)
    opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict())
    json.dumps(meta)  # the non-tensor part is JSON-able
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    opt2.load_state_dict(unflatten_optimizer(tensors, meta))
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(opt.state[p][k], opt2.state[opt2.param_groups[0]["params"][0]][k])


def test_no_pickle_files_written(tmp_path):
    _save(tmp_path / "c", 1, 1)
    for _, _, files in os.walk(tmp_path):
        assert all(f.endswith((".safetensors", ".json")) or f == "latest" for f in files)
