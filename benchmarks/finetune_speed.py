"""Fine-tuning samples/s and peak memory per strategy: full vs linear_probe vs LoRA.

    PYTHONPATH=src .venv/bin/python benchmarks/finetune_speed.py [--quick] [--rounds 2]

Each run is `warmstart.finetune(cfg)` (the library form of `warmstart finetune`) on 1,000 of the
embedded demo tweets (3-way sentiment), a BERT-style encoder of the pretraining benchmark's shape
(6 layers, d_model 256, 4 heads, vocab 8k; tweets truncated to 64 tokens), batch 32, 6 steps, in a fresh
process per run so peak memory is that strategy's own (--quick runs in-process: a smoke test only).
Strategies alternate over --rounds.

  samples/s    from the loop's clock in metrics.jsonl (first step untimed; evaluation excluded)
  peak RSS     the process's resident memory sampled every 5 ms during the finetune() call,
               and its growth over the RSS at the call's start (the model, optimizer state,
               activations and the tokenizer and data, which are the same for every strategy)

LoRA is included when the `lora` strategy is registered (warmstart.strategies.STRATEGIES);
otherwise its row says so.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

STRATEGIES = ["full", "linear_probe", "lora"]


def write_csv(path: Path, n: int) -> None:
    from warmstart.data.demo import demo_sentiment_records

    records = demo_sentiment_records()
    step = max(len(records) // n, 1)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in records[::step][:n]:  # every k-th tweet: all three classes, no sorting artefacts
            w.writerow([r["text"], r["label"]])


def child(strategy: str, csv_path: Path, out_dir: Path, quick: bool) -> dict:
    """One fine-tune in this process; returns samples/s, memory and sizes."""
    import resource

    import warmstart
    from warmstart.config import parse_config

    shape = dict(n_layers=2, d_model=32, n_heads=2, vocab_size=200, batch=8, steps=3) if quick else \
        dict(n_layers=6, d_model=256, n_heads=4, vocab_size=8000, batch=32, steps=6)
    cfg = parse_config({
        "run": {"name": strategy, "out_dir": str(out_dir), "seed": 0},
        "data": {"kind": "labeled_text", "path": str(csv_path), "max_len": 64, "max_val": 64},
        "tokenizer": {"kind": "wordpiece", "vocab_size": shape["vocab_size"]},
        "model": {"kind": "transformer", "arch": "bert", "n_layers": shape["n_layers"], "d_model": shape["d_model"],
                  "n_heads": shape["n_heads"], "max_len": 64},
        "strategy": {"kind": strategy},
        "schedule": {"kind": "constant"},
        "train": {"max_steps": shape["steps"], "batch_size": shape["batch"], "log_every": 1, "eval_every": 1_000_000,
                  "eval_batches": 1, "progress": False, "num_threads": 1 if quick else None},
    }, "finetune", "finetune_speed.py")
    with common.PeakRSS() as mem:
        result = warmstart.finetune(cfg, say=lambda *_: None)
    lines = [json.loads(ln) for ln in (out_dir / strategy / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["split"] == "train"]
    seconds = train[-1]["elapsed_s"] - train[0]["elapsed_s"]
    return {
        "strategy": strategy, "samples_per_s": (len(train) - 1) * shape["batch"] / seconds,
        "peak_rss_mb": mem.peak / 2**20, "rss_growth_mb": (mem.peak - mem.start) / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params_trained": result["params_trained"], "params_total": result["params_total"],
        "batch_size": shape["batch"],
    }


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--rounds", type=int, default=None, help="alternation rounds (default 2; quick 1)")
        ap.add_argument("--child", default=None, help=argparse_hidden())
        ap.add_argument("--csv", type=Path, default=None, help=argparse_hidden())
        ap.add_argument("--result", type=Path, default=None, help=argparse_hidden())

    args = common.parse_args(__doc__, extra, argv)
    if args.child:
        res = child(args.child, args.csv, args.result.parent / "runs", args.quick)
        args.result.write_text(json.dumps(res), encoding="utf-8")
        return

    from warmstart.strategies import STRATEGIES as registered

    rounds = args.rounds or (1 if args.quick else 2)
    available = [s for s in STRATEGIES if s in registered]
    runs: dict[str, list[dict]] = {s: [] for s in available}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        csv_path = tmp / "tweets.csv"
        write_csv(csv_path, 200 if args.quick else 1000)
        for r in range(rounds):
            for s in available:
                res_path = tmp / f"{s}-{r}.json"
                cmd = ([__file__, "--child", s, "--csv", str(csv_path), "--result", str(res_path)]
                       + (["--quick"] if args.quick else []))
                t0 = time.perf_counter()
                if args.quick:  # the smoke test: in this process (memory figures then are not per strategy)
                    res = child(s, csv_path, tmp / "runs", quick=True)
                else:
                    common.run_python(cmd)
                    res = json.loads(res_path.read_text())
                res["wall_s"] = time.perf_counter() - t0
                runs[s].append(res)
                print(f"round {r + 1}/{rounds} {s}: {res['samples_per_s']:,.1f} samples/s, "
                      f"peak RSS {res['peak_rss_mb']:,.0f} MB", flush=True)
                subprocess.run(["rm", "-rf", str(tmp / "runs")], check=True)

    rows = []
    for s in STRATEGIES:
        if s not in runs:
            rows.append({"strategy": s, "status": "pending: strategy not registered in this build"})
            continue
        rs = runs[s]
        rows.append({
            "strategy": s, "status": "measured", "samples_per_s": common.median([x["samples_per_s"] for x in rs]),
            "samples_per_s_rounds": [x["samples_per_s"] for x in rs],
            "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
            "rss_growth_mb": common.median([x["rss_growth_mb"] for x in rs]),
            "params_trained": rs[0]["params_trained"], "params_total": rs[0]["params_total"],
            "batch_size": rs[0]["batch_size"],
        })
    full = next((r for r in rows if r["strategy"] == "full" and r["status"] == "measured"), None)
    for r in rows:
        if full and r["status"] == "measured":
            r["speed_vs_full"] = r["samples_per_s"] / full["samples_per_s"]
    common.print_table(f"Fine-tuning speed and memory (median of {rounds} alternating rounds; a fresh process per run)",
                       ["strategy", "samples/s", "x full", "peak RSS MB", "RSS growth MB", "params trained"],
                       [[r["strategy"], r.get("samples_per_s"), r.get("speed_vs_full"), r.get("peak_rss_mb"),
                         r.get("rss_growth_mb"), f"{r['params_trained']:,}" if "params_trained" in r else r["status"]]
                        for r in rows])
    common.write_json(args.out, "finetune_speed", {"rounds": rounds, "rows": rows}, args.quick)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
