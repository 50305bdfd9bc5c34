"""quantize: dynamic int8 (onnxruntime, torch), static int8 (onnxruntime QDQ, calibrated) and weight-only
int8 (torch) each write a run directory that evaluate and predict load, with test metrics within a few
points of the fp32 run's on a task it learns; bad inputs fail with one line (exit 2 through the CLI)."""

import json

import pytest
import torch

from warmstart import workflows
from warmstart.cli import main
from warmstart.errors import ConfigError
from warmstart.workflows.quantize import Int8WeightLinear, quantize

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")


@pytest.fixture(scope="module")
def finetuned(tiny_text_csv, tiny_finetune_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quant")
    cfg = tiny_finetune_config(tiny_text_csv, tmp, optim={"kind": "adamw", "lr": 3e-3},
                               train={"max_steps": 30, "eval_every": 30})
    result = workflows.finetune(cfg, say=lambda *_: None)
    assert result["test"]["acc"] >= 0.8  # learned: an accuracy delta means something
    return tmp / "ft", result


@pytest.mark.parametrize("method,backend", [("dynamic-int8", "onnxruntime"), ("dynamic-int8", "torch"),
                                            ("static-int8", None), ("weight-only-int8", None)])
def test_quantized_run_loads_in_evaluate_and_predict(finetuned, tmp_path, method, backend):
    run, fp32 = finetuned
    result = quantize(run, method, backend, tmp_path / "q", say=lambda *_: None)
    out = tmp_path / "q"
    assert abs(result["test"]["acc"] - fp32["test"]["acc"]) <= 0.05 and result["source_test"] == fp32["test"]
    assert workflows.evaluate(out, "test") == result["test"]
    preds = workflows.predict(out, ["love it great", "awful bad sad"])
    ref = workflows.predict(run, ["love it great", "awful bad sad"])
    assert [p["label"] for p in preds] == [p["label"] for p in ref]
    for p, r in zip(preds, ref, strict=True):
        assert max(abs(p["probs"][k] - r["probs"][k]) for k in r["probs"]) < 0.05  # int8 is close, not equal
    meta = json.loads((out / "quantize.json").read_text())
    assert meta["method"] == method
    if meta["backend"] == "onnxruntime":
        assert (out / "model.int8.onnx").is_file() and meta["file_mb"] < meta["fp32_file_mb"]
    else:
        assert meta["state_mb"] < meta["fp32_state_mb"]
    if method == "static-int8":  # activations quantized too: QDQ pairs around the MatMuls, calibrated ranges
        import onnx

        ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops and meta["calibration_examples"] > 0
    if method == "weight-only-int8":
        module, _, _ = workflows.load_predictor(out)
        linears = [m for m in module.modules() if isinstance(m, Int8WeightLinear)]
        assert linears and not any(isinstance(m, torch.nn.Linear) for m in module.modules())
        assert all(m.weight_int8.dtype == torch.int8 for m in linears)


@pytest.mark.parametrize("bf16,k", [(False, 24), (True, 32), (True, 24)])
def test_int8_weight_linear_matches_its_dequantized_weights(bf16, k):
    torch.manual_seed(0)
    linear = torch.nn.Linear(k, 10)
    q = Int8WeightLinear.from_linear(linear, bf16=bf16)
    bf16 = bf16 and k % 16 == 0  # aten's int8 GEMM only for K % 16 == 0 (else it crashes): fp32 fallback
    assert q.bf16 == bf16
    x = torch.randn(2, 5, k)
    dequant = q.weight_int8.float() * q.scale[:, None]
    expected = x @ dequant.T + linear.bias
    # fp32: the dequantized product exactly; bf16 activations (aten's int8 GEMM): to bf16's ~3 digits.
    assert torch.allclose(q(x), expected, atol=1e-5 if not bf16 else 5e-2, rtol=0 if not bf16 else 1e-2)
    # Symmetric per-row rounding: each weight within half a step of its row's scale.
    assert float(((dequant - linear.weight.detach()).abs() / q.scale[:, None]).max()) <= 0.5 + 1e-4


def test_quantize_bad_inputs(finetuned, tmp_path, capsys):
    run, _ = finetuned
    with pytest.raises(ConfigError, match="--method int4: expected one of dynamic-int8, static-int8, weight-only"):
        quantize(run, "int4")
    with pytest.raises(ConfigError, match="--backend tflite"):
        quantize(run, backend="tflite")
    with pytest.raises(ConfigError, match="--backend torch: --method static-int8 runs on onnxruntime"):
        quantize(run, "static-int8", "torch")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        quantize(run, out=tmp_path / "taken")
    # Through the CLI: a quantized run (no weights of its own) and a pretraining run are not fine-tunes.
    quantize(run, "weight-only-int8", out=tmp_path / "q", say=lambda *_: None)
    assert main(["quantize", str(tmp_path / "q"), "--method", "static-int8"]) == 2
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "config.json").write_text(
        json.dumps({**json.loads((run / "config.json").read_text()), "verb": "pretrain"}))
    assert main(["quantize", str(tmp_path / "pre")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"error: {tmp_path / 'q'}: quantize takes a fine-tuning run (this one is an already quantized run)"
    assert len(err) == 2 and err[1].startswith(f"error: {tmp_path / 'pre'}")
