"""Classical baseline cells: the same split and label budget as a fine-tune cell of the same seed,
C chosen on validation, metrics from the fine-tuned cells' ClassificationMetrics, and the files an
ordinary cell writes."""

import json
from collections import Counter

import pytest

from warmstart.config.schema import ClassificationTask, DigitsData
from warmstart.experiments.baselines import C_GRID, BaselineCell, run_baseline
from warmstart.inputs import open_inputs


def test_logreg_on_digits_uses_the_fine_tune_split_and_writes_a_cell(tmp_path):
    data = DigitsData(label_budget=50)
    result = run_baseline(BaselineCell("logreg", str(tmp_path / "cell"), data, ClassificationTask(), 1))
    _, splits = open_inputs(data).read_labeled(1, stratify=True)   # what a fine-tune cell with seed 1 trains on
    assert result["n_labels"] == len(splits.train) == 50 and result["n_pool"] == splits.n_pool
    assert result["test"]["acc"] > 0.7 and set(result["test"]) == {"loss", "acc", "f1"}
    assert "test_by_group" not in result  # no data.group_field
    assert result["baseline"]["C"] in C_GRID and result["params_trained"] == 10 * 64 + 10
    cell = tmp_path / "cell"
    assert json.loads((cell / "result.json").read_text()) == result
    assert json.loads((cell / "metrics.jsonl").read_text().splitlines()[0])["split"] == "test"
    assert json.loads((cell / "config.json").read_text())["model"]["kind"] == "logreg"
    # A finished cell is read back, not refitted.
    (cell / "result.json").write_text(json.dumps({**result, "marker": 1}))
    assert run_baseline(BaselineCell("logreg", str(cell), data, ClassificationTask(), 1))["marker"] == 1


def test_majority_predicts_the_most_frequent_training_class(tmp_path):
    data = DigitsData(classes=[0, 1, 2], label_budget=0.5)
    result = run_baseline(BaselineCell("majority", str(tmp_path / "m"), data, ClassificationTask(), 0))
    _, splits = open_inputs(data).read_labeled(0, stratify=True)
    top = Counter(r["label"] for r in splits.train).most_common(1)[0][0]
    share = sum(r["label"] == top for r in splits.test) / len(splits.test)
    assert result["test"]["acc"] == pytest.approx(share) and result["params_trained"] == 0
