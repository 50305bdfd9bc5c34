"""The LM loss whole vs chunked (objective.loss_chunk): forward+backward time and peak memory.

    PYTHONPATH=src .venv/bin/python benchmarks/lm_loss.py [--quick] [--rounds 3] [--chunks 1024,4096]

For each shape, hidden states (N, D) go through the tied vocabulary projection (V, D) + bias into
warmstart.objectives.lm_loss.lm_loss, once with the whole (N, V) logits and once per chunk size, and
the loss is backpropagated. Shapes: this benchmark suite's GPT config (N = 8 x 256 tokens, D 256,
vocab 8k) and a GPT-2-124M-shaped head (N = 8 x 1024, D 768, vocab 50,257). Every run is a fresh
process, so peak RSS is that variant's own; variants alternate over --rounds.

  seconds      wall time of one forward+backward of the loss (median over rounds; one untimed warm-up)
  peak MB      resident memory growth over the process's RSS before the call (inputs already allocated;
               --quick runs in this process: a smoke test only)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import common
from warmstart.objectives.lm_loss import chunk_rows

FULL = [("gpt-small head", 8 * 256, 256, 8000), ("gpt2-124M head", 8 * 1024, 768, 50257)]
QUICK = [("tiny head", 64, 16, 500)]


def child(n: int, d: int, v: int, chunk: int | None) -> dict:
    import torch

    from warmstart.objectives.lm_loss import lm_loss

    torch.manual_seed(0)
    h = torch.randn(n, d, requires_grad=True)
    w = (torch.randn(v, d) * 0.02).requires_grad_()
    b = torch.zeros(v, requires_grad=True)
    t = torch.randint(0, v, (n,))

    def once():
        h.grad = w.grad = b.grad = None
        loss = lm_loss(h, w, b, t, chunk)
        loss.backward()
        return float(loss.detach())

    once()  # warm-up: allocator and kernel choice
    h.grad = w.grad = b.grad = None
    with common.PeakRSS() as mem:
        t0 = time.perf_counter()
        loss = once()
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": (mem.peak - mem.start) / 2**20, "loss": loss}


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--rounds", type=int, default=None, help="alternation rounds (default 3; quick 1)")
        ap.add_argument("--chunks", default="auto,1024,4096",
                        help="rows per chunk of the chunked variants, a comma list; "
                        "auto = objective.loss_chunk's default rule; "
                        "a chunk >= the rows is the whole path and is skipped")
        ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
        ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)

    args = common.parse_args(__doc__, extra, argv)
    if args.child:
        args.result.write_text(json.dumps(child(*json.loads(args.child))))
        return
    shapes = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 3)
    chunks = [16] if args.quick else [c if c == "auto" else int(c) for c in args.chunks.split(",")]
    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        result = Path(d) / "result.json"
        for r in range(rounds):
            for name, n, dim, v in shapes:
                sizes = [(f"chunk {c}" if c != "auto" else f"chunk auto ({chunk_rows(c, v)})", chunk_rows(c, v))
                         for c in chunks]
                for variant, c in [("whole", None)] + [(name_, c) for name_, c in sizes if c < n]:
                    if args.quick:  # the smoke test: in this process (peak memory then is not the variant's own)
                        res = child(n, dim, v, c)
                    else:
                        common.run_python([__file__, "--child", json.dumps([n, dim, v, c]), "--result", str(result)])
                        res = json.loads(result.read_text())
                    runs.setdefault((name, variant), []).append(res)
                    print(f"round {r + 1}/{rounds} {name} {variant}: {res['seconds']:.3f} s, {res['peak_mb']:,.0f} MB",
                          flush=True)
    rows = []
    for (name, variant), xs in runs.items():
        n, d, v = next((n, d, v) for s, n, d, v in shapes if s == name)
        whole = runs[(name, "whole")]
        rows.append({"shape": name, "tokens": n, "d_model": d, "vocab": v, "variant": variant,
                     "seconds": common.median([x["seconds"] for x in xs]), "seconds_rounds": [x["seconds"] for x in xs],
                     "peak_mb": common.median([x["peak_mb"] for x in xs]),
                     "time_vs_whole": common.median([x["seconds"] / y["seconds"]
                                                     for x, y in zip(xs, whole, strict=True)]),
                     "loss_diff_vs_whole": max(abs(x["loss"] - y["loss"]) for x, y in zip(xs, whole, strict=True))})
    common.print_table(f"LM loss forward+backward, whole vs chunked ({rounds} alternating rounds, fresh process each)",
                       ["shape", "tokens x d x vocab", "variant", "seconds", "x whole", "peak MB", "|loss diff|"],
                       [[r["shape"], f"{r['tokens']} x {r['d_model']} x {r['vocab']}", r["variant"], r["seconds"],
                         r["time_vs_whole"], r["peak_mb"], f"{r['loss_diff_vs_whole']:.1e}"] for r in rows])
    common.write_json(args.out, "lm_loss", {"rounds": rounds, "chunks": chunks, "rows": rows}, args.quick)


if __name__ == "__main__":
    sys.exit(main())
