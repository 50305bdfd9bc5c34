"""Deterministic train/val/test splits and seeded, stratified label-budget subsets.

The split depends only on `split_seed`, so every run of a comparison sees the same test set; the
label budget is then drawn from the training pool with the run seed. Budgets are nested: for one
seed, the 50 examples of budget 50 are among the 100 of budget 100.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from warmstart.errors import DataError

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneData


@dataclass
class Splits:
    """Records of each split. `pool` is the training pool the label budget draws `train` from
    (`n_pool` its size)."""

    train: list
    val: list
    test: list
    n_pool: int
    pool: list | None = None


def check_targets(records: list, source: str) -> None:
    """A regression task needs a finite number as every example's label: a DataError naming
    `source`, the first offending label and how many there are otherwise."""
    bad = [r["label"] for r in records if not _finite_number(r["label"])]
    if bad:
        raise DataError(f"{source}: a regression task needs a finite number as every label, got {bad[0]!r}"
                        + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))


def _finite_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def check_classes(splits: Splits, source: str) -> str | None:
    """A classification task needs at least 2 classes in the training pool: a DataError naming
    `source` and the count of each class otherwise. Returns a warning when the label budget leaves
    a class of the pool without a training example (None when every class is represented)."""
    pool = Counter(r["label"] for r in splits.pool if r["label"] is not None)
    if len(pool) < 2:
        counts = ", ".join(f"{label!r} x {n}" for label, n in pool.most_common()) or "no labels"
        raise DataError(f"{source}: a classification task needs at least 2 classes in the training pool, "
                        f"found {len(pool)} ({counts} of {splits.n_pool} examples)")
    train = Counter(r["label"] for r in splits.train)
    missing = [label for label in pool if label not in train]
    if not missing:
        return None
    shown = ", ".join(repr(label) for label in missing[:5]) + (", ..." if len(missing) > 5 else "")
    return (f"warning: the label budget ({len(splits.train)} examples) leaves {len(missing)} of {len(pool)} classes "
            f"without a training example ({shown}); the model can not learn them (raise data.label_budget)")


def stratified_order(labels: Sequence, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of range(len(labels)) whose every prefix is close to class-proportional.

    Each class is shuffled; its member of rank r gets the key (r + u) / n_class with u ~ U(0, 1), so
    the members of every class are spread evenly over [0, 1) and sorting by key interleaves the classes
    in proportion to their sizes (systematic sampling). One member of each class is moved to the front,
    so any prefix at least as long as the number of classes contains every class.
    """
    groups: dict = {}
    for i, label in enumerate(labels):  # classes in order of first appearance: deterministic
        groups.setdefault(label, []).append(i)
    keys = np.empty(len(labels))
    is_first = np.zeros(len(labels), dtype=bool)
    for members in groups.values():
        members = np.asarray(members)
        rank = rng.permutation(len(members))
        keys[members] = (rank + rng.random(len(members))) / len(members)
        is_first[members[rank == 0]] = True
    # np.lexsort sorts by its last key first: first-of-class members (~is_first == False) lead.
    return np.lexsort((keys, ~is_first))


def _order(labels: Sequence, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    return stratified_order(labels, rng) if stratify else rng.permutation(len(labels))


def budget_count(label_budget: int | float | None, n_pool: int) -> int:
    """How many training examples a label budget means: all (None), a count, or a fraction of the pool."""
    if label_budget is None:
        return n_pool
    if isinstance(label_budget, float) and label_budget < 1:
        count = max(1, round(label_budget * n_pool))  # a fraction never rounds down to zero examples
    else:
        count = int(label_budget)
    if count > n_pool:
        raise DataError(f"data.label_budget ({label_budget}) is larger than the training pool ({n_pool} examples)")
    return count


def split_records(records: list, cfg: FinetuneData, seed: int, stratify: bool) -> Splits:
    """Split records into train/val/test and apply the label budget.

    Args:
        records: dicts with a "label" key (any hashable label when stratify=True).
        cfg: has val_frac, test_frac, split_seed, label_budget, max_val and max_test (config.sections.data._Splits).
        seed: the run seed; it picks the label-budget subset only.
        stratify: keep class proportions in every split and in the budget subset (classification).

    Each split is returned in the records' original order.
    """
    n = len(records)
    # Round to the nearest count, but keep at least one example in val and in test.
    n_test = max(1, round(cfg.test_frac * n))
    n_val = max(1, round(cfg.val_frac * n))
    if n - n_test - n_val < 1:
        source = getattr(cfg, "path", None) or f"data.kind={getattr(cfg, 'kind', '?')}"
        raise DataError(f"{source}: {n} records are too few to split with data.val_frac={cfg.val_frac} "
                        f"and data.test_frac={cfg.test_frac}")
    labels = [r["label"] for r in records] if stratify else [None] * n

    # 1) The split: a function of split_seed only (PCG64 streams are stable across numpy versions).
    order = _order(labels, np.random.Generator(np.random.PCG64(cfg.split_seed)), stratify)
    test_idx, val_idx, pool_idx = order[:n_test], order[n_test : n_test + n_val], np.sort(order[n_test + n_val :])
    if cfg.max_val is not None:
        val_idx = val_idx[: cfg.max_val]  # a prefix of a stratified order is itself stratified
    if cfg.max_test is not None:
        test_idx = test_idx[: cfg.max_test]

    # 2) The label budget: the first k of one seeded ordering of the pool, so budgets are nested.
    k = budget_count(cfg.label_budget, len(pool_idx))
    pool_order = _order([labels[i] for i in pool_idx], np.random.Generator(np.random.PCG64(seed)), stratify)
    train_idx = pool_idx[pool_order[:k]]

    pick = lambda idx: [records[i] for i in np.sort(idx)]  # noqa: E731
    return Splits(train=pick(train_idx), val=pick(val_idx), test=pick(test_idx), n_pool=len(pool_idx),
                  pool=pick(pool_idx))
