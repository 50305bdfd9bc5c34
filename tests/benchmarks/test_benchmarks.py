"""Smoke test of benchmarks/ in quick mode: each script runs on tiny shapes and writes its JSON with
the keys the README table and run_all's summary read. (Speed itself is never asserted in tests.)"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _script(name: str):
    sys.path.insert(0, str(BENCH))  # the scripts import their sibling `common`
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def _run_quick(names: tuple[str, ...], out: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        for name in names:
            _script(name).main(["--quick", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)  # the scripts set their own; later tests expect conftest's


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    _run_quick(("pretrain_speed", "finetune_speed", "data_path", "cli_startup", "lm_loss"), out)
    return out


def _load(out: Path, name: str) -> dict:
    doc = json.loads((out / f"{name}.json").read_text())
    assert doc["benchmark"] == name and doc["mode"] == "quick"
    assert doc["machine"]["cores_available"] >= 1 and doc["machine"]["gpu"] is None
    return doc


def test_pretrain_speed_json(results):
    doc = _load(results, "pretrain_speed")
    rows = {(r["arch"], r["runner"]) for r in doc["rows"]}
    assert rows == {("gpt2", "warmstart"), ("gpt2", "trainer"), ("bert", "warmstart"), ("bert", "trainer")}
    for r in doc["rows"]:
        assert r["tokens_per_s"] > 0 and 0 < r["mfu"] and r["flops_per_token"] > 0
        assert r["ratio_vs_trainer"] > 0 and len(r["ratio_rounds"]) == doc["rounds"]
        assert (r["data_wait_frac"] is None) == (r["runner"] == "trainer")
    trainer = [r for r in doc["rows"] if r["runner"] == "trainer"]
    assert all(r["ratio_vs_trainer"] == 1.0 and r["best_step_ratio_vs_trainer"] == 1.0 for r in trainer)
    for r in doc["rows"]:  # the best step is at least as fast as the median chunk
        assert r["best_step_tokens_per_s"] >= 0.999 * min(r["tokens_per_s_rounds"]) and r["best_step_mfu"] > 0
    assert all(v > 0 for v in doc["peak_flops_rounds"]["fp32"])
    # Identical weights in both runners: the causal LM losses agree on the same batch.
    assert doc["checks"]["gpt2_loss_parity_abs"] < 1e-4


def test_finetune_speed_json(results):
    from warmstart.strategies import STRATEGIES

    doc = _load(results, "finetune_speed")
    rows = {r["strategy"]: r for r in doc["rows"]}
    assert set(rows) == {"full", "linear_probe", "lora"}
    for name, r in rows.items():
        if name in STRATEGIES:
            assert r["status"] == "measured" and r["samples_per_s"] > 0 and r["peak_rss_mb"] > 0
        else:
            assert r["status"].startswith("pending")
    assert rows["linear_probe"]["params_trained"] < rows["full"]["params_trained"]


def test_data_path_json(results):
    doc = _load(results, "data_path")
    stages = {r["stage"]: r for r in doc["rows"]}
    assert {"tokenize (cold cache)", "cache hit", "pack + collate all batches", "tokenize + pack"} <= set(stages)
    assert all(r["text_mb_per_s"] > 0 for r in doc["rows"]) and doc["n_tokens"] > 0


def test_cli_startup_json(results):
    doc = _load(results, "cli_startup")
    assert doc["help_imports_torch"] is False
    assert {r["command"] for r in doc["rows"]} >= {"warmstart --help", "python -c pass"}


def test_lm_loss_json(results):
    doc = _load(results, "lm_loss")
    variants = {r["variant"] for r in doc["rows"]}
    assert variants == {"whole"} | {f"chunk {c}" for c in doc["chunks"]}  # quick mode: one chunk size, 16
    for r in doc["rows"]:
        assert r["seconds"] > 0 and r["loss_diff_vs_whole"] < 1e-4  # chunked gives the same loss


def test_run_all_summarizes(results):
    run_all = _script("run_all")
    rows = run_all.summary_rows(results)
    assert {r[0] for r in rows} == {"pretrain_speed", "finetune_speed", "data_path", "cli_startup", "lm_loss"}
    md = run_all.markdown(results)
    assert "| gpt2 warmstart fp32 eager |" in md and "| warmstart --help |" in md and "| tiny head |" in md


def test_deploy_json(tmp_path):
    """benchmarks/deploy.py --quick: one row per variant (fp32, ONNX, 3 int8 methods, 3 prunings), the int8
    files smaller than fp32 ONNX, structured pruning with fewer parameters."""
    pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
    pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
    _run_quick(("deploy",), tmp_path)
    doc = _load(tmp_path, "deploy")
    rows = {r["variant"]: r for r in doc["rows"]}
    assert set(rows) == {"fine-tuned fp32 (torch)", "fp32 (onnxruntime)", "dynamic-int8 (onnxruntime)",
                         "dynamic-int8 (torch)", "static-int8 (onnxruntime)", "weight-only-int8 (torch)",
                         "pruned unstructured 50%, 2 recovery steps", "pruned heads 50%, 2 recovery steps",
                         "pruned neurons 50%, 2 recovery steps"}
    for r in rows.values():
        assert r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] and r["batch32_per_s"] > 0 and r["file_mb"] > 0
        assert r["n_test"] == rows["fine-tuned fp32 (torch)"]["n_test"]
    assert rows["fp32 (onnxruntime)"]["delta"] == pytest.approx(0.0)  # the same model, another runtime
    for name in ("dynamic-int8 (onnxruntime)", "static-int8 (onnxruntime)"):
        assert rows[name]["file_mb"] < rows["fp32 (onnxruntime)"]["file_mb"]
    assert rows["weight-only-int8 (torch)"]["file_mb"] < rows["fine-tuned fp32 (torch)"]["file_mb"]
    assert rows["pruned heads 50%, 2 recovery steps"]["params"] < rows["fine-tuned fp32 (torch)"]["params"]
    assert doc["machine"]["load_average"] and "cpu_flags" in doc


def test_bf16_arms_run_only_on_native_bf16_unless_asked():
    bench = _script("pretrain_speed")
    assert bench.bench_precisions(None, quick=False, native_bf16=True) == (["fp32", "bf16"], {})
    precisions, skipped = bench.bench_precisions(None, quick=False, native_bf16=False)
    assert precisions == ["fp32"] and "no native bf16" in skipped["bf16"]
    assert bench.bench_precisions("fp32,bf16", quick=False, native_bf16=False) == (["fp32", "bf16"], {})
    assert bench.bench_precisions(None, quick=True, native_bf16=False) == (["fp32"], {})
    assert bench.paired_ratios([{"tokens_per_s": 6.0}, {"tokens_per_s": 3.0}],
                               [{"tokens_per_s": 2.0}, {"tokens_per_s": 3.0}]) == [3.0, 1.0]


def test_skipped_precisions_reach_the_summary_and_the_readme_table(tmp_path):
    run_all = _script("run_all")
    row = {"arm": "gpt2 warmstart fp32 compiled", "runner": "warmstart", "tokens_per_s": 100.0,
           "ratio_vs_trainer": 1.5, "ratio_rounds": [1.5], "ratio_vs_trainer_compiled": 1.2, "mfu": 0.1,
           "data_wait_frac": 0.01, "best_step_tokens_per_s": 120.0, "best_step_ratio_vs_trainer": 1.6,
           "best_step_mfu": 0.12}
    (tmp_path / "pretrain_speed.json").write_text(json.dumps({
        "threads": 2, "rounds": 1, "timed_steps_per_chunk": 3, "rows": [row], "peak_flops_rounds": {"fp32": [1e11]},
        "skipped": {"bf16": "this CPU has no native bf16"},
        "machine": {"time_utc": "now", "load_average": [0.1]}}))
    rows = run_all.summary_rows(tmp_path)
    assert ["pretrain_speed", "bf16 arms", "skipped: this CPU has no native bf16"] in rows
    assert ["pretrain_speed", "gpt2 warmstart fp32 compiled: x Trainer(torch_compile=True)", "1.20x"] in rows
    md = run_all.markdown(tmp_path)
    assert "bf16 arms skipped: this CPU has no native bf16" in md and "| 1.20 |" in md


def test_gpu_benchmark_cpu_paths(capsys, tmp_path):
    """benchmarks/gpu.py measures only on CUDA; what it computes around that is checked here: the GPT-2-124M
    shape (parameter count), the FLOPs per token it divides by, MFU, its arguments, and its no-GPU message."""
    import torch

    gpu = _script("gpu")
    sys.path.insert(0, str(BENCH))
    try:
        from pretrain_speed import flops_per_token
    finally:
        sys.path.remove(str(BENCH))
    with torch.device("meta"):  # the real shape, without allocating it
        module = gpu.build_module()
    assert sum(p.numel() for p in module.backbone.parameters()) == 124_439_808  # GPT-2 small (its LM head is tied)
    assert sum(p.numel() for p in module.head.parameters()) == 50257  # + our LM head's bias
    L, d, V, T = 12, 768, 50257, 1024
    body = L * (12 * d * d + 13 * d) + 2 * d  # blocks (attention, MLP, 2 LayerNorms) + the final LayerNorm
    assert flops_per_token(module, "causal_lm", 0.0, T) == 6 * (body + (T - 1) / T * V * d) + 12 * L * d * T
    assert gpu.mfu(10_000, 1e9, 2e13) == 0.5
    args = gpu.args_of(["--out", str(tmp_path)])
    assert (args.batch, args.steps, args.warmup, args.arms) == (16, 30, 8, "warmstart,trainer")
    if not torch.cuda.is_available():
        assert gpu.main(["--out", str(tmp_path)]) == 1
        assert "no CUDA GPU on this machine" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_probe_cache_json(tmp_path):
    """benchmarks/probe_cache.py --quick: the three runs of the probe cells, with cached metrics equal to uncached."""
    _run_quick(("probe_cache",), tmp_path)
    doc = _load(tmp_path, "probe_cache")
    assert [r["mode"] for r in doc["rows"]] == ["uncached", "cached, cold", "cached, warm"] and doc["cells"] == 2
    assert all(r["wall_s"] > 0 and r["speedup_vs_uncached"] > 0 for r in doc["rows"])
    assert doc["max_abs_test_diff"] == 0 and doc["fp32_matmul_peak_flops"] > 0
    rows = _script("run_all").summary_rows(tmp_path)
    assert [r[0] for r in rows] == ["probe_cache"] * 3
    assert "| cached, cold |" in _script("run_all").markdown(tmp_path)
