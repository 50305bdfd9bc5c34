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


# ---------------------------------------------------------------------------------- tagging


def _tagging_out(labels, gold_rows, pred_rows):
    """A StepOutput whose logits pick pred_rows' tags and whose targets are gold_rows (-100 padded)."""
    idx = {t: i for i, t in enumerate(labels)}
    width = max(len(r) for r in gold_rows)
    targets = torch.full((len(gold_rows), width), -100)
    logits = torch.zeros(len(gold_rows), width, len(labels))
    for b, (g, p) in enumerate(zip(gold_rows, pred_rows, strict=True)):
        targets[b, : len(g)] = torch.tensor([idx[t] for t in g])
        for t, tag in enumerate(p):
            logits[b, t, idx[tag]] = 1.0
    return StepOutput(loss=torch.tensor(0.5), n_items=6, logits=logits, targets=targets)


TAG_LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "I-ORG"]]


def test_tagging_metrics_hand_computed():
    from warmstart.evaluation.metrics import TaggingMetrics

    m = TaggingMetrics(TAG_LABELS, "iob2")
    m.update(_tagging_out(TAG_LABELS, GOLD, PRED))
    out = m.compute()
    # gold: PER(0,2) LOC(3,4) | ORG(0,1); predicted: PER(0,2) PER(3,4) | ORG(0,2): only PER(0,2) matches.
    assert out["precision"] == pytest.approx(1 / 3) and out["recall"] == pytest.approx(1 / 3)
    assert out["f1"] == pytest.approx(1 / 3)
    assert out["token_acc"] == pytest.approx(4 / 6)  # 3 of 4 words, then 1 of 2


def test_tagging_metrics_edge_cases():
    from warmstart.evaluation.metrics import TaggingMetrics

    m = TaggingMetrics(TAG_LABELS, "iob2")
    m.update_tags(["O", "O"], ["O", "O"])  # no entities anywhere: every score 0, accuracy 1
    assert m.compute()["f1"] == 0.0 and m.compute()["token_acc"] == 1.0
    m.update_tags(["B-PER"], ["I-PER"])  # an I- without B- is no entity in strict mode
    assert m.compute()["recall"] == 0.0 and m.compute()["precision"] == 0.0


def test_tagging_metrics_equal_seqeval_strict():
    import random

    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    from warmstart.evaluation.metrics import TaggingMetrics

    rng = random.Random(1)
    gold = [[rng.choice(TAG_LABELS) for _ in range(rng.randint(1, 8))] for _ in range(60)]
    pred = [[rng.choice(TAG_LABELS) for _ in g] for g in gold]
    m = TaggingMetrics(TAG_LABELS, "iob2")
    for g, p in zip(gold, pred, strict=True):
        m.update_tags(g, p)
    out = m.compute()
    kw = {"mode": "strict", "scheme": IOB2}
    assert out["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred, **kw))
    assert out["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred, **kw))
    assert out["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred, **kw))
    assert out["token_acc"] == pytest.approx(seqeval_metrics.accuracy_score(gold, pred))
