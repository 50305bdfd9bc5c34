"""Wall time of one compare grid run three ways: serial, `--jobs 2` (local processes) and `--backend ray`.

    PYTHONPATH=src .venv/bin/python benchmarks/compare_backends.py [--quick] [--rounds 2]

A small masked-LM pretraining of the demo encoder (once, untimed) is the `pretrained` source; the grid
is pretrained vs scratch x 2 label budgets x 2 seeds (8 fine-tune cells) on the embedded tweets
(--quick: a synthetic corpus and CSV, 1 budget, 4 steps: checks the script, not the speed), each
arm through the real CLI in a fresh compare directory: `warmstart compare` (all cores in one cell at
a time), `--jobs 2` (2 spawned workers, the cores split) and `--backend ray` (a local Ray instance
started by the command itself, RAY_ADDRESS=local, 1 CPU per cell). Wall time includes everything a
user waits for: interpreter start, worker start-up (torch imports), Ray start. The JSON also records
the largest test-metric difference of each arm against serial (thread counts differ, so it may
differ in the last digits). Meaningful only on quiet cores; the JSON records the load average.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import parse_args, print_table, write_json

SRC = str(Path(__file__).resolve().parents[1] / "src")
ARMS = {"serial": [], "jobs_2": ["--jobs", "2"], "ray": ["--backend", "ray"]}


def _quick_data(out: Path) -> tuple[str, str]:
    """--quick: a synthetic two-sentiment corpus and a 200-row labelled CSV (seconds, not minutes)."""
    rng = random.Random(0)
    words = {"pos": ["great", "love", "good", "happy"], "neg": ["bad", "hate", "awful", "sad"]}
    filler = ["the", "movie", "was", "really", "a", "day", "this", "so", "very", "it"]

    def sentence(label: str) -> str:
        return " ".join(rng.sample(filler, 5) + rng.choices(words[label], k=2))

    (out / "corpus.txt").write_text("\n".join(sentence(rng.choice(["pos", "neg"])) for _ in range(300)) + "\n")
    rows = [f"{sentence(lab)},{lab}" for lab in (rng.choice(["pos", "neg"]) for _ in range(200))]
    (out / "labeled.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    return (f"{{kind: corpus, path: {out / 'corpus.txt'}, max_len: 16, val_frac: 0.1}}",
            f"{{kind: labeled_text, path: {out / 'labeled.csv'}, max_len: 16}}")


def _write_recipes(out: Path, quick: bool) -> tuple[Path, Path]:
    steps, cell_steps = (6, 4) if quick else (150, 60)
    corpus, labeled = _quick_data(out) if quick else ("{kind: demo_corpus, max_len: 64, val_frac: 0.02}",
                                                      "{kind: demo_sentiment, max_len: 64, max_val: 200}")
    pre = out / "pretrain.yaml"
    pre.write_text(f"""run: {{name: pre, out_dir: {out}, seed: 0}}
data: {corpus}
tokenizer: {{kind: wordpiece, vocab_size: {120 if quick else 4000}}}
model: {{kind: transformer, arch: bert, size: tiny{", n_layers: 1, d_model: 32, n_heads: 2" if quick else ""}}}
objective: {{kind: masked_lm}}
schedule: {{kind: constant}}
train: {{max_steps: {steps}, batch_size: 32, eval_every: {steps}, eval_batches: 2, log_every: {steps}, progress: false}}
""")
    cmp = out / "compare.yaml"
    cmp.write_text(f"""run: {{name: grid, out_dir: {out}}}
pretrained: {out / "pre"}
label_budgets: {[20] if quick else [60, 300]}
seeds: [0, 1]
data: {labeled}
schedule: {{kind: constant}}
train: {{max_steps: {cell_steps}, batch_size: 32, eval_every: {cell_steps}, log_every: {cell_steps}, progress: false}}
""")
    return pre, cmp


def _cli(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "warmstart", *args], check=True, capture_output=True, env=env, timeout=3600)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, lambda ap: ap.add_argument("--rounds", type=int, default=2), argv)
    rounds = 1 if args.quick else args.rounds
    env = {**os.environ, "PYTHONPATH": SRC, "RAY_ADDRESS": "local"}  # ray: a fresh local instance, never a cluster
    rows, tests = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        pre, cmp = _write_recipes(out, args.quick)
        print(f"pretraining the source: {_cli(['pretrain', str(pre)], env):.1f} s (untimed in the table)", flush=True)
        for r in range(rounds):
            for arm, flags in ARMS.items():
                name = f"grid-{arm}-{r}"
                load = os.getloadavg()[0]
                seconds = _cli(["compare", str(cmp), "--set", f"run.name={name}", *flags], env)
                cells = json.loads((out / name / "compare.json").read_text())["cells"]
                tests[arm] = {c["run_dir"]: c["test"]["acc"] for c in cells}
                rows.append({"round": r, "arm": arm, "wall_s": round(seconds, 2), "cells": len(cells),
                             "load_1min": round(load, 2)})
                print(f"round {r}: {arm:<7} {seconds:7.1f} s  ({len(cells)} cells, load {load:.1f})", flush=True)
    serial = {r["round"]: r["wall_s"] for r in rows if r["arm"] == "serial"}
    for r in rows:
        r["x_serial"] = round(serial[r["round"]] / r["wall_s"], 3)
    diff = {arm: max(abs(tests[arm][k] - tests["serial"][k]) for k in tests["serial"]) for arm in ARMS}
    print_table("compare grid wall time (speed-up over serial; >1 = faster)", ["arm", "round", "wall s", "x serial"],
                [[r["arm"], r["round"], r["wall_s"], r["x_serial"]] for r in rows])
    result = {"rounds": rows, "max_test_acc_diff_vs_serial": diff}
    write_json(args.out, "compare_backends", result, args.quick)
    return result


if __name__ == "__main__":
    main()
