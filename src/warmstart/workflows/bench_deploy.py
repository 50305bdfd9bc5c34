"""bench-deploy: the deployment table - what each variant of a fine-tuned model costs and buys on this CPU.

Rows: the fine-tuned run (the reference), optionally its fp32 ONNX export (onnxruntime), then any
variant run directories (quantize, prune, a distilled or any other fine-tune of the same data). Each
row: parameters, weight file MB, the test metric and its delta to the reference, batch-1 latency
p50/p95 over `calls` calls after warm-up, batch-32 throughput, all in one process at one fixed
intra-op thread count; the CPU's int8/bf16 ISA flags and the load average go with the table. Timing
on a busy machine measures the other processes: run it on quiet cores.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.errors import ConfigError
from warmstart.evaluation import evaluate as run_eval
from warmstart.runs import load_run_config
from warmstart.workflows.common import ordered_batches
from warmstart.workflows.finetune import prepare_finetune
from warmstart.workflows.inference import load_predictor
from warmstart.workflows.variants import QUANT_META, is_quantized

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
WARMUP_CALLS = 10


def cpu_flags() -> list[str]:
    """The int8/bf16-relevant ISA flags of this CPU (from /proc/cpuinfo; empty where unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return [f for f in ISA_FLAGS if f in flags]


def latency_ms(module, batches: list, calls: int, warmup: int = WARMUP_CALLS) -> tuple[float, float]:
    """p50 and p95 of module.logits over `calls` calls (cycling through `batches`), after `warmup` calls."""
    times = []
    with torch.no_grad():
        for i in range(warmup + calls):
            batch = batches[i % len(batches)]
            t = time.perf_counter()
            module.logits(batch)
            if i >= warmup:
                times.append(1e3 * (time.perf_counter() - t))
    q = statistics.quantiles(times, n=20)  # 19 cut points: q[18] is the 95th percentile
    return statistics.median(times), q[18]


def throughput(module, batches: list, rounds: int = 3) -> float:
    """Examples/s of module.logits over `batches` (best of `rounds` passes, after one warm-up call)."""
    n = sum(len(next(iter(b.values()))) for b in batches)
    best = 0.0
    with torch.no_grad():
        module.logits(batches[0])
        for _ in range(rounds):
            t = time.perf_counter()
            for b in batches:
                module.logits(b)
            best = max(best, n / (time.perf_counter() - t))
    return best


def weights_mb(run_dir: Path) -> float:
    """MB of what a run ships: a quantized run's model file (or torch.ao's serialized state), else the
    checkpoint's backbone + head safetensors."""
    if is_quantized(run_dir):
        meta = read_json(run_dir / QUANT_META)
        return meta.get("file_mb") or meta["state_mb"]
    ckpt = resolve_checkpoint(run_dir)
    return sum((ckpt / f"{part}.safetensors").stat().st_size for part in ("backbone", "head")) / 1e6


def n_params(run_dir: Path, module) -> int:
    """Parameters of a run's model; a quantized run has its source's (quantization changes the storage only)."""
    if is_quantized(run_dir):
        module = load_predictor(read_json(run_dir / QUANT_META)["source"])[0]
    return sum(p.numel() for p in module.parameters())


def variant_name(run_dir: Path) -> str:
    """A row label: the run's name with what made it (quantize method/backend, prune kind and sparsity)."""
    result = read_json(run_dir / "result.json") if (run_dir / "result.json").is_file() else {}
    if "quantize" in result:
        q = result["quantize"]
        return f"{q['method']} ({q['backend']})"
    if "prune" in result:
        p = result["prune"]
        kind = "unstructured" if p["structured"] == "none" else p["structured"]
        steps = f", {p['recover_steps']} recovery steps" if p["recover_steps"] else ""
        return f"pruned {kind} {p['sparsity_target']:.0%}{steps}"
    return run_dir.name


def bench_deploy(base: str | Path, variants: list[str | Path] = (), onnx: bool = True, threads: int = 1,
                 calls: int = 300, out: str | Path | None = None, say=print) -> dict:
    """Measure the deployment table (module docstring); print it, write it as JSON to `out` if given,
    and return {"threads", "calls", "cpu_flags", "load_average", "metric", "rows"}."""
    from warmstart.workflows.onnx import export_onnx, ort_session
    from warmstart.workflows.quantize import OnnxTask

    if calls < 20:
        raise ConfigError(f"--calls {calls}: expected at least 20 (p95 needs a tail)")
    if threads < 1:
        raise ConfigError(f"--threads {threads}: expected 1 or more")
    base = Path(base)
    verb, cfg = load_run_config(base)
    if verb != "finetune" or is_quantized(base):
        raise ConfigError(f"{base}: bench-deploy's first run is the fine-tuned reference (this one is "
                          f"{'a quantized run' if verb == 'finetune' else f'a {verb} run'})")
    torch.set_num_threads(threads)

    def row(name: str, run_dir: Path, module, mb: float) -> dict:
        """One variant on its own inputs' encoding of the test split (a distilled student may tokenize
        differently; the records are the reference's: same data, seed and split)."""
        _, run_cfg = load_run_config(run_dir)
        module.eval()
        splits, inputs, _, _ = prepare_finetune(run_cfg, run_dir, module=module)
        test = inputs.labeled_set(splits.test, module)
        metric = run_eval(module, ordered_batches(test, 32))[primary]
        p50, p95 = latency_ms(module, list(ordered_batches(test, 1)), calls)
        say(f"  {name}: {primary} {metric:.4f}, batch-1 p50 {p50:.2f} ms")
        return {"variant": name, "run": str(run_dir), "params": n_params(run_dir, module), "file_mb": round(mb, 4),
                primary: metric, "n_test": len(splits.test), "p50_ms": p50, "p95_ms": p95,
                "batch32_per_s": throughput(module, list(ordered_batches(test, 32)))}

    ref = load_predictor(base)[0]
    primary = ref.new_metrics().primary
    rows = [row("fine-tuned fp32 (torch)", base, ref, weights_mb(base))]
    with tempfile.TemporaryDirectory() as tmp:
        if onnx:
            exported = export_onnx(base, Path(tmp)) / "model.onnx"
            rows.append(row("fp32 (onnxruntime)", base, OnnxTask(ref, ort_session(exported, threads)),
                            exported.stat().st_size / 1e6))
    for run_dir in map(Path, variants):
        v_verb, v_cfg = load_run_config(run_dir)
        if v_verb != "finetune" or v_cfg.task.kind != cfg.task.kind:
            raise ConfigError(f"{run_dir}: not a {cfg.task.kind} fine-tune like {base} (a {v_verb} run)")
        module = load_predictor(run_dir)[0]
        if isinstance(module, OnnxTask):  # the session at the table's thread count, not the run's
            module.session = ort_session(run_dir / read_json(run_dir / QUANT_META)["file"], threads)
        rows.append(row(variant_name(run_dir), run_dir, module, weights_mb(run_dir)))
    for r in rows:
        r["delta"] = r[primary] - rows[0][primary]
        r["kept"] = r[primary] / rows[0][primary] if rows[0][primary] else None
        r["speedup_p50"] = rows[0]["p50_ms"] / r["p50_ms"]
    table = {"threads": threads, "calls": calls, "warmup_calls": WARMUP_CALLS, "cpu_flags": cpu_flags(),
             "load_average": [round(x, 2) for x in os.getloadavg()], "metric": primary, "base": str(base.resolve()),
             "rows": rows}
    say(format_table(table))
    if out is not None:
        write_json_atomic(out, table)
        say(f"-> {out}")
    return table


def format_table(table: dict) -> str:
    """The deployment table as Markdown (what the README shows)."""
    m = table["metric"]
    lines = [f"deployment table: {table['threads']} thread(s), {table['calls']} batch-1 calls after "
             f"{table['warmup_calls']} warm-up; CPU flags {' '.join(table['cpu_flags']) or 'unknown'}; "
             f"load average {table['load_average'][0]}", "",
             f"| variant | params | file MB | test {m} | delta | b1 p50 ms | b1 p95 ms | x p50 | b32 ex/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table["rows"]:
        lines.append(f"| {r['variant']} | {r['params']:,} | {r['file_mb']:.2f} | {r[m]:.4f} | {r['delta']:+.4f} | "
                     f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['speedup_p50']:.2f} | {r['batch32_per_s']:.0f} |")
    return "\n".join(lines)
