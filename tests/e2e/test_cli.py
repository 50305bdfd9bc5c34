"""Tiny pretrain -> finetune -> compare -> evaluate -> predict -> export through the real CLI."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def workspace(toy_text):
    root = toy_text
    train = "{max_steps: 12, batch_size: 16, eval_every: 6, log_every: 3, progress: false}"
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt, max_len: 16, val_frac: 0.1}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 32, n_heads: 2}}
objective: {{kind: masked_lm}}
schedule: {{kind: warmup_cosine, warmup_steps: 2}}
train: {train}
""")
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {{kind: labeled_text, path: {root}/labeled.csv, max_len: 16, label_budget: 40}}
init: {root}/runs/pre
task: {{kind: classification}}
train: {train}
""")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/pre
label_budgets: [10, 40]
seeds: [0, 1]
data: {{kind: labeled_text, path: {root}/labeled.csv, max_len: 16}}
train: {{max_steps: 6, batch_size: 16, eval_every: 3, progress: false}}
""")
    return root


def ws(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "warmstart", *map(str, args)], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"warmstart {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def test_lifecycle(workspace):
    root = workspace
    out = ws("pretrain", root / "pre.yaml")
    pre = root / "runs" / "pre"
    assert (pre / "checkpoints" / "latest").read_text() == "step_000012"
    assert (pre / "tokenizer" / "tokenizer.json").is_file()
    result = json.loads((pre / "result.json").read_text())
    assert result["val"]["ppl"] > 1 and result["steps"] == 12
    # The context-blind yardstick: 12 steps of MLM are no better than token frequencies, and it says so.
    assert result["unigram_ppl"] > 1
    assert f"for token frequencies alone (unigram; ratio {result['val']['ppl'] / result['unigram_ppl']:.2f})" \
        in out.stdout + out.stderr
    assert "learned little beyond token frequencies" in out.stdout + out.stderr

    # quantize takes fine-tunes only: one line, exit 2.
    bad = ws("quantize", pre, check=False)
    assert bad.returncode == 2 and "quantize takes a fine-tuning run" in bad.stderr and "\n" not in bad.stderr.strip()

    # Re-running without --resume must not clobber the run.
    again = ws("pretrain", root / "pre.yaml", check=False)
    assert again.returncode == 2 and "already exists" in again.stderr

    ws("finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert res["n_labels"] == 40 and 0 <= res["test"]["acc"] <= 1
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["lineage"]["init"] == str(pre) and cfg["task"]["pooling"] is None and cfg["train"]["max_steps"] == 12
    lines = [json.loads(x) for x in (ft / "metrics.jsonl").read_text().splitlines()]
    assert {ln["split"] for ln in lines} == {"train", "val", "test"}

    ev = json.loads(ws("evaluate", ft, "--split", "test").stdout)
    assert ev["acc"] == pytest.approx(res["test"]["acc"])

    (root / "inputs.txt").write_text("love it great\nawful bad sad\n")
    preds = [json.loads(x) for x in ws("predict", ft, root / "inputs.txt").stdout.splitlines()]
    assert len(preds) == 2 and {p["label"] for p in preds} <= {"pos", "neg"}
    assert sum(preds[0]["probs"].values()) == pytest.approx(1.0, abs=1e-3)

    # A mean-pooled head has no place in BERT's native classifier: one line, nothing written.
    bad = ws("export", ft, "--format", "hf", "--out", root / "hf", check=False)
    assert bad.returncode == 2 and "task.pooling=native" in bad.stderr and "\n" not in bad.stderr.strip()
    out = ws("export", ft, "--format", "hf-backbone", "--out", root / "hf").stdout
    assert "exported" in out
    code = f"""
import torch
from transformers import AutoModel, AutoTokenizer
m = AutoModel.from_pretrained({str(root / 'hf')!r}, local_files_only=True)
t = AutoTokenizer.from_pretrained({str(root / 'hf')!r}, local_files_only=True)
ids = t(["love it great"], return_tensors="pt")
print(m(**ids).last_hidden_state.shape[-1])
"""
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "32"

    # task.pooling=native on the pretrained backbone: --format hf writes a transformers classifier whose
    # pipeline predicts what `warmstart predict` does.
    ws("finetune", root / "ft.yaml", "--set", "run.name=ft-native", "--set", "task.pooling=native")
    ftn = root / "runs" / "ft-native"
    ours = [json.loads(x) for x in ws("predict", ftn, root / "inputs.txt").stdout.splitlines()]
    ws("export", ftn, "--format", "hf", "--out", root / "hf-cls")
    code = f"""
import json
from transformers import pipeline
clf = pipeline("text-classification", model={str(root / 'hf-cls')!r}, device="cpu", top_k=None)
print(json.dumps([{{d["label"]: d["score"] for d in row}} for row in clf(["love it great", "awful bad sad"])]))
"""
    theirs = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert [p["label"] for p in ours] == [max(t, key=t.get) for t in theirs]
    assert max(abs(p["probs"][k] - t[k]) for p, t in zip(ours, theirs, strict=True) for k in t) <= 1e-5


def test_compare_grid_and_skip_on_rerun(workspace):
    root = workspace
    if not (root / "runs" / "pre" / "result.json").exists():
        ws("pretrain", root / "pre.yaml")
    ws("compare", root / "cmp.yaml")
    summary = json.loads((root / "runs" / "cmp" / "compare.json").read_text())
    cells = summary["cells"]
    assert len(cells) == 2 * 2 * 2
    assert {(c["arm"], c["n_labels"]) for c in cells} == {(a, n) for a in ("pretrained", "scratch") for n in (10, 40)}
    scratch = json.loads((root / "runs" / "cmp" / "cells" / "scratch_b10_s0" / "config.json").read_text())
    assert scratch["init_weights"] == "random"
    assert "| pretrained |" in (root / "runs" / "cmp" / "compare.md").read_text()
    # A second run finds every cell complete and trains nothing.
    out = ws("compare", root / "cmp.yaml").stdout
    assert "8 cells already complete, 0 to run" in out

    out = ws("report", root / "runs" / "cmp").stdout
    assert out.strip() == f"report: {root / 'runs' / 'cmp' / 'report.html'}"
    assert "Forgetting check" in (root / "runs" / "cmp" / "report.md").read_text()


def test_bad_inputs_exit_2_one_line(workspace, tmp_path):
    root = workspace
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "nolabel.csv").write_text("text,stars\nhello,1\n")
    cases = [
        (["--set", f"data.path={tmp_path}/missing.csv"], "missing.csv"),
        (["--set", f"data.path={tmp_path}/empty.csv"], "empty.csv"),
        (["--set", f"data.path={tmp_path}/nolabel.csv"], "label"),
        (["--set", "data.label_budget=100000"], "label_budget"),
        (["--set", f"init={tmp_path}/nowhere"], "nowhere"),
    ]
    for extra, needle in cases:
        out = ws("finetune", root / "ft.yaml", "--set", "run.name=bad", "--overwrite", *extra, check=False)
        assert out.returncode == 2, (extra, out.stderr[-500:])
        err = out.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err and needle in err and "Traceback" not in err, err
