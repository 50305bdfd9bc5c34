"""Toy text for the end-to-end tests: a sentiment-flavoured unlabeled corpus and a labeled CSV."""

import csv
import random

import pytest

WORDS = {"pos": ["great", "love", "good", "happy", "fun", "nice"],
         "neg": ["bad", "hate", "awful", "sad", "poor", "ugly"]}
FILLER = ["the", "movie", "was", "really", "a", "day", "this", "so", "very", "i", "it", "and"]


def _sentence(rng, label):
    words = rng.choices(FILLER, k=rng.randint(3, 8)) + rng.choices(WORDS[label], k=2)
    rng.shuffle(words)
    return " ".join(words)


def write_toy_text(root):
    """root/corpus.txt (400 documents) and root/labeled.csv (200 rows: text, label pos/neg)."""
    rng = random.Random(0)
    (root / "corpus.txt").write_text("\n".join(_sentence(rng, rng.choice(["pos", "neg"])) for _ in range(400)) + "\n")
    with open(root / "labeled.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(200):
            lab = rng.choice(["pos", "neg"])
            w.writerow([_sentence(rng, lab), lab])


@pytest.fixture(scope="module")
def toy_text(tmp_path_factory):
    """A fresh folder per test module holding write_toy_text's two files."""
    root = tmp_path_factory.mktemp("e2e")
    write_toy_text(root)
    return root


def check_compare_and_report(root, metric: str, budgets: tuple[int, ...], run: str = "cmp") -> None:
    """The e2e tail every task shares: `compare` ran both arms at every budget on the task's
    headline metric, and `report` renders it."""
    import json

    from tests.e2e.test_cli import ws

    summary = json.loads((root / "runs" / run / "compare.json").read_text())
    assert summary["metric"] == metric and summary["higher_is_better"] is True
    assert {(c["arm"], c["n_labels"]) for c in summary["cells"]} == {(a, n) for a in ("pretrained", "scratch")
                                                                    for n in budgets}
    out = ws("report", root / "runs" / run).stdout
    assert out.strip().endswith("report.html")
    assert metric in (root / "runs" / run / "report.md").read_text()
