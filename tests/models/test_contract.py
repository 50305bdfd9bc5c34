"""Every registered backbone: shapes, layer groups covering each parameter once, safetensors round trip."""

import pytest
import torch

from warmstart.checkpoint.io import save_checkpoint
from warmstart.models import BACKBONES, backbone_json, check_layer_groups, load_backbone


@pytest.mark.parametrize("kind", sorted(BACKBONES))
def test_backbone_contract(kind, tmp_path):
    backbone = BACKBONES[kind].tiny()
    batch = backbone.example_batch(4)
    feats = backbone(batch)
    assert feats.pooled.shape == (4, backbone.feature_dim)
    if feats.tokens is not None:
        assert feats.tokens.shape[:2] == batch["input_ids"].shape
    check_layer_groups(backbone)
    assert len(backbone.layer_groups()) >= 3  # input side, >= 1 block, output side

    # Round trip through a checkpoint: same spec + weights -> identical outputs.
    save_checkpoint(tmp_path, "c", {"backbone": backbone.state_dict()}, {"backbone": backbone_json(backbone)},
                    point_latest=False)
    again = load_backbone(tmp_path / "c")
    backbone.eval(), again.eval()
    torch.testing.assert_close(again(batch).pooled, backbone(batch).pooled, rtol=0, atol=0)


def test_padding_does_not_change_pooled_features():
    bb = BACKBONES["transformer"].tiny("bert").eval()
    ids = torch.randint(5, 64, (1, 6))
    short = bb({"input_ids": ids, "attention_mask": torch.ones_like(ids)}).pooled
    padded_ids = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], 1).long()
    padded = bb({"input_ids": padded_ids, "attention_mask": mask}).pooled
    torch.testing.assert_close(short, padded, rtol=1e-5, atol=1e-5)


def test_incompatible_weights_fail_loudly(tmp_path):
    from warmstart.errors import CheckpointError

    bb = BACKBONES["transformer"].tiny("bert")
    sd = bb.state_dict()
    sd.pop(next(iter(sd)))
    save_checkpoint(tmp_path, "c", {"backbone": sd}, {"backbone": backbone_json(bb)}, point_latest=False)
    with pytest.raises(CheckpointError, match="does not match backbone.json"):
        load_backbone(tmp_path / "c")
