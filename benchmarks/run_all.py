"""Run every benchmark (what `make bench` does) and print one summary table; JSON per script plus
summary.json go to --out (default benchmarks/results/).

    PYTHONPATH=src .venv/bin/python benchmarks/run_all.py [--quick] [--only a,b] [--skip a,b]

Each script runs in its own interpreter (its own threads, compile caches and peak memory).
wordvec_speed.py (the word-vector benchmark) has no quick mode, so it runs in full mode only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
SCRIPTS = ["pretrain_speed", "finetune_speed", "lm_loss", "data_path", "cli_startup", "wordvec_speed", "probe_cache"]


def summary_rows(out: Path) -> list[list]:
    """The headline numbers of each JSON that exists: [benchmark, measure, value]."""
    rows = []

    def load(name):
        p = out / f"{name}.json"
        return json.loads(p.read_text()) if p.exists() else None

    if doc := load("pretrain_speed"):
        for precision, note in doc.get("skipped", {}).items():
            rows.append(["pretrain_speed", f"{precision} arms", f"skipped: {note}"])
        for r in doc["rows"]:
            rows.append(["pretrain_speed", f"{r['arm']}: tokens/s", r["tokens_per_s"]])
            if r["runner"] == "warmstart":
                rows.append(["pretrain_speed", f"{r['arm']}: x Trainer / MFU / data wait",
                             f"{r['ratio_vs_trainer']:.2f}x / {100 * r['mfu']:.1f}% / "
                             f"{100 * r['data_wait_frac']:.2f}%"])
                if r.get("ratio_vs_trainer_compiled") is not None:
                    rows.append(["pretrain_speed", f"{r['arm']}: x Trainer(torch_compile=True)",
                                 f"{r['ratio_vs_trainer_compiled']:.2f}x"])
                rows.append(["pretrain_speed", f"{r['arm']}: best step x Trainer / MFU",
                             f"{r['best_step_ratio_vs_trainer']:.2f}x / {100 * r['best_step_mfu']:.1f}%"])
    if doc := load("finetune_speed"):
        for r in doc["rows"]:
            value = (f"{r['samples_per_s']:.1f} samples/s, peak RSS {r['peak_rss_mb']:.0f} MB"
                     if r["status"] == "measured" else r["status"])
            rows.append(["finetune_speed", r["strategy"], value])
    if doc := load("lm_loss"):
        for r in doc["rows"]:
            rows.append(["lm_loss", f"{r['shape']} {r['variant']}",
                         f"{r['seconds']:.3g} s ({r['time_vs_whole']:.2f}x whole), peak {r['peak_mb']:,.0f} MB"])
    if doc := load("data_path"):
        for r in doc["rows"]:
            rows.append(["data_path", f"{r['stage']}: text MB/s", r["text_mb_per_s"]])
    if doc := load("cli_startup"):
        for r in doc["rows"]:
            rows.append(["cli_startup", f"{r['command']}: median s", r["median_s"]])
    if doc := load("probe_cache"):
        for r in doc["rows"]:
            rows.append(["probe_cache", f"{r['mode']}: {doc['cells']} probe cells, s (x uncached)",
                         f"{r['wall_s']:.1f} ({r['speedup_vs_uncached']:.1f}x)"])
    return rows


def markdown(out: Path) -> str:
    """The README's performance tables, from the JSON in `out` (no benchmark is run)."""
    lines = []

    def table(headers, rows):
        lines.extend(["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)])
        lines.extend("| " + " | ".join(common._fmt(v) for v in row) + " |" for row in rows)
        lines.append("")

    for p in sorted(out.glob("pretrain_speed*.json")):
        doc = json.loads(p.read_text())
        lines.append(f"Pretraining, {doc['threads']} threads ({doc['machine']['time_utc']}, "
                     f"load average {doc['machine']['load_average'][0]}, "
                     f"median of {doc['rounds']} alternating rounds x {doc['timed_steps_per_chunk']} timed steps):\n")
        table(["arm", "tokens/s", "x Trainer (per round)", "x Trainer compiled", "MFU", "best step: tokens/s",
               "x Trainer", "MFU", "data wait"],
              [[r["arm"], r["tokens_per_s"],
                f"{r['ratio_vs_trainer']:.2f} ({', '.join(f'{x:.2f}' for x in r['ratio_rounds'])})",
                "-" if r.get("ratio_vs_trainer_compiled") is None else f"{r['ratio_vs_trainer_compiled']:.2f}",
                f"{100 * r['mfu']:.1f}%", r["best_step_tokens_per_s"], f"{r['best_step_ratio_vs_trainer']:.2f}",
                f"{100 * r['best_step_mfu']:.1f}%",
                "-" if r["data_wait_frac"] is None else f"{100 * r['data_wait_frac']:.2f}%"]
               for r in doc["rows"]])
        for precision, note in doc.get("skipped", {}).items():
            lines.append(f"{precision} arms skipped: {note}\n")
        peaks = doc["peak_flops_rounds"]
        lines.append("Matmul peak per round (GFLOP/s): "
                     + "; ".join(f"{k} {', '.join(f'{v / 1e9:.0f}' for v in vs)}" for k, vs in peaks.items()) + "\n")
    p = out / "finetune_speed.json"
    if p.exists():
        doc = json.loads(p.read_text())
        table(["strategy", "samples/s", "x full", "peak RSS MB", "params trained"],
              [[r["strategy"], r.get("samples_per_s"), r.get("speed_vs_full"), r.get("peak_rss_mb"),
                f"{r['params_trained']:,}" if "params_trained" in r else r["status"]] for r in doc["rows"]])
    p = out / "lm_loss.json"
    if p.exists():
        doc = json.loads(p.read_text())
        table(["LM loss (forward+backward)", "tokens x d x vocab", "variant", "seconds", "x whole", "peak MB"],
              [[r["shape"], f"{r['tokens']:,} x {r['d_model']} x {r['vocab']:,}", r["variant"], r["seconds"],
                r["time_vs_whole"], r["peak_mb"]] for r in doc["rows"]])
    p = out / "data_path.json"
    if p.exists():
        doc = json.loads(p.read_text())
        table(["data path stage", "seconds", "text MB/s"],
              [[r["stage"], r["seconds"], r["text_mb_per_s"]] for r in doc["rows"]])
    p = out / "cli_startup.json"
    if p.exists():
        doc = json.loads(p.read_text())
        table(["command", "median s"], [[r["command"], r["median_s"]] for r in doc["rows"]])
    p = out / "probe_cache.json"
    if p.exists():
        doc = json.loads(p.read_text())
        lines.append(f"Linear-probe cells of a compare ({doc['cells']} cells x {doc['steps']} steps, {doc['encoder']}; "
                     f"CPU flags {' '.join(doc['cpu_flags']) or 'unknown'}, fp32 matmul peak "
                     f"{doc['fp32_matmul_peak_flops'] / 1e9:,.0f} GFLOP/s; largest test {doc['metric']} difference "
                     f"cached vs uncached {doc['max_abs_test_diff']:.2g}):\n")
        table(["run", "compare wall s", "x uncached", "cells' train_seconds"],
              [[r["mode"], r["wall_s"], f"{r['speedup_vs_uncached']:.1f}x", r["cells_train_seconds"]]
               for r in doc["rows"]])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--only", default=None, help=f"comma list of {', '.join(SCRIPTS)}")
        ap.add_argument("--skip", default="", help="comma list of scripts to leave out")
        ap.add_argument("--markdown", action="store_true",
                        help="print the README tables from the JSON in --out; run nothing")

    args = common.parse_args(__doc__, extra, argv)
    if args.markdown:
        print(markdown(args.out))
        return
    chosen = args.only.split(",") if args.only else SCRIPTS
    chosen = [s for s in chosen if s not in args.skip.split(",") and not (args.quick and s == "wordvec_speed")]
    seconds = {}
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        if name == "wordvec_speed":  # another script's interface: --out is a file
            common.run_python([str(HERE / f"{name}.py"), "--out", str(args.out / f"{name}.json")])
        else:
            common.run_python([str(HERE / f"{name}.py"), "--out", str(args.out)] + (["--quick"] if args.quick else []))
        seconds[name] = round(time.perf_counter() - t0, 1)
    rows = summary_rows(args.out)
    common.print_table("Summary", ["benchmark", "measure", "value"], rows)
    common.write_json(args.out, "summary", {"scripts": chosen, "wall_s": seconds, "rows": rows}, args.quick)


if __name__ == "__main__":
    sys.exit(main())
