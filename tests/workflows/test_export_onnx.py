"""export --format onnx: onnxruntime on the exported graph agrees with PyTorch (max abs diff <= 1e-4) on
other batch sizes and sequence lengths than the export's; bad inputs fail with one line."""

import json

import pytest
import torch

from warmstart import workflows
from warmstart.errors import ConfigError

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")

TEXTS = ["love it great", "awful bad sad movie", "the day was so very good", "hate this"]


@pytest.mark.parametrize("task", [{"kind": "classification"}, {"kind": "regression"}])
def test_onnx_matches_pytorch(tiny_text_csv, tiny_finetune_config, tmp_path, task):
    from warmstart.workflows.onnx import ort_logits, ort_session

    data = tiny_text_csv
    if task["kind"] == "regression":  # labels as numbers
        data = tmp_path / "reg.csv"
        data.write_text(tiny_text_csv.read_text().replace(",pos\n", ",7.5\n").replace(",neg\n", ",1.0\n"))
    cfg = tiny_finetune_config(data, tmp_path, task=task, strategy={"kind": "lora", "r": 2, "alpha": 4})
    workflows.finetune(cfg, say=lambda *_: None)
    out = workflows.export(tmp_path / "ft", "onnx", tmp_path / "onnx")
    meta = json.loads((out / "onnx.json").read_text())
    assert meta["parity"]["max_abs_diff"] <= 1e-4 and meta["inputs"] == ["input_ids", "attention_mask"]
    assert (out / "tokenizer.json").is_file()

    # Real texts of several lengths (padded in one batch), through the exported tokenizer files' run.
    module, inputs, _ = workflows.load_predictor(tmp_path / "ft")
    batch = next(iter(workflows.common.ordered_batches(inputs.predict_set(TEXTS), 4)))
    with torch.no_grad():
        expected = module.logits(batch)
    got = ort_logits(ort_session(out / "model.onnx"), batch)
    assert got.shape == expected.shape and float((got - expected).abs().max()) <= 1e-4


def test_onnx_needs_a_finetune(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(Exception) as e:
        workflows.export(tmp_path / "run", "onnx")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="--format nope: expected one of hf, hf-backbone, onnx"):
        workflows.export(tmp_path / "run", "nope")
