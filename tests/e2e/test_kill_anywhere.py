"""Kill anywhere (issue 17): SIGKILL a pretraining run, a fine-tune and a compare at 20 points each,
drawn by a seeded RNG from every point the uninterrupted run meets (a training batch drawn, a
validation batch drawn, a checkpoint file written, an atomic JSON write, a rename, a metrics line
half-written; inside a compare: all of these inside any cell (fine-tunes, linear probes writing
their feature cache, a TF-IDF baseline), and between cells), then resume
(`--resume`; a compare is simply re-run) and check that the final weights (and optimizer state) are
bitwise equal to the uninterrupted run's, and so are the metrics (metrics.jsonl and result.json,
wall-clock fields aside).

Every run is a child forked from this (warm) process, so the 41 runs per verb pay no interpreter or
import start-up; the child installs the kill points, runs `warmstart.cli.main` and SIGKILLs itself
at the chosen point. Slow: `pytest -m slow tests/e2e/test_kill_anywhere.py -s` prints the count
survived per verb.
"""

import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

import warmstart.checkpoint.io as ckpt_io
import warmstart.cli
import warmstart.data.loaders as loaders
import warmstart.experiments.compare
import warmstart.training.loop as loop
import warmstart.workflows  # noqa: F401  (imported before forking: the children start warm)
from warmstart.evaluation import evaluate as run_eval

pytestmark = pytest.mark.slow

N_KILLS, SEED = 20, 17
# Wall-clock fields, and how this process got a probe's features (its path is under the run's own
# out_dir; after a kill the resumed cell finds them "cached" where the uninterrupted one "computed" them).
TIMING = {"train_seconds", "seconds_to_best", "elapsed_s", "tokens_per_s", "feature_cache"}
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
        # Cells of every kind: fine-tunes (full), linear probes on cached features, a TF-IDF baseline.
        "compare": f"""run: {{name: run, out_dir: {root}}}
sources: {{pretrained: {pre_run}, scratch: {{scratch: pretrained}}, tfidf: {{baseline: tfidf_logreg}}}}
strategies: [{{kind: full}}, {{kind: linear_probe}}]
label_budgets: [40]
seeds: [0]
data: {{kind: labeled_text, path: {data / 'labeled.csv'}, max_len: 16, group_field: source}}
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


def _patch_everywhere(orig, new) -> None:
    """Replace function `orig` by `new` in every loaded module that holds it (imported by name)."""
    for module in list(sys.modules.values()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if value is orig:
                setattr(module, name, new)


def _install_kill_points(events: Path, kill_at: int) -> list[str]:
    """In the child: number every point where a kill can land; SIGKILL at number `kill_at` (0 = never).

    A training batch drawn (mid-step); a validation batch drawn (mid-eval); a safetensors file of a
    checkpoint being built written; an atomic JSON write about to start (manifest, state, result,
    config, compare.json); an os.replace about to run (a checkpoint's rename, `latest`, the swap of a
    re-saved `best`); a metrics.jsonl line, killed half-written (a torn line)."""
    seen: list[str] = []

    def point(name: str, before_kill=None) -> None:
        seen.append(name)
        if len(seen) == kill_at:
            events.write_text(json.dumps(seen))
            if before_kill is not None:
                before_kill()
            os.kill(os.getpid(), signal.SIGKILL)

    next_batch, evaluate, save_file = loaders.BatchIterator.__next__, run_eval, ckpt_io.save_file
    write_json, replace, log_write = ckpt_io.write_json_atomic, os.replace, loop.MetricsLog.write

    def hooked_next(self):
        point("batch")
        return next_batch(self)

    def hooked_evaluate(module, batches, *a, **kw):
        def counted():
            for b in batches:
                point("eval")
                yield b
        return evaluate(module, counted(), *a, **kw)

    def hooked_save_file(tensors, path, *a, **kw):
        save_file(tensors, path, *a, **kw)
        point(f"tensor_file:{Path(path).parent.name}")

    def hooked_write_json(path, obj):
        point(f"json:{Path(path).name}")
        write_json(path, obj)

    def hooked_replace(src, dst, *a, **kw):
        point(f"replace:{Path(dst).name}")
        return replace(src, dst, *a, **kw)

    def hooked_log_write(self, record):
        line = json.dumps(record) + "\n"

        def torn():  # half the line reaches the file, as after a crash mid-write
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line[: len(line) // 2])
        point("log", torn)
        log_write(self, record)

    loaders.BatchIterator.__next__ = hooked_next
    loop.MetricsLog.write = hooked_log_write
    os.replace = hooked_replace
    _patch_everywhere(evaluate, hooked_evaluate)
    _patch_everywhere(save_file, hooked_save_file)
    _patch_everywhere(write_json, hooked_write_json)
    return seen


def _run(root: Path, verb: str, data: Path, pre_run: Path, kill_at: int, *flags: str):
    """Run `warmstart VERB CONFIG FLAGS` in a forked child (killed at point kill_at unless 0).
    Returns (exit status: the code, or -signal; stderr text; the points the child met)."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / f"{verb}.yaml"
    cfg.write_text(recipes(root, data, pre_run)[verb])
    events, log = root / f"events_{kill_at}.json", root / f"log_{kill_at}.txt"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            seen = _install_kill_points(events, kill_at)
            code = warmstart.cli.main([verb, str(cfg), *flags])
            events.write_text(json.dumps(seen))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, log.read_text(errors="replace"), json.loads(events.read_text()) if events.exists() else []


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
    if not ckpts.exists():  # a baseline cell: no checkpoints
        return out
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
    code, log, _ = _run(root, "pretrain", data, root, 0)
    assert code == 0, log[-3000:]
    return root / "run"


@pytest.mark.parametrize("verb", ["pretrain", "finetune", "compare"])
def test_kill_anywhere_then_resume_is_bitwise_identical(tmp_path, data, pre_run, verb):
    code, log, points = _run(tmp_path / "ref", verb, data, pre_run, 0)
    assert code == 0, log[-3000:]
    want = outcomes(tmp_path / "ref", verb)
    rng = random.Random(f"{SEED}-{verb}")
    picks = sorted(rng.sample(range(1, len(points) + 1), N_KILLS))
    survived, failures = 0, []
    for k in picks:
        root = tmp_path / f"kill_{k}"
        code, _, seen = _run(root, verb, data, pre_run, k)
        where = seen[-1] if seen else "?"
        if code != -signal.SIGKILL:
            failures.append(f"point {k} ({where}): the kill did not happen (exit {code})")
            continue
        code, log, _ = _run(root, verb, data, pre_run, 0, *([] if verb == "compare" else ["--resume"]))
        if code != 0:
            failures.append(f"point {k} ({where}): resume failed: {log.strip()[-500:]}")
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
