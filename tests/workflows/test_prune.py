"""prune: unstructured magnitude pruning reaches the target sparsity (and keeps it through recovery),
structured head/neuron pruning really shrinks the layers and reloads, every variant loads through evaluate
and predict; bad inputs fail with one line (exit 2 through the CLI)."""

import json

import pytest
import torch

from warmstart import workflows
from warmstart.cli import main
from warmstart.errors import ConfigError
from warmstart.models.transformer import TransformerBackbone
from warmstart.workflows.prune import prune, prune_structured

TEXTS = ["love it great", "awful bad sad movie", "the day was so very good"]
MODEL = {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 2, "d_model": 32, "n_heads": 4}


@pytest.fixture(scope="module")
def finetuned(tiny_text_csv, tiny_finetune_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prune")
    cfg = tiny_finetune_config(tiny_text_csv, tmp, model=MODEL, optim={"kind": "adamw", "lr": 3e-3},
                               train={"max_steps": 40, "eval_every": 40})
    result = workflows.finetune(cfg, say=lambda *_: None)
    return tmp / "ft", result


def _zero_fraction(run_dir):
    module, _, _ = workflows.load_predictor(run_dir)
    ws = [m.weight for m in module.backbone.modules() if isinstance(m, torch.nn.Linear)]
    return sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws)


def test_unstructured_sparsity_survives_recovery_and_reload(finetuned, tmp_path):
    run, fp32 = finetuned
    assert fp32["test"]["acc"] >= 0.8  # a task the tiny model learns, so accuracy deltas mean something
    out = tmp_path / "p"
    result = prune(run, 0.5, "none", recover_steps=8, out=out, say=lambda *_: None)
    meta = result["prune"]
    assert abs(meta["sparsity_achieved"]["pruned_layers"] - 0.5) < 0.01
    assert abs(_zero_fraction(out) - 0.5) < 0.01  # the recovery trained through fixed masks; saved permanent
    assert meta["test_before"] == fp32["test"] and meta["kept"] in ("recovered", "pruned")
    assert result["test"] == meta[f"test_{meta['kept']}"] and meta["recover_lr"] == pytest.approx(3e-4)
    assert meta["params_after"] == meta["params_before"]
    assert workflows.evaluate(out, "test") == result["test"]
    preds = workflows.predict(out, TEXTS)
    assert len(preds) == 3 and all(p["label"] in ("pos", "neg") for p in preds)
    saved = json.loads((out / "config.json").read_text())
    assert saved["strategy"]["kind"] == "full" and saved["lineage"]["pruned_from"] == str(run.resolve())
    assert (out / "metrics.jsonl").is_file()  # the recovery went through the training loop


@pytest.mark.parametrize("structured", ["heads", "neurons"])
def test_structured_pruning_shrinks_and_reloads(finetuned, tmp_path, structured):
    run, fp32 = finetuned
    out = tmp_path / structured
    result = prune(run, 0.5, structured, out=out, say=lambda *_: None)
    meta = result["prune"]
    assert meta["units_removed"] == 0.5 and meta["params_after"] < meta["params_before"]
    assert meta["linear_macs_per_token_after"] < meta["linear_macs_per_token_before"]
    assert meta["shrunk"] == ({"heads": [2, 2], "d_ff": [128, 128]} if structured == "heads"
                              else {"heads": [4, 4], "d_ff": [64, 64]})
    module, _, _ = workflows.load_predictor(out)  # rebuilt with the shrunk shapes from backbone.json
    assert sum(p.numel() for p in module.parameters()) == meta["params_after"]
    assert workflows.evaluate(out, "test") == result["test"]
    assert len(workflows.predict(out, TEXTS)) == 3
    with pytest.raises(ConfigError, match="cannot describe .* use --format onnx"):
        workflows.export(out, "hf")


def test_head_pruning_keeps_the_kept_heads_outputs():
    """Removing heads whose output columns are zero changes nothing: the sliced layers compute the same function."""
    torch.manual_seed(0)
    backbone = TransformerBackbone.tiny().eval()  # 2 layers, 2 heads of 8
    for block in backbone.encoder_layers():  # head 1 contributes nothing to the attention output
        block.attention.output.dense.weight.data[:, 8:] = 0
    batch = backbone.example_batch(3)
    with torch.no_grad():
        expected = backbone(batch).tokens
        # The magnitude ranking removes head 1 (its output columns weigh nothing).
        removed = prune_structured(backbone, 0.5, "heads")
        got = backbone(batch).tokens
    assert removed == 0.5 and got.shape == expected.shape == (3, 12, 16)
    assert [b.attention.self.query.out_features for b in backbone.encoder_layers()] == [8, 8]
    assert torch.allclose(got, expected, atol=1e-5)
    rebuilt = TransformerBackbone.from_spec(backbone.spec())
    rebuilt.load_state_dict(backbone.state_dict())  # strict: the spec describes the shrunk shapes


def test_prune_bad_inputs(finetuned, tmp_path, capsys, tiny_text_csv, tiny_finetune_config):
    run, _ = finetuned
    for sparsity in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match=f"--sparsity {sparsity}: expected a fraction strictly between 0 and 1"):
            prune(run, sparsity)
    with pytest.raises(ConfigError, match="--structured rows: expected one of none, heads, neurons"):
        prune(run, 0.5, "rows")
    # A backbone without BERT-style encoder layers: structured pruning is refused, unstructured works.
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, run={"name": "gpt"},
                               model={**MODEL, "arch": "gpt2", "n_layers": 1})
    workflows.finetune(cfg, say=lambda *_: None)
    with pytest.raises(ConfigError, match="slices BERT-style encoder layers"):
        prune(tmp_path / "gpt", 0.5, "heads")
    assert not (tmp_path / "gpt-pruned-heads-50").exists()
    # Through the CLI: one line, exit 2 (sparsity outside (0, 1); a run that is not a fine-tune).
    assert main(["prune", str(run), "--sparsity", "2"]) == 2
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "config.json").write_text(
        json.dumps({**json.loads((run / "config.json").read_text()), "verb": "pretrain"}))
    assert main(["prune", str(tmp_path / "pre")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_prune_a_lora_run_merges_the_adapters(tiny_text_csv, tiny_finetune_config, tmp_path):
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, strategy={"kind": "lora", "r": 2, "alpha": 4})
    workflows.finetune(cfg, say=lambda *_: None)
    result = prune(tmp_path / "ft", 0.3, "none", out=tmp_path / "p", say=lambda *_: None)
    assert abs(result["prune"]["sparsity_achieved"]["pruned_layers"] - 0.3) < 0.01  # no adapter layers among them
    assert workflows.evaluate(tmp_path / "p", "test") == result["test"]
    assert abs(_zero_fraction(tmp_path / "p") - 0.3) < 0.01
