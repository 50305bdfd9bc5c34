"""Cached frozen-backbone features: the linear-probe cells of a compare (3 label budgets x 2 seeds) with and without
the feature cache (strategy.cache_features).

    PYTHONPATH=src .venv/bin/python benchmarks/probe_cache.py [--quick] [--steps 150] [--rounds 1]

Each run is one `warmstart.compare` (the library form of `warmstart compare`) of a single arm: a local Hugging Face
encoder x linear_probe (head LR 1e-2), label budgets 30 / 100 / 300 x seeds 0 / 1, on 2,000 of the embedded demo
tweets (3-way sentiment: 200 val / 400 test), max_len 64, batch 32, --steps steps per cell, run in a fresh process
with the cells one after another (jobs 1). The encoder is all-MiniLM-L6-v2 from the `minilm` extra when it is
installed, else a random BERT of its shape (6 layers, d 384, 12 heads) with a WordPiece tokenizer fitted to the
tweets: the features' cost is the same. Precision fp32 (the default). --quick: a 1-layer, 32-wide BERT, 2 budgets
x 1 seed, a few steps (a smoke test of the script, in this process).

  uncached      cache_features=false: the frozen backbone runs on every training and evaluation batch
  cached, cold  a fresh compare dir: val and test features are computed once, each cell's training subset once
  cached, warm  the same compare again, its cells deleted and its feature cache kept

Reported: wall seconds of each compare() call (all cells: model loading, data, training, evaluation and
checkpoints), the speed-up over uncached, the cell seconds the loop measured (train_seconds), and the largest
test-metric difference between a cached and the matching uncached cell (0 expected: same metrics). The runs
alternate over --rounds; the machine (CPU flags, fp32 matmul peak, load average) is recorded with them.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import common
from finetune_speed import argparse_hidden, write_csv  # the same demo-tweet subset as the fine-tuning benchmark
from warmstart.workflows.bench_deploy import cpu_flags

MODES = ["uncached", "cached, cold", "cached, warm"]
MINILM = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}


def encoder_dir(tmp: Path, csv_path: Path, quick: bool) -> tuple[str, str]:
    """(HF model directory, what it is): MiniLM when installed (full mode), else a random BERT of a given shape."""
    from warmstart.data.packaged import minilm_dir

    found = None if quick else minilm_dir()
    if found is not None:
        return str(found), "all-MiniLM-L6-v2 (minilm extra)"
    import csv

    from transformers import BertConfig, BertModel

    from warmstart.config.schema import WordPieceTokenizer
    from warmstart.tokenizers import build_tokenizer

    with open(csv_path, encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    tok = build_tokenizer(WordPieceTokenizer(vocab_size=2000 if quick else 8000), texts)
    shape = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64} \
        if quick else MINILM
    out = tmp / "encoder"
    BertModel(BertConfig(vocab_size=len(tok), max_position_embeddings=512, pad_token_id=tok.pad_token_id, **shape),
              add_pooling_layer=False).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return str(out), f"random BERT: {shape['num_hidden_layers']} layer(s), d {shape['hidden_size']}"


def compare_config(encoder: str, csv_path: Path, out_dir: Path, name: str, cache: bool, steps: int, quick: bool):
    from warmstart.config import parse_config

    return parse_config({
        "run": {"name": name, "out_dir": str(out_dir)},
        "sources": {"enc": {"hf": encoder}},
        "arms": [{"name": "probe", "source": "enc",
                  "strategy": {"kind": "linear_probe", "head_lr": 1e-2, "cache_features": cache}}],
        "label_budgets": [10, 30] if quick else [30, 100, 300], "seeds": [0] if quick else [0, 1],
        "data": {"kind": "labeled_text", "path": str(csv_path), "max_len": 64},
        "schedule": {"kind": "constant"},
        "train": {"max_steps": steps, "batch_size": 32, "eval_every": 50, "log_every": 50, "progress": False},
    }, "compare", "probe_cache.py")


def child(mode: str, encoder: str, csv_path: Path, out_dir: Path, steps: int, quick: bool) -> dict:
    """One compare in this process; returns its wall seconds and its cells' results."""
    from warmstart.experiments.compare import compare

    cfg = compare_config(encoder, csv_path, out_dir, "uncached" if mode == "uncached" else "cached",
                         mode != "uncached", steps, quick)
    if mode == "cached, warm":  # keep the feature cache, drop the finished cells
        cells = out_dir / "cached" / "cells"
        for d in cells.iterdir():
            if d.is_dir() and not d.name.startswith("."):
                shutil.rmtree(d)
    t0 = time.perf_counter()
    path = compare(cfg, say=lambda *_: None)
    wall = time.perf_counter() - t0
    summary = json.loads((path / "compare.json").read_text())
    cells = {c["run_dir"]: {"test": c["test"], "train_seconds": c["train_seconds"]} for c in summary["cells"]}
    return {"mode": mode, "wall_s": wall, "cells": cells, "metric": summary["metric"]}


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--steps", type=int, default=None, help="steps per cell (default 150; quick 6)")
        ap.add_argument("--rounds", type=int, default=1, help="alternation rounds of the three runs")
        ap.add_argument("--child", default=None, help=argparse_hidden())
        for name in ("--encoder", "--csv", "--work", "--result"):
            ap.add_argument(name, default=None, help=argparse_hidden())

    args = common.parse_args(__doc__, extra, argv)
    steps = args.steps or (6 if args.quick else 150)
    if args.child:
        res = child(args.child, args.encoder, Path(args.csv), Path(args.work), steps, args.quick)
        Path(args.result).write_text(json.dumps(res), encoding="utf-8")
        return

    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    peak = common.matmul_peak("fp32", 256 if args.quick else 2048, 3 if args.quick else 10)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        csv_path = tmp / "tweets.csv"
        write_csv(csv_path, 300 if args.quick else 2000)
        encoder, what = encoder_dir(tmp, csv_path, args.quick)
        for r in range(args.rounds):
            work = tmp / f"round{r}"
            for mode in MODES:  # in this order: warm needs cold's cache
                res_path = tmp / "result.json"
                if args.quick:  # the smoke test runs in this process
                    res = child(mode, encoder, csv_path, work, steps, quick=True)
                else:
                    common.run_python([__file__, "--child", mode, "--encoder", encoder, "--csv", str(csv_path),
                                       "--work", str(work), "--result", str(res_path), "--steps", str(steps)],
                                      timeout_s=7200)
                    res = json.loads(res_path.read_text())
                runs[mode].append(res)
                print(f"round {r + 1}/{args.rounds} {mode}: {res['wall_s']:,.1f} s", flush=True)
            shutil.rmtree(work)

    metric = runs["uncached"][0]["metric"]
    plain = runs["uncached"][0]["cells"]
    worst = max(abs(res["cells"][k]["test"][metric] - plain[k]["test"][metric])
                for m in MODES[1:] for res in runs[m] for k in plain)
    base = common.median([r["wall_s"] for r in runs["uncached"]])
    rows = []
    for mode in MODES:
        wall = common.median([r["wall_s"] for r in runs[mode]])
        cell_s = common.median([sum(c["train_seconds"] for c in r["cells"].values()) for r in runs[mode]])
        rows.append({"mode": mode, "wall_s": wall, "speedup_vs_uncached": base / wall,
                     "wall_s_rounds": [r["wall_s"] for r in runs[mode]], "cells_train_seconds": cell_s})
    flags = cpu_flags()
    common.print_table(
        f"linear-probe cells of a compare, {len(plain)} cells x {steps} steps ({what}; CPU flags: "
        f"{' '.join(flags) or 'unknown'}; fp32 matmul peak {peak / 1e9:,.1f} GFLOP/s); "
        f"largest |test {metric} difference| cached vs uncached: {worst:.2g}",
        ["run", "compare wall s", "x uncached", "cells' train_seconds"],
        [[r["mode"], r["wall_s"], f"{r['speedup_vs_uncached']:.1f}x", r["cells_train_seconds"]] for r in rows])
    common.write_json(args.out, "probe_cache", {
        "encoder": what, "cells": len(plain), "steps": steps, "rounds": args.rounds, "cpu_flags": flags,
        "fp32_matmul_peak_flops": peak, "precision": "fp32", "max_abs_test_diff": worst,
        "metric": metric, "rows": rows}, args.quick)


if __name__ == "__main__":
    sys.exit(main())
