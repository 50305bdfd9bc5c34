"""wordvec.train end to end on a tiny corpus: the run directory, per-epoch metrics, the planted
pair, and a backbone checkpoint + tokenizer that fine-tuning can load."""

import json
from itertools import pairwise

import numpy as np
import pytest
import torch

from warmstart.checkpoint.io import is_valid, latest_checkpoint, load_tensors, read_json
from warmstart.errors import ConfigError, DataError
from warmstart.models.embedding import EmbeddingBackbone
from warmstart.tokenizers.hf import load_tokenizer
from warmstart.wordvec import load_vectors, train

# sample=0: on a 46-word corpus every word counts as "frequent" and would be mostly downsampled away.
TINY = {
    "word2vec": {"kind": "word2vec", "d_model": 16, "min_count": 2, "epochs": 15, "workers": 1, "window": 3,
                 "sample": 0},
    "fasttext": {"kind": "fasttext", "d_model": 16, "min_count": 2, "epochs": 15, "workers": 1, "window": 3,
                 "bucket": 2000, "sample": 0},
    "glove": {"kind": "glove", "d_model": 16, "min_count": 2, "epochs": 15, "workers": 1, "window": 3,
              "batch_size": 256},
}


def _cos(vectors, words, a, b):
    va, vb = vectors[words.index(a)], vectors[words.index(b)]
    return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))


@pytest.mark.parametrize("kind", sorted(TINY))
def test_train_writes_the_run_and_learns_the_planted_pair(kind, corpus, tmp_path):
    summary = train(TINY[kind], corpus, tmp_path, seed=0)
    for name in ("vectors.safetensors", "vocab.txt", "backbone.json", "metrics.jsonl", "eval.json", "tokenizer"):
        assert (tmp_path / name).exists(), name

    lines = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == list(range(1, 16))
    assert all(ln["split"] == "train" and ln["words_per_s"] > 0 for ln in lines)
    assert all(a["elapsed_s"] <= b["elapsed_s"] for a, b in pairwise(lines))
    if kind == "fasttext":
        assert all(ln["loss"] is None for ln in lines)
    else:
        assert lines[-1]["loss"] < lines[0]["loss"]

    vectors, words = load_vectors(tmp_path)
    assert vectors.shape == (summary["vocab_size"], 16) and words[0] in ("the", "big", "sat", "down")
    planted = _cos(vectors, words, "cat", "dog")
    fillers = [_cos(vectors, words, "cat", f"w{i}") for i in range(40)]
    assert planted > np.mean(fillers) + 0.2 and planted > np.percentile(fillers, 90)
    assert set(json.loads((tmp_path / "eval.json").read_text())) == {"wordsim353", "simlex999", "analogy"}


def test_run_is_a_loadable_backbone_with_its_word_tokenizer(corpus, tmp_path):
    train(TINY["word2vec"], corpus, tmp_path, seed=0)
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt is not None and ckpt.name == "final" and is_valid(ckpt, verify_hashes=True)
    spec = read_json(ckpt / "backbone.json")
    assert spec["kind"] == "embedding" and spec["format_version"] == 1
    backbone = EmbeddingBackbone.from_spec(spec)
    backbone.load_state_dict(load_tensors(ckpt, "backbone"), strict=True)

    tok = load_tokenizer(tmp_path / "tokenizer")
    vectors, words = load_vectors(tmp_path)
    enc = tok(["The big cat sat down"], return_tensors="pt")
    feats = backbone({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    # Mean pooling over the words only ([CLS]/[SEP] are left out): the mean of the word vectors.
    expected = np.mean([vectors[words.index(w)] for w in ["the", "big", "cat", "sat", "down"]], axis=0)
    torch.testing.assert_close(feats.pooled[0], torch.from_numpy(expected), rtol=1e-5, atol=1e-6)


def test_config_and_corpus_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"objective.window: Input should be greater than or equal to 1"):
        train({"kind": "word2vec", "window": 0}, ["a b"], tmp_path)
    with pytest.raises(ConfigError, match="objective.kind"):
        train({"kind": "bert"}, ["a b"], tmp_path)
    with pytest.raises(ConfigError, match=r"min_lr"):
        train({"kind": "word2vec", "lr": 0.01, "min_lr": 0.1}, ["a b"], tmp_path)
    with pytest.raises(DataError, match="no words"):
        train({"kind": "glove"}, ["...", "!!"], tmp_path)
    with pytest.raises(DataError, match="min_count=5"):
        train({"kind": "glove"}, ["a b c"], tmp_path)
    with pytest.raises(DataError, match="min_count=5"):
        train({"kind": "word2vec", "workers": 1}, ["a b c"], tmp_path)
