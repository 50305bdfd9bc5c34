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


def test_export_and_quantize_print_no_third_party_chatter(tiny_text_csv, tiny_finetune_config, tmp_path, capfd):
    """torch.onnx logs 'torchvision is not installed. Skipping torchvision::nms' (x4) per export and
    onnxruntime's quantizer 'Please consider to run pre-processing': none of it reaches the user."""
    import logging

    from warmstart.workflows.quantize import quantize

    workflows.finetune(tiny_finetune_config(tiny_text_csv, tmp_path), say=lambda *_: None)
    capfd.readouterr()
    workflows.export(tmp_path / "ft", "onnx", tmp_path / "onnx")
    quantize(tmp_path / "ft", "dynamic-int8", out=tmp_path / "q", say=lambda *_: None)
    err = capfd.readouterr().err
    assert "torchvision" not in err and "pre-processing" not in err, err
    assert logging.root.manager.disable == logging.NOTSET  # logging restored afterwards


def test_onnx_needs_a_finetune(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(Exception) as e:
        workflows.export(tmp_path / "run", "onnx")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="--format nope: expected one of hf, hf-backbone, onnx"):
        workflows.export(tmp_path / "run", "nope")


def test_onnx_token_classification(tmp_path):
    """(B, T, C) tag logits: parity on real sentences of several lengths; a quantized tagger predicts through
    evaluate and predict (OnnxTask hands the logits to the task's own decoding)."""
    import random

    from warmstart.config.schema import FinetuneConfig
    from warmstart.workflows.onnx import ort_logits, ort_session
    from warmstart.workflows.quantize import quantize

    rng = random.Random(0)
    rows = []
    for _ in range(60):
        tokens = rng.choices(["we", "saw", "it", "in", "the", "park"], k=rng.randint(2, 5))
        tokens.append(rng.choice(["Oslo", "Lima"]))
        rows.append(json.dumps({"tokens": tokens, "tags": ["O"] * (len(tokens) - 1) + ["B-LOC"]}))
    (tmp_path / "tagged.jsonl").write_text("\n".join(rows) + "\n")
    cfg = FinetuneConfig.model_validate({
        "run": {"name": "tag", "out_dir": str(tmp_path)},
        "data": {"kind": "tagged_text", "path": str(tmp_path / "tagged.jsonl"), "format": "jsonl", "max_len": 16},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 100},
        "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "task": {"kind": "token_classification"}, "optim": {"kind": "adamw", "lr": 3e-3},
        "train": {"max_steps": 20, "batch_size": 8, "eval_every": 20, "progress": False},
    })
    workflows.finetune(cfg, say=lambda *_: None)
    run = tmp_path / "tag"
    out = workflows.export(run, "onnx", tmp_path / "onnx")
    meta = json.loads((out / "onnx.json").read_text())
    assert meta["task"] == "token_classification" and meta["parity"]["max_abs_diff"] <= 1e-4

    sentences = ["we saw Oslo", "in the park it we saw Lima", "Lima"]
    module, inputs, _ = workflows.load_predictor(run)
    batch = next(iter(workflows.common.ordered_batches(inputs.predict_set(sentences), 3)))
    with torch.no_grad():
        expected = module.logits(batch)  # (3, T, C)
    got = ort_logits(ort_session(out / "model.onnx"), batch)
    assert got.shape == expected.shape and got.dim() == 3 and float((got - expected).abs().max()) <= 1e-4

    result = quantize(run, "dynamic-int8", out=tmp_path / "q", say=lambda *_: None)
    assert workflows.evaluate(tmp_path / "q", "test") == result["test"]
    preds = workflows.predict(tmp_path / "q", sentences)
    assert [len(p["tags"]) for p in preds] == [3, 7, 1]
