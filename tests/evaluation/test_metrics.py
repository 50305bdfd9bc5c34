import math

import pytest
import torch

from warmstart.evaluation.metrics import ClassificationMetrics, LMMetrics, RegressionMetrics
from warmstart.types import StepOutput


def _out(logits, targets, loss=1.0):
    return StepOutput(loss=torch.tensor(loss), n_items=len(targets), logits=logits, targets=targets)


def test_classification_streaming_equals_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    torch.manual_seed(0)
    logits, y = torch.randn(100, 3), torch.randint(0, 3, (100,))
    m = ClassificationMetrics(3)
    for i in range(0, 100, 7):  # uneven batches
        m.update(_out(logits[i:i + 7], y[i:i + 7]))
    res = m.compute()
    pred = logits.argmax(-1)
    assert res["acc"] == pytest.approx(accuracy_score(y, pred))
    assert res["f1"] == pytest.approx(f1_score(y, pred, average="macro"))


def test_regression_streaming_equals_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    torch.manual_seed(0)
    pred, y = torch.randn(50), torch.randn(50) * 3 + 1
    m = RegressionMetrics()
    for i in range(0, 50, 8):
        m.update(_out(pred[i:i + 8], y[i:i + 8]))
    res = m.compute()
    assert res["mse"] == pytest.approx(mean_squared_error(y, pred), rel=1e-6)
    assert res["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-6)
    assert res["r2"] == pytest.approx(r2_score(y, pred), rel=1e-6)


def test_lm_loss_is_item_weighted_and_ppl_is_exp():
    m = LMMetrics()
    m.update(StepOutput(loss=torch.tensor(1.0), n_items=10))
    m.update(StepOutput(loss=torch.tensor(3.0), n_items=30))
    res = m.compute()
    assert res["loss"] == pytest.approx(2.5)
    assert res["ppl"] == pytest.approx(math.exp(2.5))
