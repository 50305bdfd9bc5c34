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
    """benchmarks/deploy.py --quick: one row per variant, with the int8 files smaller than fp32 ONNX."""
    pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
    pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
    _run_quick(("deploy",), tmp_path)
    doc = _load(tmp_path, "deploy")
    rows = {r["variant"]: r for r in doc["rows"]}
    assert set(rows) == {"fp32 (torch)", "fp32 (onnxruntime)", "dynamic int8 (onnxruntime)", "dynamic int8 (torch.ao)"}
    for r in rows.values():
        assert r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] and r["batch32_per_s"] > 0 and r["file_mb"] > 0
    assert rows["fp32 (onnxruntime)"]["acc_delta"] == pytest.approx(0.0)  # the same model, another runtime
    assert rows["dynamic int8 (onnxruntime)"]["file_mb"] < rows["fp32 (onnxruntime)"]["file_mb"]


@pytest.mark.slow  # three compares of two cells each: about a minute on 2 busy cores
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
