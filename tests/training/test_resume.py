"""Exact resume through real processes (gradual unfreezing with layer-wise LRs, AdamW, a plateau
schedule, dropout, grad accumulation): train 8 steps uninterrupted vs. SIGKILL mid-step after the
step-2 checkpoint, --resume, SIGKILL again while the step-6 checkpoint is being written, --resume
to the end. Final weights and optimizer state are bitwise identical (CPU), the training log
matches, and the last process draws only the batches it still needs. The same under DDP: a
2-process gloo run (torchrun) killed and resumed equals the uninterrupted 2-process run bitwise."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from warmstart.checkpoint.io import is_valid, latest_checkpoint

WORKER = Path(__file__).with_name("resume_worker.py")
STEPS, ACCUM = 8, 2


def _config(tmp_path, csv_path, name, strategy="{kind: gradual_unfreeze, every_steps: 3, decay: 0.5}", steps=STEPS):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""# warmstart finetune {name}.yaml
run: {{name: {name}, out_dir: {tmp_path}, seed: 3}}
data: {{kind: labeled_text, path: {csv_path}, max_len: 16}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 32, n_heads: 2, dropout: 0.2}}
task: {{kind: classification, dropout: 0.2}}
strategy: {strategy}
optim: {{kind: adamw, lr: 3.0e-3}}
schedule: {{kind: plateau, warmup_steps: 2, factor: 0.5, patience: 0}}
train: {{max_steps: {steps}, batch_size: 8, grad_accum: {ACCUM}, eval_every: 2, save_every: 2, keep_checkpoints: 4,
         log_every: 1, num_threads: 1, progress: false}}
""")
    return path


def _worker(cfg, count_file, *flags, nproc=1):
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)] if nproc > 1 else []
    launched = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {**{k: v for k, v in os.environ.items() if k not in launched}, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *launcher, str(WORKER), str(cfg), str(count_file), *flags],
                          capture_output=True, text=True, timeout=300, env=env)


def _final(run_dir, steps=STEPS):
    ckpt = run_dir / "checkpoints" / f"step_{steps:06d}"
    return {f"{stem}.{k}": v for stem in ("backbone", "head", "optimizer")
            for k, v in load_file(str(ckpt / f"{stem}.safetensors")).items()}


def _train_log(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in ln.items() if k != "elapsed_s"} for ln in lines if ln["split"] in ("train", "val")]


def test_kill_and_resume_is_bitwise_identical(tmp_path, tiny_text_csv):
    ok = _worker(_config(tmp_path, tiny_text_csv, "straight"), tmp_path / "n0")
    assert ok.returncode == 0, ok.stderr[-2000:]

    cfg, run = _config(tmp_path, tiny_text_csv, "killed"), tmp_path / "killed"
    first = _worker(cfg, tmp_path / "n1", "--kill-after-checkpoint", "2")
    assert first.returncode == -signal.SIGKILL
    assert latest_checkpoint(run).name == "step_000002"

    second = _worker(cfg, tmp_path / "n2", "--resume", "--kill-writing", "6")
    assert second.returncode == -signal.SIGKILL
    # The kill left a half-written step_000006.tmp; the reader ignores it and step 4 stays loadable.
    partial = run / "checkpoints" / "step_000006.tmp"
    assert partial.is_dir() and not is_valid(partial)
    assert latest_checkpoint(run).name == "step_000004"
    assert is_valid(run / "checkpoints" / "step_000004", verify_hashes=True)

    third = _worker(cfg, tmp_path / "n3", "--resume")
    assert third.returncode == 0, third.stderr[-2000:]
    assert "resuming" in third.stdout and "from step 4" in third.stdout
    # Without re-reading skipped data: the last process drew only the batches of steps 5..8.
    assert int((tmp_path / "n3").read_text()) == (STEPS - 4) * ACCUM
    assert int((tmp_path / "n0").read_text()) == STEPS * ACCUM

    straight, resumed = _final(tmp_path / "straight"), _final(run)
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert _train_log(tmp_path / "straight") == _train_log(run)
    # The plateau schedule did act (so its state really had to survive the kills).
    lrs = [ln["lr"] for ln in _train_log(run) if ln["split"] == "train"]
    assert min(lrs[2:]) < max(lrs)


# Under DDP: padded classification slices of different lengths per rank and dropout, so each rank draws
# a different amount of randomness and must resume from its own RNG state (rank 0's would not do).
DDP_STEPS = 6


def _ddp_kill_and_resume(tmp_path, csv_path, kills):
    """The uninterrupted 2-process run and one killed (rank 0, after each checkpoint in `kills`) and resumed."""
    strategy = "{kind: discriminative, decay: 0.5}"
    straight = _worker(_config(tmp_path, csv_path, "straight", strategy, DDP_STEPS), tmp_path / "n0", nproc=2)
    assert straight.returncode == 0, straight.stderr[-3000:]
    cfg, run = _config(tmp_path, csv_path, "killed", strategy, DDP_STEPS), tmp_path / "killed"
    for i, step in enumerate(kills):
        resume = ["--resume"] if i else []
        out = _worker(cfg, tmp_path / f"k{i}", *resume, "--kill-after-checkpoint", str(step), "--kill-rank", "0",
                      nproc=2)
        assert out.returncode != 0 and latest_checkpoint(run).name == f"step_{step:06d}", out.stderr[-3000:]
    last = _worker(cfg, tmp_path / "last", "--resume", nproc=2)
    assert last.returncode == 0, last.stderr[-3000:]
    assert f"from step {kills[-1]}" in last.stdout
    # Both ranks drew only the batches of the steps still to do.
    for r in (0, 1):
        assert int((tmp_path / f"last.{r}").read_text()) == (DDP_STEPS - kills[-1]) * ACCUM
    a, b = _final(tmp_path / "straight", DDP_STEPS), _final(run, DDP_STEPS)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert _train_log(tmp_path / "straight") == _train_log(run)
    state = json.loads((run / "checkpoints" / f"step_{DDP_STEPS:06d}" / "state.json").read_text())
    assert len(state["rank_rng"]) == 2 and state["rank_rng"][0] != state["rank_rng"][1]  # the ranks' draws differ


def test_ddp_kill_and_resume_is_bitwise_identical(tmp_path, tiny_text_csv):
    _ddp_kill_and_resume(tmp_path, tiny_text_csv, kills=[2])


@pytest.mark.slow
def test_ddp_killed_twice_and_resumed_is_bitwise_identical(tmp_path, tiny_text_csv):
    _ddp_kill_and_resume(tmp_path, tiny_text_csv, kills=[2, 4])
