"""Every task: finite loss, n_items, gradients into the backbone, loss falls on a fixed batch."""

import pytest
import torch

from warmstart.config.schema import ClassificationTask, RegressionTask, TokenClassificationTask
from warmstart.models.transformer import TransformerBackbone
from warmstart.tasks import TASKS, build_task, head_info

RECORDS = {
    "classification": [{"text": "a", "label": lab} for lab in ["neg", "pos", "neu", "pos"]],
    "regression": [{"text": "a", "label": v} for v in [1.0, 2.5, -0.5, 4.0]],
    "token_classification": [{"text": "a b", "tokens": ["a", "b"], "label": tags}
                             for tags in [["B-PER", "I-PER"], ["O", "B-LOC"], ["O", "O"], ["B-LOC", "O"]]],
}
CFGS = {"classification": ClassificationTask(dropout=0.0), "regression": RegressionTask(dropout=0.0),
        "token_classification": TokenClassificationTask(dropout=0.0)}


def _labeled_batch(kind, module, records):
    """The backbone's example batch with targets: one per example, or for token classification
    one tag per position (the first position, like [CLS], ignored)."""
    batch = module.backbone.example_batch(4)
    if kind != "token_classification":
        return {**batch, "labels": module.encode_targets([r["label"] for r in records])}
    b, t = batch["input_ids"].shape
    labels = torch.randint(0, len(module.labels), (b, t), generator=torch.Generator().manual_seed(0))
    labels[:, 0] = -100
    return {**batch, "labels": labels, "word_labels": labels}


@pytest.mark.parametrize("kind", sorted(TASKS))
@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_task_contract(kind, arch, fixed_batch_losses):
    records = RECORDS[kind]
    module = build_task(CFGS[kind], TransformerBackbone.tiny(arch), head_info(CFGS[kind], records))
    batch = _labeled_batch(kind, module, records)
    out = module(batch)
    n_items = int((batch["labels"] != -100).sum()) if batch["labels"].ndim == 2 else 4
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.n_items == n_items
    out.loss.backward()
    assert module.backbone.input_embeddings().weight.grad.abs().sum() > 0
    losses = fixed_batch_losses(module, batch, lr=1e-2)
    assert losses[-1] < losses[0]
    metrics = module.new_metrics()
    metrics.update(module(batch))
    assert metrics.primary in metrics.compute()


def test_regression_standardizes_and_reports_original_units():
    info = head_info(RegressionTask(), RECORDS["regression"])
    assert info["mean"] == pytest.approx(1.75)
    module = build_task(RegressionTask(dropout=0.0), TransformerBackbone.tiny("bert"), info)
    batch = {**module.backbone.example_batch(4), "labels": torch.tensor([1.0, 2.5, -0.5, 4.0])}
    out = module(batch)
    z = module.head(module.backbone(batch).pooled).squeeze(-1)
    torch.testing.assert_close(out.logits, z.detach() * info["std"] + info["mean"])
