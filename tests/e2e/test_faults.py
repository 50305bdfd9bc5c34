"""Faults a new user meets, through the real CLI entry point in-process (`warmstart.cli.main`):
a one-class classification file, and --resume when checkpoints fail verification (issue 17)."""

import json

import pytest

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
