"""Deployment table: what each way of shipping a fine-tuned classifier costs and buys on this CPU.

    PYTHONPATH=src .venv/bin/python benchmarks/deploy.py [--quick] [--threads 1] [--calls 300] [--recover-steps 100]
        [--distilled RUN] [--keep DIR]

One fine-tune (`warmstart.finetune`, task.pooling=native so it also exports to transformers) of a
BERT-style encoder on the embedded demo tweets (3-way sentiment), then its variants through the
library verbs, and `warmstart bench-deploy` on all of them in one process at a fixed thread count
(workflows/bench_deploy.py: params, file MB, test accuracy and delta, batch-1 p50/p95 after warm-up,
batch-32 throughput, CPU ISA flags, load average):

  fine-tuned fp32 (torch)        the run itself
  fp32 (onnxruntime)             export --format onnx
  dynamic-int8 (onnxruntime)     quantize --method dynamic-int8 (onnxruntime quantize_dynamic)
  dynamic-int8 (torch)           quantize --method dynamic-int8 --backend torch (torch.ao; deprecated upstream)
  static-int8 (onnxruntime)      quantize --method static-int8 (QDQ, calibrated on training examples)
  weight-only-int8 (torch)       quantize --method weight-only-int8 (int8 weights, aten int8-weight GEMM)
  pruned unstructured/heads/neurons 50%, with --recover-steps recovery steps
  a distilled student            --distilled RUN (a fine-tune of the same demo data), when given

Numbers taken on a busy machine are not a measurement (load_average in the JSON says how busy it was).
Needs the deploy extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import common
from finetune_speed import write_csv  # the same demo-tweet subset as the fine-tuning benchmark


def main(argv: list[str] | None = None) -> dict:
    def extra(ap):
        ap.add_argument("--threads", type=int, default=1, help="intra-op threads for every variant (default 1)")
        ap.add_argument("--calls", type=int, default=300, help="batch-1 calls per variant (default 300)")
        ap.add_argument("--recover-steps", type=int, default=100, help="pruning recovery steps (default 100)")
        ap.add_argument("--distilled", default=None, help="a distilled student's run dir to add as a row")
        ap.add_argument("--keep", type=Path, default=None, help="keep the runs here (default: a temporary folder)")

    args = common.parse_args(__doc__, extra, argv)
    import torch

    from warmstart import workflows
    from warmstart.config.schema import FinetuneConfig
    from warmstart.workflows.bench_deploy import bench_deploy
    from warmstart.workflows.prune import prune
    from warmstart.workflows.quantize import quantize

    torch.set_num_threads(args.threads)
    calls = 20 if args.quick else args.calls
    recover = 2 if args.quick else args.recover_steps
    shape = dict(n_layers=1, d_model=32, n_heads=2, vocab=200, n=200, steps=6) if args.quick else \
        dict(n_layers=4, d_model=256, n_heads=4, vocab=8000, n=3000, steps=400)
    quiet = lambda *_: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        write_csv(root / "tweets.csv", shape["n"])
        cfg = FinetuneConfig.model_validate({
            "run": {"name": "ft", "out_dir": str(root), "seed": 0},
            "data": {"kind": "labeled_text", "path": str(root / "tweets.csv"), "max_len": 64},
            "tokenizer": {"kind": "wordpiece", "vocab_size": shape["vocab"]},
            "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": shape["n_layers"],
                      "d_model": shape["d_model"], "n_heads": shape["n_heads"]},
            "task": {"kind": "classification", "pooling": "native"},
            "train": {"max_steps": shape["steps"], "batch_size": 32, "eval_every": shape["steps"], "progress": False,
                      "num_threads": args.threads},
        })
        run = root / "ft"
        workflows.finetune(cfg, say=quiet, overwrite=True)
        variants = []
        for method, backend in [("dynamic-int8", "onnxruntime"), ("dynamic-int8", "torch"),
                                ("static-int8", "onnxruntime"), ("weight-only-int8", "torch")]:
            variants.append(root / f"ft-{method}-{backend}")
            quantize(run, method, backend, variants[-1], say=quiet)
        for structured in ("none", "heads", "neurons"):
            variants.append(root / f"ft-pruned-{structured}")
            prune(run, 0.5, structured, recover, variants[-1], say=quiet)
        if args.distilled:
            variants.append(Path(args.distilled))
        table = bench_deploy(run, variants, threads=args.threads, calls=calls)
    payload = {"shape": shape, "recover_steps": recover, **table}
    common.write_json(args.out, "deploy", payload, args.quick)
    return payload


if __name__ == "__main__":
    sys.exit(main() and 0)
