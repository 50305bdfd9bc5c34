"""Kill anywhere (issue 17): SIGKILL a pretraining run, a fine-tune and a compare at 20 points each,
drawn by a seeded RNG from every point the uninterrupted run meets (a training batch drawn, a
validation batch drawn, a checkpoint file written, an atomic JSON write, a rename, a metrics line
half-written; inside a compare: all of these inside either cell, and between cells), then resume
(`--resume`; a compare is simply re-run) and check that the final weights (and optimizer state) are
bitwise equal to the uninterrupted run's, and so are the metrics (metrics.jsonl and result.json,
wall-clock fields aside).

Slow (about 40 processes per verb): `pytest -m slow tests/e2e/test_kill_anywhere.py -s` prints the
count survived per verb.
"""

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("kill_worker.py")
N_KILLS, SEED = 20, 17
TIMING = {"train_seconds", "seconds_to_best", "elapsed_s", "tokens_per_s"}
TRAIN = ("{max_steps: 6, batch_size: 8, eval_every: 2, eval_batches: 2, save_every: 2, keep_checkpoints: 2, "
         "log_every: 1, num_threads: 1, progress: false}")
MODEL = "{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 16, n_heads: 2, dropout: 0.1}"


def recipes(root: Path, data: Path, pre_run: Path) -> dict[str, str]:
    return {
        "pretrain": f"""run: {{name: run, out_dir: {root}, seed: 1}}
data: {{kind: corpus, path: {data / 'corpus.txt'}, max_len: 16, val_frac: 0.2}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {MODEL}
objective: {{kind: masked_lm}}
train: {TRAIN}
""",
        "finetune": f"""run: {{name: run, out_dir: {root}, seed: 2}}
data: {{kind: labeled_text, path: {data / 'labeled.csv'}, max_len: 16, group_field: source}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {MODEL}
task: {{kind: classification, dropout: 0.1}}
train: {TRAIN}
""",
        "compare": f"""run: {{name: run, out_dir: {root}}}
pretrained: {pre_run}
label_budgets: [40]
seeds: [0]
data: {{kind: labeled_text, path: {data / 'labeled.csv'}, max_len: 16}}
train: {{max_steps: 4, batch_size: 8, eval_every: 2, eval_batches: 2, save_every: 2, log_every: 1, num_threads: 1,
         progress: false}}
""",
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_text_csv):
    root = tmp_path_factory.mktemp("kill-data")
    rng = random.Random(0)
    lines = tiny_text_csv.read_text().splitlines()
    (root / "labeled.csv").write_text("\n".join([lines[0] + ",source"] + [f"{ln},{rng.choice('ab')}"
                                                                           for ln in lines[1:]]) + "\n")
    (root / "corpus.txt").write_text("\n".join(ln.rsplit(",", 1)[0] for ln in lines[1:]) + "\n")
    return root


def _run(root: Path, verb: str, data: Path, pre_run: Path, kill_at: int, *flags: str):
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / f"{verb}.yaml"
    cfg.write_text(recipes(root, data, pre_run)[verb])
    events = root / f"events_{kill_at}.json"
    proc = subprocess.run([sys.executable, str(WORKER), str(events), str(kill_at), verb, str(cfg), *flags],
                          capture_output=True, text=True, timeout=600)
    return proc, json.loads(events.read_text()) if events.exists() else []


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def outcome(run_dir: Path) -> dict:
    """What must not depend on the kill: final weights and optimizer state, metrics log, result."""
    ckpts = run_dir / "checkpoints"
    out = {"result": _strip(json.loads((run_dir / "result.json").read_text())),
           "log": [_strip(json.loads(ln)) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]}
    for name in ("best", (ckpts / "latest").read_text().strip()):
        for f in sorted((ckpts / name).glob("*.safetensors")):
            out[f"{name}/{f.name}"] = {k: v.numpy().tobytes() for k, v in load_file(str(f)).items()}
    return out


def outcomes(root: Path, verb: str) -> dict:
    run = root / "run"
    if verb != "compare":
        return outcome(run)
    summary = _strip(json.loads((run / "compare.json").read_text()))
    return {"compare": summary, **{c["run_dir"]: outcome(run / c["run_dir"]) for c in summary["cells"]}}


@pytest.fixture(scope="module")
def pre_run(tmp_path_factory, data):
    """An uninterrupted tiny pretraining run: the compare's pretrained source."""
    root = tmp_path_factory.mktemp("kill-pre")
    proc, _ = _run(root, "pretrain", data, root, 0)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@pytest.mark.parametrize("verb", ["pretrain", "finetune", "compare"])
def test_kill_anywhere_then_resume_is_bitwise_identical(tmp_path, data, pre_run, verb):
    ref, points = _run(tmp_path / "ref", verb, data, pre_run, 0)
    assert ref.returncode == 0, ref.stderr[-3000:]
    want = outcomes(tmp_path / "ref", verb)
    rng = random.Random(f"{SEED}-{verb}")
    picks = sorted(rng.sample(range(1, len(points) + 1), N_KILLS))
    survived, failures = 0, []
    for k in picks:
        root = tmp_path / f"kill_{k}"
        killed, seen = _run(root, verb, data, pre_run, k)
        where = seen[-1] if seen else "?"
        if killed.returncode != -signal.SIGKILL:
            failures.append(f"point {k} ({where}): the kill did not happen (exit {killed.returncode})")
            continue
        resumed, _ = _run(root, verb, data, pre_run, 0, *([] if verb == "compare" else ["--resume"]))
        if resumed.returncode != 0:
            failures.append(f"point {k} ({where}): resume failed: {resumed.stderr.strip()[-500:]}")
            continue
        got = outcomes(root, verb)
        diff = sorted(key for key in set(want) | set(got) if want.get(key) != got.get(key))
        if diff:
            failures.append(f"point {k} ({where}): differs in {diff[:4]}")
            continue
        survived += 1
    kinds = sorted({points[k - 1].split(":")[0] for k in picks})
    print(f"\nkill anywhere, {verb}: {survived}/{N_KILLS} survived (of {len(points)} points; kinds hit: {kinds})")
    for f in failures:
        print("  " + f)
    assert survived == N_KILLS, failures
