"""DDP scaling on CPU: 2 gloo processes x 1 thread vs 1 process x 2 threads, tokens/s of `warmstart pretrain`.

    PYTHONPATH=src .venv/bin/python benchmarks/ddp_scaling.py [--quick] [--rounds 3] [--steps 60]

Both arms run the same recipe (a GPT-2-style causal LM, 4 layers, d_model 256, context 128, batch 16,
fp32, eager, on the embedded demo corpus) through the real CLI:
`python -m warmstart pretrain` with train.num_threads=2, and `python -m torch.distributed.run
--standalone --nproc-per-node 2 -m warmstart pretrain` with train.num_threads=1 (each rank half of
every batch). tokens/s is result.json's: global tokens over the loop's own clock (no evaluation, no
startup). The arms alternate for --rounds rounds; the ratio is the median of the paired per-round
ratios. Meaningful only on a quiet machine: the JSON records the load average before each round.
Target (issue 15): the 2 x 1-thread row within 15% of the 1 x 2-thread row.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import parse_args, write_json

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _recipe(out: Path, name: str, steps: int, threads: int, quick: bool) -> Path:
    size = "n_layers: 1, d_model: 32, n_heads: 2" if quick else "n_layers: 4, d_model: 256, n_heads: 4"
    path = out / f"{name}.yaml"
    path.write_text(f"""run: {{name: {name}, out_dir: {out}, seed: 0}}
data: {{kind: demo_corpus, max_len: {32 if quick else 128}, val_frac: 0.02}}
tokenizer: {{kind: bpe, vocab_size: {500 if quick else 4000}, min_frequency: 2}}
model: {{kind: transformer, arch: gpt2, size: tiny, {size}, dropout: 0.0}}
objective: {{kind: causal_lm}}
optim: {{kind: adamw, lr: 1.0e-3}}
schedule: {{kind: constant}}
train: {{max_steps: {steps}, batch_size: 16, eval_every: {steps}, eval_batches: 1, log_every: {steps},
         num_threads: {threads}, progress: false, device: cpu, precision: fp32}}
""")
    return path


def _run(recipe: Path, nproc: int) -> float:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)] if nproc > 1 else []
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1" if nproc > 1 else "2"}
    subprocess.run([sys.executable, *launcher, "-m", "warmstart", "pretrain", str(recipe), "--overwrite"],
                   check=True, capture_output=True, env=env, timeout=1800)
    run_dir = recipe.parent / recipe.stem
    return json.loads((run_dir / "result.json").read_text())["tokens_per_s"]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__, lambda ap: (ap.add_argument("--rounds", type=int, default=3),
                                           ap.add_argument("--steps", type=int, default=60)), argv)
    rounds, steps = (1, 3) if args.quick else (args.rounds, args.steps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        one = _recipe(out, "one_x2", steps, 2, args.quick)
        two = _recipe(out, "ddp_2x1", steps, 1, args.quick)
        for r in range(rounds):
            load = os.getloadavg()[0]
            a, b = _run(one, 1), _run(two, 2)
            rows.append({"round": r, "load_1min": round(load, 2), "one_x2_tokens_per_s": a, "ddp_2x1_tokens_per_s": b,
                         "ratio": b / a})
            print(f"round {r}: 1x2 threads {a:,.0f} tok/s | 2x1 gloo {b:,.0f} tok/s | ratio {b / a:.3f} "
                  f"(load {load:.1f})")
    ratio = statistics.median(r["ratio"] for r in rows)
    result = {"steps": steps, "rounds": rows, "median_ratio": ratio}
    print(f"DDP 2 x 1 thread / 1 x 2 threads: median ratio {ratio:.3f} over {rounds} round(s)")
    write_json(args.out, "ddp_scaling", result, args.quick)
    return result


if __name__ == "__main__":
    main()
