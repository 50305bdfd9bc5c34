"""Checks every task's run shares."""

import shutil

import pytest
import torch
from safetensors.torch import load_file


def check_round_trip_and_exact_resume(make_config, tmp_path) -> None:
    """A 6-step fine-tune (make_config(tmp_path, name): save_every 3, select_best false):
    re-evaluating the saved run gives the test metrics it reported, and resuming from its step-3
    checkpoint ends with bitwise the same weights, head and optimizer state."""
    from warmstart.workflows import evaluate, finetune

    quiet = lambda *_: None  # noqa: E731
    result = finetune(make_config(tmp_path, "straight"), say=quiet)
    straight = tmp_path / "runs" / "straight"
    assert evaluate(straight, "test") == pytest.approx(result["test"])
    final = straight / "checkpoints" / "step_000006"
    before = {stem: load_file(str(final / f"{stem}.safetensors")) for stem in ("backbone", "head", "optimizer")}
    shutil.rmtree(final)
    (straight / "checkpoints" / "latest").write_text("step_000003")
    (straight / "result.json").unlink()
    finetune(make_config(tmp_path, "straight"), resume=True, say=quiet)
    for stem, a in before.items():
        b = load_file(str(final / f"{stem}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stem
