"""Shared by the compare tests: a tiny masked-LM pretraining run on a synthetic two-sentiment corpus
and a labelled CSV of 100 rows (a 70-example training pool)."""

import random
import shutil

import pytest

from warmstart.config import parse_config

POS = ["great", "love", "good", "happy", "fun", "nice"]
NEG = ["bad", "hate", "awful", "sad", "poor", "ugly"]
FILLER = ["the", "movie", "was", "really", "a", "day", "this", "so", "very", "i", "it", "and"]
TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


def _sentence(rng, words):
    out = rng.choices(FILLER, k=rng.randint(3, 8)) + rng.choices(words, k=2)
    rng.shuffle(out)
    return " ".join(out)


@pytest.fixture(scope="session")
def _tiny_mlm_root(tmp_path_factory):
    from warmstart.workflows import pretrain

    root = tmp_path_factory.mktemp("tiny-mlm")
    rng = random.Random(0)
    (root / "corpus.txt").write_text("\n".join(_sentence(rng, rng.choice([POS, NEG])) for _ in range(300)) + "\n")
    rows = ["text,label"] + [f"{_sentence(rng, POS if lab == 'pos' else NEG)},{lab}"
                             for lab in (rng.choice(["pos", "neg"]) for _ in range(100))]
    (root / "labeled.csv").write_text("\n".join(rows) + "\n")
    cfg = parse_config({
        "run": {"name": "pre", "out_dir": str(root / "runs")},
        "data": {"kind": "corpus", "path": str(root / "corpus.txt"), "max_len": 16, "val_frac": 0.1},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 120},
        "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "objective": {"kind": "masked_lm"}, "schedule": {"kind": "constant"},
        "train": {**TRAIN, "max_steps": 6, "eval_every": 6},
    }, "pretrain", "pre")
    pretrain(cfg, say=lambda *_: None)
    return root


@pytest.fixture(scope="module")
def tiny_mlm_root(_tiny_mlm_root, tmp_path_factory):
    """A private copy per test module of the tiny run + corpus.txt + labeled.csv (runs/pre)."""
    root = tmp_path_factory.mktemp("cmp")
    shutil.copytree(_tiny_mlm_root, root, dirs_exist_ok=True)
    return root
