"""Continued pretraining from a Hugging Face checkpoint on a labeled file's training pool (TAPT):
`model: {kind: hf, path: minilm}` resolves the installed package's model (here patched to a tiny
HF-format BERT built by the test), the run keeps the checkpoint's tokenizer, and it serves as a
compare source next to its checkpoint; a fine-tune that splits the file differently is warned."""

import csv
import json
import random

import pytest

from warmstart.config import parse_config

TRAIN = {"max_steps": 3, "batch_size": 8, "eval_every": 3, "eval_batches": 2, "log_every": 1, "progress": False}


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_hf_dir):
    rng = random.Random(0)
    words = {"pos": ["great", "love", "good"], "neg": ["bad", "hate", "awful"]}
    filler = ["the", "movie", "was", "really", "a", "day", "this", "so"]
    root = tmp_path_factory.mktemp("tapt")
    rows = []
    for i in range(100):
        lab = rng.choice(["pos", "neg"])
        rows.append([" ".join(rng.choices(filler, k=4) + rng.choices(words[lab], k=2)) + f" n{i}", lab])
    with open(root / "labeled.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *rows])
    tiny_hf_dir(root / "hf_tiny", [r[0] for r in rows])
    return root


def _pretrain(root, monkeypatch, **data):
    from warmstart.data import packaged
    from warmstart.workflows import pretrain

    monkeypatch.setattr(packaged, "minilm_dir", lambda: root / "hf_tiny")   # `minilm` = this tiny checkpoint
    cfg = parse_config({
        "run": {"name": "tapt", "out_dir": str(root / "runs")},
        "data": {"kind": "task_text", "path": str(root / "labeled.csv"), "max_len": 16, "pretrain_val_frac": 0.1,
                 **data},
        "init": {"hf": "minilm"},   # the spelling of model: {kind: hf, path: minilm}
        "objective": {"kind": "masked_lm"}, "schedule": {"kind": "constant"}, "train": TRAIN,
    }, "pretrain", "tapt.yaml")
    assert cfg.model.kind == "hf" and cfg.init is None
    return pretrain(cfg, overwrite=True, say=lambda *_: None)


def test_continued_hf_run_is_a_compare_source_with_the_checkpoint_tokenizer(root, monkeypatch):
    from transformers import AutoTokenizer

    from warmstart.experiments.compare import compare

    run = _pretrain(root, monkeypatch)
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"] == {"kind": "hf", "path": "minilm", "pretrained_weights": True}
    assert saved["lineage"]["path"] == str(root / "hf_tiny")
    vocab = AutoTokenizer.from_pretrained(str(root / "hf_tiny")).get_vocab()
    assert AutoTokenizer.from_pretrained(str(run / "tokenizer")).get_vocab() == vocab
    result = json.loads((run / "result.json").read_text())
    assert result["steps"] == 3 and result["corpus"]["documents"] == 70   # 100 rows - 10 val - 20 test

    said = []
    cfg = parse_config({
        "run": {"name": "cmp", "out_dir": str(root / "runs")},
        "sources": {"ckpt": {"hf": "minilm"}, "ckpt+tapt": str(run), "scratch": {"scratch": "ckpt"}},
        "label_budgets": [10], "seeds": [0],
        "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
        "schedule": {"kind": "constant"}, "train": {**TRAIN, "eval_batches": None},
    }, "compare", "cmp.yaml")
    out = compare(cfg, say=said.append)
    cells = {c["arm"]: c for c in json.loads((out / "compare.json").read_text())["cells"]}
    assert set(cells) == {"ckpt", "ckpt+tapt", "scratch"} and all(c["status"] == "done" for c in cells.values())
    tapt_cell = out / cells["ckpt+tapt"]["run_dir"]
    assert json.loads((tapt_cell / "config.json").read_text())["lineage"]["init"] == str(run)
    assert AutoTokenizer.from_pretrained(str(tapt_cell / "tokenizer")).get_vocab() == vocab
    assert not any(line.startswith("warning:") for line in said)   # same split as the TAPT run

    # The same compare with another split of the file: one warning line, before any cell runs.
    said.clear()
    other = cfg.model_copy(update={"run": cfg.run.model_copy(update={"name": "cmp2"}),
                                   "data": cfg.data.model_copy(update={"split_seed": 4})})
    compare(other, say=said.append)
    warnings = [line for line in said if line.startswith("warning:")]
    assert len(warnings) == 1 and f"warning: {run} pretrained on the training pool of" in warnings[0]
    assert "split_seed=0" in warnings[0] and "split_seed=4" in warnings[0]


def test_finetune_from_tapt_run_warns_on_another_split(root, monkeypatch, tiny_finetune_config):
    from warmstart.workflows import finetune

    run = _pretrain(root, monkeypatch, split_seed=2)
    base = dict(init=str(run), model=None, tokenizer=None, train={"max_steps": 2, "eval_every": 2})
    for split_seed, warned in ((2, False), (0, True)):
        said = []
        cfg = tiny_finetune_config(root / "labeled.csv", root / "ft", **base,
                                   run={"name": f"ft{split_seed}"},
                                   data={"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16,
                                         "split_seed": split_seed})
        finetune(cfg, overwrite=True, say=said.append)
        assert any(line.startswith(f"warning: {run} pretrained on the training pool") for line in said) == warned


def test_frequency_note_of_a_continued_checkpoint():
    from warmstart.workflows.pretrain import frequency_note

    # The demo's 40-step TAPT of MiniLM (fresh LM head): 1,125 vs 828 for the unigram.
    line = frequency_note(1125.4, 827.5, continued=True)
    assert "ratio 1.36" in line and "too short to judge" in line and "random init" not in line
    assert "random init" in frequency_note(738.5, 687.2)
    assert frequency_note(18.0, 827.5, continued=True).endswith("(unigram; ratio 0.02)")
