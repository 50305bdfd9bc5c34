"""Every task on every image/vector backbone: shapes, gradients into the backbone, loss falls on a fixed batch."""

import pytest
import torch

from warmstart.config.schema import ClassificationTask, RegressionTask, TokenClassificationTask
from warmstart.errors import ConfigError
from warmstart.models import MLPBackbone, ResNetBackbone, ViTBackbone
from warmstart.tasks import build_task, head_info

LABELS = {"classification": ["5", "7", "9", "7"], "regression": [1.0, 2.5, -0.5, 4.0]}
CFGS = {"classification": ClassificationTask(dropout=0.0), "regression": RegressionTask(dropout=0.0)}
BACKBONES = {"resnet": ResNetBackbone.tiny, "vit": ViTBackbone.tiny, "mlp": MLPBackbone.tiny}


@pytest.mark.parametrize("kind", sorted(CFGS))  # the per-example tasks (the others need token sequences)
@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_task_on_vision_backbone(kind, arch, fixed_batch_losses):
    records = [{"index": i, "label": lab} for i, lab in enumerate(LABELS[kind])]
    module = build_task(CFGS[kind], BACKBONES[arch](), head_info(CFGS[kind], records))
    batch = {**module.backbone.example_batch(4), "labels": module.encode_targets(LABELS[kind])}
    out = module(batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.n_items == 4
    assert out.logits.shape == ((4, 3) if kind == "classification" else (4,))
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.backbone.layer_groups()[0])
    module.eval()  # fixed batch: BatchNorm in inference mode
    losses = fixed_batch_losses(module, batch, lr=1e-2)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_token_classification_needs_per_token_features(arch):
    module = build_task(TokenClassificationTask(), BACKBONES[arch](), {"labels": ["O", "B-X", "I-X"], "scheme": "iob2"})
    with pytest.raises(ConfigError, match="no per-token features"):
        module.logits(module.backbone.example_batch(2))
