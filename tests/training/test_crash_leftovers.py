"""What a crash can leave behind, and how a resume treats it (found by tests/e2e/test_kill_anywhere.py):
a metrics.jsonl line torn mid-write, and a re-saved checkpoint (`best`) caught between its two renames."""

import json
import os
import shutil

import pytest

from warmstart.checkpoint.io import finish_swaps, is_valid, resumable_checkpoint, save_checkpoint
from warmstart.training.loop import MetricsLog


def test_resume_drops_a_torn_metrics_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 1, "split": "train", "loss": 1.0}, {"step": 2, "split": "train", "loss": 0.5}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 3, "split": "tr')
    MetricsLog(path, resume_step=2)
    assert [json.loads(ln) for ln in path.read_text().splitlines()] == lines
    MetricsLog(path, resume_step=1)
    assert [json.loads(ln) for ln in path.read_text().splitlines()] == lines[:1]


def test_resume_drops_the_test_line_written_after_training(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 4, "split": "val", "acc": 0.5}, {"step": 4, "split": "test", "acc": 0.4}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    MetricsLog(path, resume_step=4)  # killed after the test line (e.g. in the forgetting check): it is rewritten
    assert [json.loads(ln) for ln in path.read_text().splitlines()] == lines[:1]


@pytest.fixture
def root(tmp_path):
    import torch

    root = tmp_path / "checkpoints"
    for value in (1.0, 2.0):  # `best` written twice: the second save swaps through best.old
        save_checkpoint(root, "best", {"backbone": {"w": torch.full((2,), value)}}, {"head": {"v": value}},
                        point_latest=False)
    save_checkpoint(root, "step_000002", {"backbone": {"w": torch.zeros(2)}}, {})
    return root


def test_a_kill_between_the_renames_of_a_resave_is_undone_on_resume(root):
    os.replace(root / "best", root / "best.old")  # killed after `best` moved aside, before the new one moved in
    assert resumable_checkpoint(root.parent).name == "step_000002"
    assert is_valid(root / "best", verify_hashes=True) and not (root / "best.old").exists()
    assert json.loads((root / "best" / "head.json").read_text()) == {"v": 2.0}


def test_resume_repoints_a_stale_latest(root):
    import torch

    save_checkpoint(root, "step_000004", {"backbone": {"w": torch.ones(2)}}, {}, point_latest=False)  # killed
    assert (root / "latest").read_text() == "step_000002"
    assert resumable_checkpoint(root.parent).name == "step_000004"
    assert (root / "latest").read_text() == "step_000004"


def test_a_leftover_old_copy_is_deleted(root):
    shutil.copytree(root / "best", root / "best.old")  # killed before the old copy was deleted
    finish_swaps(root)
    assert not (root / "best.old").exists() and is_valid(root / "best", verify_hashes=True)


@pytest.mark.parametrize("after_files", [0, 1])
def test_ctrl_c_mid_checkpoint_write_leaves_no_partial_directory(root, monkeypatch, after_files):
    """KeyboardInterrupt (Ctrl-C) while a checkpoint's files are written, before the first or after
    the first tensor file: the partial step_*.tmp is removed, the older checkpoints still verify, and
    `latest` still names the last complete one (the clean-clone CI run once found a step_*.tmp left)."""
    import torch

    import warmstart.checkpoint.io as ckpt_io

    real, written = ckpt_io.save_file, []

    def interrupted(tensors, path, *a, **kw):
        if len(written) == after_files:
            raise KeyboardInterrupt
        written.append(path)
        return real(tensors, path, *a, **kw)

    monkeypatch.setattr(ckpt_io, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(root, "step_000004", {"backbone": {"w": torch.ones(2)}, "head": {"v": torch.ones(1)}}, {})
    assert sorted(p.name for p in root.iterdir()) == ["best", "latest", "step_000002"]
    assert (root / "latest").read_text() == "step_000002"
    assert all(is_valid(root / name, verify_hashes=True) for name in ("best", "step_000002"))
    assert resumable_checkpoint(root.parent).name == "step_000002"
