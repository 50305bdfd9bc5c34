"""Splits depend on split_seed only; label budgets are stratified, seeded by the run seed, and nested."""

from collections import Counter

import numpy as np
import pytest

from warmstart.config.schema import LabeledTextData
from warmstart.data import budget_count, split_records, stratified_order
from warmstart.errors import DataError


def _records(n_per_class=(600, 300, 100)):
    labels = [c for c, n in zip("abc", n_per_class, strict=True) for _ in range(n)]
    return [{"text": f"doc {i}", "label": lab} for i, lab in enumerate(labels)]


def _cfg(**kw):
    return LabeledTextData(path="unused.csv", val_frac=0.1, test_frac=0.2, **kw)


def _texts(rs):
    return [r["text"] for r in rs]


def test_split_sizes_disjoint_and_complete():
    records = _records()
    s = split_records(records, _cfg(), seed=0, stratify=True)
    assert (len(s.test), len(s.val), len(s.train), s.n_pool) == (200, 100, 700, 700)
    all_texts = _texts(s.train) + _texts(s.val) + _texts(s.test)
    assert sorted(all_texts) == sorted(_texts(records))  # disjoint and covering


def test_split_depends_only_on_split_seed():
    records = _records()
    a = split_records(records, _cfg(label_budget=50), seed=0, stratify=True)
    b = split_records(records, _cfg(label_budget=50), seed=7, stratify=True)
    assert _texts(a.test) == _texts(b.test) and _texts(a.val) == _texts(b.val)
    assert _texts(a.train) != _texts(b.train)  # the budget subset follows the run seed
    c = split_records(records, _cfg(split_seed=1), seed=0, stratify=True)
    assert _texts(c.test) != _texts(a.test)


def test_splits_are_stratified():
    s = split_records(_records(), _cfg(), seed=0, stratify=True)
    for split, expected in ((s.test, {"a": 120, "b": 60, "c": 20}), (s.val, {"a": 60, "b": 30, "c": 10})):
        counts = Counter(r["label"] for r in split)
        assert all(abs(counts[c] - n) <= 1 for c, n in expected.items()), counts


def test_budget_count_and_fraction():
    records = _records()
    assert len(split_records(records, _cfg(label_budget=30), 0, True).train) == 30
    s = split_records(records, _cfg(label_budget=0.1), 0, True)
    assert len(s.train) == 70 and s.n_pool == 700
    assert budget_count(None, 9) == 9 and budget_count(0.001, 9) == 1 and budget_count(5.0, 9) == 5


def test_budget_is_proportional_and_covers_every_class():
    s = split_records(_records(), _cfg(label_budget=100), seed=3, stratify=True)
    counts = Counter(r["label"] for r in s.train)
    assert abs(counts["a"] - 60) <= 1 and abs(counts["b"] - 30) <= 1 and abs(counts["c"] - 10) <= 1
    tiny = split_records(_records((600, 300, 5)), _cfg(label_budget=3), seed=0, stratify=True)
    assert {r["label"] for r in tiny.train} == {"a", "b", "c"}  # even the rare class gets one


def test_budgets_are_nested_for_one_seed():
    records = _records()
    small = set(_texts(split_records(records, _cfg(label_budget=50), 4, True).train))
    large = set(_texts(split_records(records, _cfg(label_budget=100), 4, True).train))
    assert small < large


def test_budget_larger_than_pool_names_the_field():
    with pytest.raises(DataError, match=r"data.label_budget \(701\) is larger than the training pool \(700 examples\)"):
        split_records(_records(), _cfg(label_budget=701), 0, True)


def test_max_val_caps_validation_deterministically():
    a = split_records(_records(), _cfg(max_val=20), 0, True)
    b = split_records(_records(), _cfg(max_val=20), 5, True)
    assert len(a.val) == 20 and _texts(a.val) == _texts(b.val)
    assert Counter(r["label"] for r in a.val)["a"] >= 10  # still roughly proportional


def test_max_test_caps_test_and_leaves_the_pool_alone():
    full, capped = split_records(_records(), _cfg(), 0, True), split_records(_records(), _cfg(max_test=15), 3, True)
    assert len(capped.test) == 15 and set(_texts(capped.test)) < set(_texts(full.test))
    assert _texts(capped.pool) == _texts(full.pool) and _texts(capped.val) == _texts(full.val)
    assert Counter(r["label"] for r in capped.test)["a"] >= 7  # still roughly proportional


def test_unstratified_split_for_regression_labels():
    records = [{"text": str(i), "label": float(i)} for i in range(50)]
    s = split_records(records, _cfg(label_budget=0.5), seed=0, stratify=False)
    assert (len(s.test), len(s.val), s.n_pool, len(s.train)) == (10, 5, 35, 18)


def test_too_few_records():
    # The message names the file (found by tests/e2e/test_fuzz.py: it said only "data:").
    with pytest.raises(DataError, match=r"^unused.csv: 2 records are too few to split with data.val_frac"):
        split_records(_records((2, 0, 0)), _cfg(), 0, True)


def test_stratified_order_prefixes_are_proportional():
    labels = ["x"] * 80 + ["y"] * 20
    order = stratified_order(labels, np.random.Generator(np.random.PCG64(0)))
    assert sorted(order) == list(range(100))
    assert {labels[i] for i in order[:2]} == {"x", "y"}
    for k in (10, 30, 50):
        n_y = sum(labels[i] == "y" for i in order[:k])
        assert abs(n_y - 0.2 * k) <= 1.5


def test_one_class_in_the_training_pool_is_an_error_with_counts():
    # Issue 17.1: a file whose labels are all one class trained "successfully" to test acc 1.0.
    from warmstart.data.splits import check_classes

    s = split_records(_records((50, 0, 0)), _cfg(), seed=0, stratify=True)
    with pytest.raises(DataError) as e:
        check_classes(s, "one.csv")
    assert str(e.value) == ("one.csv: a classification task needs at least 2 classes in the training pool, "
                            "found 1 ('a' x 35 of 35 examples)")
    assert check_classes(split_records(_records(), _cfg(), seed=0, stratify=True), "x.csv") is None


def test_a_label_budget_that_leaves_a_class_empty_warns():
    from warmstart.data.splits import check_classes

    s = split_records(_records(), _cfg(label_budget=2), seed=0, stratify=True)
    warning = check_classes(s, "x.csv")
    assert warning.startswith("warning: the label budget (2 examples) leaves 1 of 3 classes without a training")
    missing = set("abc") - {r["label"] for r in s.train}
    assert warning.count("'") == 2 and f"({missing.pop()!r})" in warning
    assert check_classes(split_records(_records(), _cfg(label_budget=3), seed=0, stratify=True), "x.csv") is None


@pytest.mark.parametrize("labels, expected", [
    (["1", "2.5", "abc"], "x.csv: a regression task needs a finite number as every label, got 'abc'"),
    (["1", "nan", "inf", 2.0], "x.csv: a regression task needs a finite number as every label, got 'nan' (and 1 more)"),
    ([1, True], "x.csv: a regression task needs a finite number as every label, got True"),
    (["1", "1e400"], "got '1e400'"),
])
def test_regression_targets_must_be_finite_numbers(labels, expected):
    # Found by tests/e2e/test_fuzz.py: 'abc' crashed with a ValueError traceback, and 'nan' trained into
    # "non-finite loss ... lower optim.lr" - blaming the learning rate for the data.
    from warmstart.data.splits import check_targets

    with pytest.raises(DataError) as e:
        check_targets([{"label": v} for v in labels], "x.csv")
    assert expected in str(e.value)
    check_targets([{"label": v} for v in ["1", " 2.5 ", -3, 0.0]], "x.csv")
