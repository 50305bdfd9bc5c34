"""Classical baselines: arms of a comparison that do not train in the loop.

A baseline cell reads the same data section as a fine-tune cell, with the same seed, so it gets the
same train/val/test split and label-budget subset; it fits a scikit-learn model on the training
examples, picks its regularization on the validation split, and writes an ordinary cell:
config.json, metrics.jsonl (its test line) and result.json with the test metrics computed by the
same ClassificationMetrics as fine-tuned cells. The report needs no special case for it.

BASELINES: tfidf_logreg (text: TF-IDF word 1-2-grams + char 2-5-grams, logistic regression),
logreg (images, vectors: logistic regression on standardized raw pixels/features), majority (any
data: the most frequent training class).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from warmstart.checkpoint.io import read_json, write_json_atomic
from warmstart.evaluation.metrics import ClassificationMetrics, group_summary
from warmstart.types import StepOutput

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)   # inverse regularization strengths tried; the best on val wins


@dataclass(frozen=True)
class BaselineCell:
    """One baseline cell of a comparison (picklable, so cells can run in worker processes)."""

    baseline: str
    run_dir: str
    data: object       # the FinetuneData section, label budget set
    task: object       # the (classification) Task section
    seed: int


# ----------------------------------------------------------------------------- features


def _text_features(train: list[dict], others: list[list[dict]]):
    """TF-IDF of word 1-2-grams and char 2-5-grams (within word boundaries), fitted on the training texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    union = FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)),
    ])
    x_train = union.fit_transform([r["text"] for r in train])
    return x_train, [union.transform([r["text"] for r in rs]) for rs in others]


def _array_features(inputs, train: list[dict], others: list[list[dict]]):
    """Raw pixels or features, flattened and standardized with the training examples' statistics."""
    raw = getattr(inputs.set, "pixels", None)
    raw = raw if raw is not None else inputs.set.features

    def rows(rs):
        idx = np.asarray([r["index"] for r in rs], dtype=np.int64)
        return np.asarray(raw[idx], dtype=np.float64).reshape(len(rs), -1)

    x_train = rows(train)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0   # constant pixels (e.g. digit borders) stay at 0 instead of dividing by 0
    return (x_train - mean) / std, [(rows(rs) - mean) / std for rs in others]


# ----------------------------------------------------------------------------- models


def _metrics(proba: np.ndarray, fitted_classes, classes: list, records: list[dict]) -> ClassificationMetrics:
    """Predicted class probabilities scored by the fine-tuned cells' ClassificationMetrics: loss =
    mean negative log-likelihood, acc, macro-F1, per-class recall. Classes the model never saw in
    training get probability 0 (they cannot be predicted)."""
    index = {c: i for i, c in enumerate(classes)}
    full = np.zeros((len(records), len(classes)))
    full[:, [index[c] for c in fitted_classes]] = proba
    logp = torch.from_numpy(np.log(np.clip(full, 1e-12, 1.0)))
    targets = torch.tensor([index[r["label"]] for r in records])
    metrics = ClassificationMetrics(len(classes))
    loss = torch.nn.functional.nll_loss(logp, targets) if len(records) else torch.tensor(0.0)
    metrics.update(StepOutput(loss=loss, n_items=len(records), logits=logp, targets=targets))
    return metrics


def _scores(proba: np.ndarray, fitted_classes, classes: list, records: list[dict]) -> dict[str, float]:
    return _metrics(proba, fitted_classes, classes, records).compute()


def _scores_by_group(proba: np.ndarray, fitted_classes, classes: list, records: list[dict]) -> dict:
    """The bias check for a baseline: every test metric per group (records' "group", from
    data.group_field or an image folder's group file) and the per-class recall of each group,
    summarized as fine-tuned cells' result.json test_by_group is (evaluation.metrics.group_summary)."""
    groups = {}
    for group in sorted({r["group"] for r in records}):
        rows = [i for i, r in enumerate(records) if r["group"] == group]
        part = [records[i] for i in rows]
        metrics = _metrics(proba[rows], fitted_classes, classes, part)
        groups[group] = {"n": len(part), **metrics.compute(), "recall": metrics.recall_by_class(classes)}
    return group_summary(groups, ClassificationMetrics.primary)


def _majority(train, val, test, classes, features):
    """Predicts the most frequent training class; its 'probabilities' are the training class frequencies."""
    counts = Counter(r["label"] for r in train)
    fitted = sorted(counts, key=lambda c: (-counts[c], classes.index(c)))   # most frequent first: argmax picks it
    freq = np.asarray([counts[c] for c in fitted], dtype=np.float64) / len(train)
    val_scores = _scores(np.tile(freq, (len(val), 1)), fitted, classes, val)
    return val_scores, (np.tile(freq, (len(test), 1)), fitted), {"kind": "majority", "class": str(fitted[0])}, 0


def _logreg(train, val, test, classes, features):
    """Logistic regression; C from C_GRID by validation accuracy (ties: the stronger regularization)."""
    from sklearn.linear_model import LogisticRegression

    y_train = [r["label"] for r in train]
    if len(set(y_train)) < 2:   # one class in the budget: nothing to discriminate
        return _majority(train, val, test, classes, features)
    x_train, (x_val, x_test) = features(train, [val, test])
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        val_scores = _scores(model.predict_proba(x_val), model.classes_, classes, val)
        if best is None or val_scores["acc"] > best[1]["acc"]:
            best = (model, val_scores, c)
    model, val_scores, c = best
    test_proba = (model.predict_proba(x_test), model.classes_)
    return val_scores, test_proba, {"C": c, "C_grid": list(C_GRID)}, int(model.coef_.size + model.intercept_.size)


# Each baseline: (train, val, test records, classes, features) -> (val metrics, (test class probabilities,
# the classes of their columns), what was fitted, parameter count); run_baseline scores the test split.
BASELINES = {"tfidf_logreg": _logreg, "logreg": _logreg, "majority": _majority}


# ----------------------------------------------------------------------------- the cell


def run_baseline(cell: BaselineCell) -> dict:
    """Fit and score one baseline cell (or return its result.json when it already finished)."""
    from warmstart.inputs import open_inputs
    from warmstart.runs import git_sha, version

    run_dir = Path(cell.run_dir)
    if (run_dir / "result.json").is_file():
        return read_json(run_dir / "result.json")
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # The same call a fine-tune cell makes (workflows.finetune.prepare_finetune): same split, same budget subset.
    inputs = open_inputs(cell.data)
    records, splits = inputs.read_labeled(cell.seed, stratify=True)
    classes = sorted({r["label"] for r in records}, key=str)
    if cell.baseline == "tfidf_logreg":
        features = _text_features
    else:
        features = lambda train, others: _array_features(inputs, train, others)  # noqa: E731
    val, (proba, fitted_classes), fitted, n_params = BASELINES[cell.baseline](splits.train, splits.val, splits.test,
                                                                             classes, features)
    test = _scores(proba, fitted_classes, classes, splits.test)
    grouped = getattr(cell.data, "grouped", False)  # data.group_field set: the bias check, per group
    by_group = _scores_by_group(proba, fitted_classes, classes, splits.test) if grouped else None
    seconds = round(time.perf_counter() - start, 3)

    model = {"kind": cell.baseline, **fitted}
    write_json_atomic(run_dir / "config.json", {
        "run": {"name": run_dir.name, "out_dir": str(run_dir.parent), "seed": cell.seed},
        "data": cell.data.model_dump(mode="json"), "task": cell.task.model_dump(mode="json"), "model": model,
        "verb": "baseline", "warmstart_version": version(), "git_sha": git_sha(), "lineage": {"baseline": model}})
    with open(run_dir / "metrics.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"step": 0, "split": "test", **test, "elapsed_s": seconds}) + "\n")
    result = {
        "test": test, "best_val": val, "best_step": 0, "steps": 0, "train_seconds": seconds, "seconds_to_best": seconds,
        "params_trained": n_params, "params_total": n_params, "items_seen": len(splits.train),
        "n_labels": len(splits.train), "n_pool": splits.n_pool, "baseline": model,
    }
    if by_group is not None:  # the bias check, as a fine-tuned cell reports it
        result["test_by_group"] = by_group
    write_json_atomic(run_dir / "result.json", result)
    return result
