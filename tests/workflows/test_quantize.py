"""quantize: dynamic int8 through onnxruntime and torch writes a run directory that evaluate and predict
load, with test metrics near the fp32 run's; bad inputs fail with one line."""

import json

import pytest

from warmstart import workflows
from warmstart.errors import ConfigError
from warmstart.workflows.quantize import quantize

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")


@pytest.fixture(scope="module")
def finetuned(tiny_text_csv, tiny_finetune_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quant")
    cfg = tiny_finetune_config(tiny_text_csv, tmp, train={"max_steps": 30, "eval_every": 30})
    result = workflows.finetune(cfg, say=lambda *_: None)
    return tmp / "ft", result


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_quantized_run_loads_in_evaluate_and_predict(finetuned, tmp_path, backend):
    run, fp32 = finetuned
    result = quantize(run, "dynamic-int8", backend, tmp_path / "q", say=lambda *_: None)
    out = tmp_path / "q"
    assert abs(result["test"]["acc"] - fp32["test"]["acc"]) <= 0.1 and result["source_test"] == fp32["test"]
    assert workflows.evaluate(out, "test") == result["test"]
    preds = workflows.predict(out, ["love it great", "awful bad sad"])
    ref = workflows.predict(run, ["love it great", "awful bad sad"])
    assert [p["label"] for p in preds] == [p["label"] for p in ref]
    for p, r in zip(preds, ref, strict=True):
        assert max(abs(p["probs"][k] - r["probs"][k]) for k in r["probs"]) < 0.05  # int8 is close, not equal
    meta = json.loads((out / "quantize.json").read_text())
    if backend == "onnxruntime":
        assert (out / "model.int8.onnx").is_file() and meta["file_mb"] < meta["fp32_file_mb"]
    else:
        assert meta["state_mb"] < meta["fp32_state_mb"]


def test_quantize_bad_inputs(finetuned, tmp_path):
    run, _ = finetuned
    with pytest.raises(ConfigError, match="--method static-int8: expected one of dynamic-int8"):
        quantize(run, "static-int8")
    with pytest.raises(ConfigError, match="--backend tflite"):
        quantize(run, backend="tflite")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        quantize(run, out=tmp_path / "taken")
