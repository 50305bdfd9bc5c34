"""Task losses: class-weighted and label-smoothed cross-entropy, multi-label BCE, MAE and Huber."""

import pytest
import torch
import torch.nn.functional as F

from warmstart.config.schema import ClassificationTask, RegressionTask
from warmstart.errors import ConfigError
from warmstart.models.mlp import MLPBackbone
from warmstart.tasks import build_task, head_info

RECORDS = [{"label": lab} for lab in ["a"] * 6 + ["b"] * 3 + ["c"]]


def _module(cfg, records=RECORDS):
    torch.manual_seed(0)
    return build_task(cfg, MLPBackbone.tiny(), head_info(cfg, records))


def _batch(module, targets):
    return {**module.backbone.example_batch(len(targets)), "labels": targets}


def test_balanced_and_explicit_class_weights():
    info = head_info(ClassificationTask(class_weights="balanced"), RECORDS)
    assert info["class_weights"] == pytest.approx([10 / (3 * 6), 10 / (3 * 3), 10 / 3])
    info = head_info(ClassificationTask(class_weights={"c": 5.0}), RECORDS)
    assert info["class_weights"] == [1.0, 1.0, 5.0]
    with pytest.raises(ConfigError, match="class_weights: unknown labels"):
        head_info(ClassificationTask(class_weights={"z": 2.0}), RECORDS)


def test_weighted_smoothed_cross_entropy_is_a_per_example_sum_over_batch_size():
    cfg = ClassificationTask(class_weights={"c": 5.0}, label_smoothing=0.1, dropout=0.0)
    module = _module(cfg)
    y = torch.tensor([0, 2, 1, 2])
    out = module(_batch(module, y))
    logits = out.logits
    w = torch.tensor([1.0, 1.0, 5.0])
    expected = F.cross_entropy(logits, y, weight=w, label_smoothing=0.1, reduction="none").sum() / 4
    torch.testing.assert_close(out.loss, expected)
    # Accumulation stays exact: the halves' losses weighted by n_items sum to the whole batch's.
    batch = _batch(module, y)
    parts = [module({k: v[sl] for k, v in batch.items()}) for sl in (slice(0, 1), slice(1, 4))]
    torch.testing.assert_close(module(batch).loss * 4, sum(p.loss * p.n_items for p in parts))


def test_multilabel_bce_metrics_and_decode():
    records = [{"label": "x|y"}, {"label": "y"}, {"label": "z|x"}]
    cfg = ClassificationTask(multilabel=True, dropout=0.0)
    module = _module(cfg, records)
    assert module.labels == ["x", "y", "z"]
    y = module.encode_targets(["x|y", "z"])
    assert y.tolist() == [[1, 1, 0], [0, 0, 1]]
    out = module(_batch(module, y))
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, y))
    metrics = module.new_metrics()
    metrics.update(type(out)(loss=out.loss, n_items=2, logits=torch.tensor([[3.0, -1, -1], [-1, -1, 2]]), targets=y))
    m = metrics.compute()
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1)) and m["subset_acc"] == 0.5
    assert m["label_acc"] == pytest.approx(5 / 6)
    assert module.decode(torch.tensor([[3.0, 1.0, -1.0]])) == ["x|y"]
    with pytest.raises(ValueError, match="label_smoothing applies to single-label"):
        ClassificationTask(multilabel=True, label_smoothing=0.1)


@pytest.mark.parametrize("loss, fn", [("mse", F.mse_loss), ("mae", F.l1_loss),
                                      ("huber", lambda a, b: F.huber_loss(a, b, delta=0.5))])
def test_regression_losses(loss, fn):
    records = [{"label": v} for v in (1.0, 2.0, 3.0, 4.0)]
    module = _module(RegressionTask(loss=loss, huber_delta=0.5, dropout=0.0), records)
    y = torch.tensor([1.0, 5.0, 2.0, 0.0])
    out = module(_batch(module, y))
    z = (out.logits - module.mean) / module.std
    torch.testing.assert_close(out.loss, fn(z, (y - module.mean) / module.std))


def test_multilabel_finetune_and_predict(tiny_text_csv, tiny_finetune_config, tmp_path):
    import csv

    from warmstart import workflows

    rows = list(csv.DictReader(open(tiny_text_csv)))
    path = tmp_path / "ml.csv"
    with open(path, "w", newline="") as f:  # tags: the sentiment, plus "long" for texts of 7+ words
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in rows:
            w.writerow([r["text"], r["label"] + ("|long" if len(r["text"].split()) >= 7 else "")])
    cfg = tiny_finetune_config(path, tmp_path, task={"kind": "classification", "multilabel": True},
                               optim={"kind": "adamw", "lr": 5e-3})
    result = workflows.finetune(cfg, say=lambda *_: None)
    assert set(result["test"]) == {"loss", "f1", "subset_acc", "label_acc"}
    preds = workflows.predict(tmp_path / "ft", ["great love", "bad sad the movie was really so very"])
    assert all(set(p["probs"]) == {"long", "neg", "pos"} and isinstance(p["labels"], list) for p in preds)
