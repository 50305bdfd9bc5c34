"""data.kind=task_text (task-adaptive pretraining): the corpus is exactly the training pool of the
fine-tune split of the same file, never a validation or test text; a fine-tune or compare that splits
the file differently gets one warning line with the count of leaked examples."""

import csv
import random

import pytest

from warmstart.config import parse_config
from warmstart.config.schema import LabeledTextData, TaskTextData
from warmstart.data import load_corpus
from warmstart.data.pools import split_mismatch
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    """150 rows, every text unique (so text identity is row identity), 3 classes, a numeric column."""
    rng = random.Random(0)
    words = ["good", "bad", "fine", "movie", "day", "the", "was", "very", "a", "it"]
    path = tmp_path_factory.mktemp("tapt") / "labeled.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["body", "label", "score"])
        for i in range(150):
            w.writerow([" ".join(rng.choices(words, k=5)) + f" row{i}", rng.choice("abc"), f"{rng.random():.3f}"])
    return path


@pytest.mark.parametrize("split, stratify, label", [
    ({}, True, "label"),
    ({"split_seed": 3, "val_frac": 0.15, "test_frac": 0.25}, True, "label"),
    ({"split_seed": 1}, False, "score"),   # a regression fine-tune: unstratified split on a numeric target
])
def test_corpus_is_the_fine_tune_pool_and_never_val_or_test(labeled, split, stratify, label):
    tapt = TaskTextData(path=str(labeled), text_field="body", label_field=label, stratify=stratify, **split)
    corpus = load_corpus(tapt)
    ft = LabeledTextData(path=str(labeled), text_field="body", label_field=label, max_val=5, **split)
    _, splits = open_inputs(ft).read_labeled(seed=7, stratify=stratify)   # exactly as `finetune` reads it
    assert corpus == [r["text"] for r in splits.pool]
    held_out = {r["text"] for r in splits.val + splits.test}
    assert held_out and not set(corpus) & held_out
    full_val = open_inputs(ft.model_copy(update={"max_val": None})).read_labeled(0, stratify)[1].val
    assert not set(corpus) & {r["text"] for r in full_val}    # max_val trims val; the pool does not grow
    assert len(corpus) + len(full_val) + len(splits.test) == 150


def test_task_text_fields_are_checked():
    with pytest.raises(ConfigError, match=r"data: val_frac \+ test_frac must be < 1"):
        parse_config({"data": {"kind": "task_text", "path": "x.csv", "val_frac": 0.6, "test_frac": 0.5},
                      "model": {"kind": "hf", "path": "m"}, "objective": {"kind": "masked_lm"}}, "pretrain", "p.yaml")
    with pytest.raises(ConfigError, match="data.pretrain_val_frac"):
        parse_config({"data": {"kind": "task_text", "path": "x.csv", "pretrain_val_frac": 0},
                      "model": {"kind": "hf", "path": "m"}, "objective": {"kind": "masked_lm"}}, "pretrain", "p.yaml")


def test_split_mismatch_counts_the_leaked_examples(labeled):
    tapt = TaskTextData(path=str(labeled), text_field="body")
    same = LabeledTextData(path=str(labeled), text_field="body")
    assert split_mismatch(tapt, same, True, "runs/tapt") is None
    assert split_mismatch(tapt, same.model_copy(update={"max_val": 3, "label_budget": 10}), True, "r") is None
    assert split_mismatch(tapt, same.model_copy(update={"text_field": "label"}), True, "r") is None  # other text

    other = same.model_copy(update={"split_seed": 5})
    line = split_mismatch(tapt, other, True, "runs/tapt")
    _, splits = open_inputs(other).read_labeled(0, stratify=True)
    corpus = set(load_corpus(tapt))
    n_test = sum(r["text"] in corpus for r in splits.test)
    assert n_test > 0 and "\n" not in line
    assert line.startswith("warning: runs/tapt pretrained on the training pool of ")
    assert "split_seed=0, val_frac=0.1, test_frac=0.2" in line and "split_seed=5" in line
    assert f"{n_test} of its {len(splits.test)} test" in line
    # A regression fine-tune of the same file splits unstratified: a different split, said so.
    assert "unstratified" in split_mismatch(tapt, same, False, "r")


def test_demo_corpus_against_another_demo_split():
    from warmstart.config.schema import DemoCorpusData, DemoSentimentData

    assert split_mismatch(DemoCorpusData(), DemoSentimentData(max_val=500), True, "r") is None
    assert "demo_sentiment" in split_mismatch(DemoCorpusData(), DemoSentimentData(test_frac=0.2), True, "r")
