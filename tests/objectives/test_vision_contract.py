"""Image and vector objectives (denoising, contrastive, supervised) on every backbone that takes
their inputs: finite loss, n_items > 0, gradients reach the backbone, loss falls on a fixed batch."""

import pytest
import torch

from warmstart.config.schema import Augment, ContrastiveObjective, DenoisingObjective, SupervisedObjective
from warmstart.models import MLPBackbone, ResNetBackbone, ViTBackbone
from warmstart.objectives import OBJECTIVES, build_objective
from warmstart.objectives.contrastive import nt_xent
from warmstart.objectives.denoising import corrupt

TEXT_KINDS = {"causal_lm", "masked_lm", "span_corruption"}  # covered by test_contract.py
VISION_CASES = {
    "denoising": DenoisingObjective(d_hidden=32),
    "contrastive": ContrastiveObjective(d_proj=8),
    "supervised": SupervisedObjective(),
}
BACKBONES = {
    "resnet": ResNetBackbone.tiny,
    "vit": ViTBackbone.tiny,
    "mlp_image": lambda: MLPBackbone((1, 8, 8), n_layers=2, d_model=16),
    "mlp_vector": MLPBackbone.tiny,
}


def test_every_objective_is_under_a_contract_test():
    assert set(OBJECTIVES) == TEXT_KINDS | set(VISION_CASES), "add a case for the new objective"


def _batch(backbone):
    batch = backbone.example_batch(8)
    batch["labels"] = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    return batch


@pytest.mark.parametrize("arch", sorted(BACKBONES))
@pytest.mark.parametrize("kind", sorted(VISION_CASES))
def test_vision_objective_contract(kind, arch, fixed_batch_losses):
    backbone = BACKBONES[arch]()
    batch = _batch(backbone)
    shape = tuple(next(iter(v for k, v in batch.items() if k != "labels")).shape[1:])
    module = build_objective(VISION_CASES[kind], backbone, {"input_shape": shape, "labels": ["a", "b", "c"]})
    out = module(batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.n_items > 0
    out.loss.backward()
    first_group = backbone.layer_groups()[0]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in first_group), \
        "no gradient reached the backbone input side"

    module.eval()  # fixed batch: no dropout, BatchNorm in inference mode, same corruption each step
    losses = fixed_batch_losses(module, batch)  # same masks/noise each step: a fixed batch
    assert losses[-1] < losses[0]
    metrics = module.new_metrics()
    metrics.update(out)
    assert metrics.primary in metrics.compute()


def test_nt_xent_prefers_matching_views():
    z = torch.randn(6, 4)
    aligned, acc = nt_xent(z, z + 0.01 * torch.randn(6, 4), temperature=0.2)
    shuffled, _ = nt_xent(z, z[torch.randperm(6)], temperature=0.2)
    assert float(acc) == 1.0 and float(aligned) < float(shuffled)
    # With perfect alignment the loss is the log-sum-exp over the negatives only: >= 0, finite.
    assert torch.isfinite(aligned) and float(aligned) >= 0


def test_contrastive_reports_positive_accuracy_and_counts_both_views():
    module = build_objective(ContrastiveObjective(views=Augment(noise_std=0.1)), ResNetBackbone.tiny(),
                             {"input_shape": (1, 8, 8)})
    out = module(ResNetBackbone.tiny().example_batch(5))
    assert out.n_items == 10 and 0.0 <= out.metrics["pos_acc"] <= 1.0


def test_denoising_corruption_masks_and_noises():
    x = torch.ones(200, 50)
    masked = corrupt(x, noise_std=0.0, mask_prob=0.3)
    assert 0.25 < float((masked == 0).float().mean()) < 0.35
    noisy = corrupt(x, noise_std=0.5, mask_prob=0.0)
    assert abs(float((noisy - x).std()) - 0.5) < 0.02


def test_denoising_reconstructs_the_clean_input():
    # The target is the clean batch: a decoder that outputs it exactly has zero loss.
    module = build_objective(DenoisingObjective(d_hidden=8), MLPBackbone.tiny(), {"input_shape": (10,)})
    batch = MLPBackbone.tiny().example_batch(4)
    with torch.no_grad():
        module.head.net[-1].weight.zero_()
        module.head.net[-1].bias.zero_()
    out = module(batch)
    torch.testing.assert_close(out.loss, (batch["features"] ** 2).mean())


def test_supervised_head_info_round_trip():
    module = build_objective(SupervisedObjective(), ResNetBackbone.tiny(),
                             {"input_shape": (1, 8, 8), "labels": [0, 1, 2, 3, 4]})
    assert module.info() == {"labels": [0, 1, 2, 3, 4]}
    assert module.encode_targets([4, 0]).tolist() == [4, 0]
