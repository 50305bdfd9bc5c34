"""Faults a new user meets, through the real CLI entry point in-process (`warmstart.cli.main`):
a one-class classification file, --resume when checkpoints fail verification, a full disk, a
read-only run directory and Ctrl-C during a compare (issue 17). Storage errors are one clean line
and exit code 2; Ctrl-C exits 130 (the shell's 128 + SIGINT); nothing corrupt is left behind (every
checkpoint directory verifies, no half-written temp file), and `--resume` / re-running the compare
completes the run."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import warmstart.checkpoint.io as ckpt_io
from warmstart.checkpoint.io import is_valid
from warmstart.cli import main


def _config(tmp_path, csv_path, name="ft"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""# warmstart finetune {name}.yaml
run: {{name: {name}, out_dir: {tmp_path}/runs}}
data: {{kind: labeled_text, path: {csv_path}, max_len: 16}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 16, n_heads: 2}}
train: {{max_steps: 4, batch_size: 8, eval_every: 2, save_every: 2, keep_checkpoints: 4, num_threads: 1,
         progress: false}}
""")
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def test_one_class_file_is_an_error_naming_the_file_and_counts(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("text,label\n" + "".join(f"doc number {i},pos\n" for i in range(40)))
    assert main(["finetune", str(_config(tmp_path, data))]) == 2
    assert _error_line(capsys) == (f"error: {data}: a classification task needs at least 2 classes in the training "
                                   "pool, found 1 ('pos' x 28 of 28 examples)")
    assert not (tmp_path / "runs" / "ft" / "result.json").exists()


def _corrupt(path):
    """Flip one byte in the middle of `path`: same size, so only the sha256 check can tell."""
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_resume_skips_checkpoints_that_fail_verification(tmp_path, tiny_text_csv, capsys):
    cfg = _config(tmp_path, tiny_text_csv)
    run = tmp_path / "runs" / "ft"
    assert main(["finetune", str(cfg)]) == 0
    (run / "result.json").unlink()  # as if killed after the last checkpoint
    _corrupt(run / "checkpoints" / "step_000004" / "backbone.safetensors")
    capsys.readouterr()

    # The newest checkpoint fails its sha256: say which and why, resume from the newest that verifies.
    assert main(["finetune", str(cfg), "--resume"]) == 0
    out = capsys.readouterr().out
    assert (f"warning: checkpoint {run}/checkpoints/step_000004 fails verification: backbone.safetensors does not "
            "match its manifest's sha256 (corrupted); trying an older one") in out
    assert f"resuming {run} from step 2" in out
    assert json.loads((run / "result.json").read_text())["steps"] == 4

    # Every checkpoint fails: exit 2 naming each, nothing trained; --overwrite starts over.
    (run / "result.json").unlink()
    for step in ("step_000002", "step_000004"):
        _corrupt(run / "checkpoints" / step / "head.safetensors")
    assert main(["finetune", str(cfg), "--resume"]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"error: {run}: no checkpoint to resume from verifies (step_000004: head.safetensors "
                           "does not match its manifest's sha256 (corrupted); step_000002: ")
    assert line.endswith("pass --overwrite to start over")
    assert not (run / "result.json").exists()
    assert main(["finetune", str(cfg), "--resume", "--overwrite"]) == 0
    assert json.loads((run / "result.json").read_text())["steps"] == 4


@pytest.mark.parametrize("damage", ["truncate", "no_manifest"])
def test_resume_reports_truncated_and_unfinished_checkpoints(tmp_path, tiny_text_csv, capsys, damage):
    cfg = _config(tmp_path, tiny_text_csv)
    run = tmp_path / "runs" / "ft"
    assert main(["finetune", str(cfg), "--set", "train.max_steps=2"]) == 0
    ckpt = run / "checkpoints" / "step_000002"
    if damage == "truncate":
        with open(ckpt / "optimizer.safetensors", "r+b") as f:
            f.truncate(10)
        reason = "optimizer.safetensors is 10 bytes, its manifest says"
    else:
        (ckpt / "manifest.json").unlink()
        reason = "no manifest.json (an interrupted write)"
    (run / "result.json").unlink()
    capsys.readouterr()
    assert main(["finetune", str(cfg), "--set", "train.max_steps=2", "--resume"]) == 2
    assert reason in _error_line(capsys)


def _nothing_corrupt(run: Path) -> None:
    """Every checkpoint a reader could pick verifies; no temp file or directory is left."""
    ckpts = run / "checkpoints"
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert not leftovers, leftovers
    for d in ckpts.iterdir() if ckpts.exists() else []:
        if d.is_dir():
            assert is_valid(d, verify_hashes=True), d


@pytest.mark.parametrize("fail_at", [1, 3, 6])
def test_disk_full_is_one_line_and_resume_completes(tmp_path, tiny_text_csv, capsys, monkeypatch, fail_at):
    """ENOSPC from the fsync of the n-th file written (the atomic JSON writer and the checkpoint writer
    both fsync every file before it counts)."""
    cfg = _config(tmp_path, tiny_text_csv)
    run = tmp_path / "runs" / "ft"
    calls, fsync = [0], os.fsync

    def full_disk(fd):
        calls[0] += 1
        if calls[0] == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(ckpt_io.os, "fsync", full_disk)
    assert main(["finetune", str(cfg)]) == 2
    line = _error_line(capsys)
    assert line.startswith("error: cannot write") and "No space left on device (ENOSPC)" in line
    assert line.endswith("re-run with --resume")
    assert not (run / "result.json").exists()
    _nothing_corrupt(run)

    monkeypatch.setattr(ckpt_io.os, "fsync", fsync)
    assert main(["finetune", str(cfg), "--resume"]) == 0
    assert json.loads((run / "result.json").read_text())["steps"] == 4
    _nothing_corrupt(run)


def test_read_only_run_dir_is_one_line(tmp_path, tiny_text_csv, capsys, monkeypatch):
    cfg = _config(tmp_path, tiny_text_csv)
    runs = tmp_path / "runs"
    runs.mkdir()
    if os.geteuid() != 0:
        runs.chmod(0o555)
    else:  # root writes through any mode bits: refuse writes under runs/ the way a read-only mount does
        mkdir = Path.mkdir

        def read_only(self, *a, **kw):
            if runs in self.parents:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return mkdir(self, *a, **kw)

        monkeypatch.setattr(Path, "mkdir", read_only)
    try:
        assert main(["finetune", str(cfg)]) == 2
    finally:
        runs.chmod(0o755)
    line = _error_line(capsys)
    assert line.startswith(f"error: cannot write {runs / 'ft'}: ") and "(EROFS)" in line or "(EACCES)" in line
    assert not (runs / "ft").exists()


def test_ctrl_c_during_compare_exits_130_and_a_rerun_completes(tmp_path, tiny_text_csv):
    # A finished 2-step fine-tune stands in for the pretrained source (any warmstart run is one).
    assert main(["finetune", str(_config(tmp_path, tiny_text_csv, "src")), "--set", "train.max_steps=2"]) == 0
    (tmp_path / "cmp.yaml").write_text(f"""run: {{name: cmp, out_dir: {tmp_path}}}
pretrained: {tmp_path}/runs/src
strategies: [{{kind: full}}, {{kind: linear_probe}}]
label_budgets: [40]
seeds: [0]
data: {{kind: labeled_text, path: {tiny_text_csv}, max_len: 16}}
train: {{max_steps: 30, batch_size: 8, eval_every: 2, save_every: 2, num_threads: 1, progress: false}}
""")
    cmd = [sys.executable, "-m", "warmstart", "compare", str(tmp_path / "cmp.yaml")]
    env = {**os.environ, "PYTHONPATH": str(Path(ckpt_io.__file__).parents[2])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    cells = tmp_path / "cmp" / "cells"
    deadline = time.monotonic() + 300
    while not list(cells.glob("*/result.json")):  # the first cell is done: the second one is running
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: ")
    assert not (tmp_path / "cmp" / "compare.json").exists()  # nothing claims the grid is complete
    done = sorted(p.parent.name for p in cells.glob("*/result.json"))
    for run in cells.iterdir():
        _nothing_corrupt(run)

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(done)} cells already complete" in rerun.stdout
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(summary["cells"]) == 4 and all(c["status"] == "done" for c in summary["cells"])


def _compare_outcome(cmp: Path) -> dict:
    """A compare's results without wall-clock fields: compare.json's cells, and every cell's result.json
    and metrics.jsonl (the compare's own directory, e.g. in a feature cache's path, written as <cmp>)."""
    timing = {"train_seconds", "seconds_to_best", "elapsed_s", "tokens_per_s"}

    def read(path: Path):
        text = path.read_text().replace(str(cmp), "<cmp>")
        return [json.loads(ln) for ln in text.splitlines()] if path.suffix == ".jsonl" else json.loads(text)

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in timing}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj

    cells = read(cmp / "compare.json")["cells"]
    return {"cells": strip(cells), **{f"{c['run_dir']}/{name}": strip(read(cmp / c["run_dir"] / name))
                                      for c in cells for name in ("result.json", "metrics.jsonl")}}


@pytest.mark.slow
def test_ctrl_c_during_parallel_compare_exits_130_and_a_rerun_matches_an_uninterrupted_run(tmp_path, tiny_text_csv):
    """Ctrl-C in a terminal signals the whole foreground process group: the compare and its `--jobs 2`
    pool workers, each mid-cell. One line, exit 130, no corrupt cell or checkpoint; re-running the
    same command resumes the cells and ends with exactly the results of a compare never interrupted."""
    assert main(["finetune", str(_config(tmp_path, tiny_text_csv, "src")), "--set", "train.max_steps=2"]) == 0
    recipe = f"""pretrained: {tmp_path}/runs/src
strategies: [{{kind: full}}, {{kind: linear_probe}}]
label_budgets: [40]
seeds: [0]
data: {{kind: labeled_text, path: {tiny_text_csv}, max_len: 16}}
train: {{max_steps: 40, batch_size: 8, eval_every: 4, save_every: 4, num_threads: 1, progress: false}}
"""
    env = {**os.environ, "PYTHONPATH": str(Path(ckpt_io.__file__).parents[2])}

    def command(name):
        (tmp_path / f"{name}.yaml").write_text(f"run: {{name: {name}, out_dir: {tmp_path}}}\n" + recipe)
        return [sys.executable, "-m", "warmstart", "compare", str(tmp_path / f"{name}.yaml"), "--jobs", "2"]

    ref = subprocess.run(command("ref"), capture_output=True, text=True, env=env, timeout=900)
    assert ref.returncode == 0, ref.stderr[-2000:]

    cmd = command("cmp")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)   # its own process group, as a terminal's foreground job
    cells = tmp_path / "cmp" / "cells"
    deadline = time.monotonic() + 600
    # Both workers are mid-cell: two cells have a checkpoint and neither has finished.
    while len({p.parents[1].name for p in cells.glob("*/checkpoints/step_*")}) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted: "), err[-3000:]
    assert not (tmp_path / "cmp" / "compare.json").exists()
    for run in cells.iterdir():
        _nothing_corrupt(run)
    interrupted = sum(1 for run in cells.iterdir() if not (run / "result.json").exists())
    assert interrupted >= 1

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    want, got = _compare_outcome(tmp_path / "ref"), _compare_outcome(tmp_path / "cmp")
    assert got.keys() == want.keys() and [k for k in want if got[k] != want[k]] == []
