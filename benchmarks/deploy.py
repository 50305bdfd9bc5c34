"""Deployment table: what each way of shipping a fine-tuned classifier costs and buys on this CPU.

    PYTHONPATH=src .venv/bin/python benchmarks/deploy.py [--quick] [--threads 1] [--calls 300]

One fine-tune (`warmstart.finetune`, task.pooling=native so it also exports to transformers) of a
BERT-style encoder on the embedded demo tweets (3-way sentiment), then each variant, in one process
on the same machine, with a fixed intra-op thread count:

  fp32 (torch)                 the run itself (workflows.load_predictor)
  fp32 (onnxruntime)           export --format onnx
  dynamic int8 (onnxruntime)   quantize --backend onnxruntime (onnxruntime.quantization.quantize_dynamic)
  dynamic int8 (torch.ao)      quantize --backend torch (torch.ao quantize_dynamic; deprecated upstream)

Columns: parameters; file MB (safetensors checkpoint, .onnx file, or torch.ao's serialized state
dict); test accuracy and its delta to fp32 (torch); batch-1 latency p50/p95 over --calls calls on
test tweets after warm-up; batch-32 throughput (examples/s). The CPU's ISA flags and the load
average are recorded: numbers taken on a busy machine are not a measurement (machine.load_average
in the JSON says how busy it was).
Needs the deploy extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import common
from finetune_speed import write_csv  # the same demo-tweet subset as the fine-tuning benchmark

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags() -> list[str]:
    """The int8/bf16-relevant ISA flags of this CPU (from /proc/cpuinfo; empty where unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return [f for f in ISA_FLAGS if f in flags]


def latency_ms(module, batches: list, calls: int, warmup: int = 10) -> tuple[float, float]:
    """p50 and p95 of module.logits over `calls` batch-1 calls (cycling through `batches`), after warm-up."""
    import torch

    times = []
    with torch.no_grad():
        for i in range(warmup + calls):
            batch = batches[i % len(batches)]
            t = time.perf_counter()
            module.logits(batch)
            if i >= warmup:
                times.append(1e3 * (time.perf_counter() - t))
    q = statistics.quantiles(times, n=20)
    return statistics.median(times), q[18]


def throughput(module, batches: list, rounds: int = 3) -> float:
    """Examples/s of module.logits over the batch-32 test batches (best of `rounds` passes)."""
    import torch

    n = sum(len(b["input_ids"]) for b in batches)
    best = 0.0
    with torch.no_grad():
        module.logits(batches[0])  # warm-up
        for _ in range(rounds):
            t = time.perf_counter()
            for b in batches:
                module.logits(b)
            best = max(best, n / (time.perf_counter() - t))
    return best


def main(argv: list[str] | None = None) -> dict:
    def extra(ap):
        ap.add_argument("--threads", type=int, default=1, help="intra-op threads for every variant (default 1)")
        ap.add_argument("--calls", type=int, default=300, help="batch-1 calls per variant (default 300)")

    args = common.parse_args(__doc__, extra, argv)
    import torch

    from warmstart import workflows
    from warmstart.config.schema import FinetuneConfig
    from warmstart.evaluation import evaluate as run_eval
    from warmstart.workflows.common import ordered_batches
    from warmstart.workflows.onnx import ort_session
    from warmstart.workflows.quantize import OnnxTask, load_quantized, quantize

    torch.set_num_threads(args.threads)
    calls = 20 if args.quick else args.calls
    shape = dict(n_layers=1, d_model=32, n_heads=2, vocab=200, n=200, steps=6) if args.quick else \
        dict(n_layers=4, d_model=256, n_heads=4, vocab=8000, n=3000, steps=400)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_csv(tmp / "tweets.csv", shape["n"])
        cfg = FinetuneConfig.model_validate({
            "run": {"name": "ft", "out_dir": str(tmp), "seed": 0},
            "data": {"kind": "labeled_text", "path": str(tmp / "tweets.csv"), "max_len": 64},
            "tokenizer": {"kind": "wordpiece", "vocab_size": shape["vocab"]},
            "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": shape["n_layers"],
                      "d_model": shape["d_model"], "n_heads": shape["n_heads"]},
            "task": {"kind": "classification", "pooling": "native"},
            "train": {"max_steps": shape["steps"], "batch_size": 32, "eval_every": shape["steps"], "progress": False,
                      "num_threads": args.threads},
        })
        run = tmp / "ft"
        workflows.finetune(cfg, say=lambda *_: None)
        fp32, inputs, _ = workflows.load_predictor(run)
        onnx_dir = workflows.export(run, "onnx", tmp / "onnx")
        q_ort = quantize(run, backend="onnxruntime", out=tmp / "q-ort", say=lambda *_: None)["quantize"]
        q_torch = quantize(run, backend="torch", out=tmp / "q-torch", say=lambda *_: None)["quantize"]
        ckpt = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
        fp32_mb = sum((ckpt / f"{part}.safetensors").stat().st_size for part in ("backbone", "head")) / 1e6
        variants = [
            ("fp32 (torch)", fp32, fp32_mb),
            ("fp32 (onnxruntime)", OnnxTask(fp32, ort_session(onnx_dir / "model.onnx", args.threads)),
             (onnx_dir / "model.onnx").stat().st_size / 1e6),
            ("dynamic int8 (onnxruntime)", load_quantized(tmp / "q-ort"), q_ort["file_mb"]),
            ("dynamic int8 (torch.ao)", load_quantized(tmp / "q-torch"), q_torch["state_mb"]),
        ]
        _, splits = inputs.read_labeled(cfg.run.seed, stratify=True)
        test_set = inputs.labeled_set(splits.test, fp32)
        params = sum(p.numel() for p in fp32.parameters())
        rows = []
        for name, module, mb in variants:
            module.eval()
            acc = run_eval(module, ordered_batches(test_set, 32))["acc"]
            single = list(ordered_batches(test_set, 1))
            p50, p95 = latency_ms(module, single, calls)
            per_s = throughput(module, list(ordered_batches(test_set, 32)))
            rows.append({"variant": name, "params": params, "file_mb": round(mb, 3), "test_acc": acc,
                         "p50_ms": p50, "p95_ms": p95, "batch32_per_s": per_s})
    base = rows[0]
    for r in rows:
        r["acc_delta"] = r["test_acc"] - base["test_acc"]
        r["speedup_p50"] = base["p50_ms"] / r["p50_ms"]
    flags = cpu_flags()
    headers = ["variant", "params", "file MB", "test acc", "delta", "b1 p50 ms", "b1 p95 ms", "x p50", "b32 ex/s"]
    keys = ["variant", "params", "file_mb", "test_acc", "acc_delta", "p50_ms", "p95_ms", "speedup_p50", "batch32_per_s"]
    common.print_table(f"deployment table ({args.threads} thread(s); CPU flags: {' '.join(flags) or 'unknown'})",
                       headers, [[r[k] for k in keys] for r in rows])
    payload = {"threads": args.threads, "calls": calls, "shape": shape, "cpu_flags": flags, "rows": rows}
    common.write_json(args.out, "deploy", payload, args.quick)
    return payload


if __name__ == "__main__":
    sys.exit(main() and 0)
