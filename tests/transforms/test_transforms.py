"""Normalizer statistics and persistence; augmentation keeps shapes, is reproducible from the seed,
and each op does what it says."""

import pytest
import torch

from warmstart.config.schema import Augment
from warmstart.errors import CheckpointError
from warmstart.transforms import Normalizer, augment, random_erase, random_shift


def test_normalizer_standardizes_per_channel_and_per_feature():
    images = torch.rand(50, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 2
    norm = Normalizer.fit(images)
    z = norm(images)
    torch.testing.assert_close(z.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert norm.modality == "image" and norm.input_shape == (3, 4, 4)

    vectors = torch.randn(40, 5) * 3 + 7
    vectors[:, 4] = 2.0  # a constant feature keeps std 1 instead of dividing by ~0
    vnorm = Normalizer.fit(vectors, feature_names=list("abcde"))
    assert vnorm.std[4] == 1.0 and torch.isfinite(vnorm(vectors)).all()
    torch.testing.assert_close(vnorm(vectors)[:, :4].mean(0), torch.zeros(4), atol=1e-5, rtol=0)


def test_normalizer_scale_chunks_and_identity():
    raw = torch.randint(0, 17, (300, 1, 8, 8), dtype=torch.uint8)  # digits-like uint8 stored values
    chunked = Normalizer.fit(raw, scale=1 / 16, chunk=64)
    whole = Normalizer.fit(raw.float() / 16)
    assert chunked.mean == pytest.approx(whole.mean, rel=1e-6) and chunked.std == pytest.approx(whole.std, rel=1e-5)
    off = Normalizer.fit(torch.rand(5, 3), enabled=False)
    x = torch.rand(2, 3)
    torch.testing.assert_close(off(x), x)


def test_normalizer_round_trip(tmp_path):
    norm = Normalizer.fit(torch.randn(20, 4), feature_names=["w", "x", "y", "z"])
    norm.save(tmp_path)
    again = Normalizer.load(tmp_path)
    assert again == norm
    with pytest.raises(CheckpointError, match="transforms.json: missing"):
        Normalizer.load(tmp_path / "nowhere")


ALL_IMAGE_OPS = Augment(shift=2, rotate_deg=15, scale=(0.9, 1.2), hflip=True, erase_prob=0.5, drop_prob=0.1,
                        noise_std=0.1)


@pytest.mark.parametrize("shape, cfg", [((6, 3, 8, 8), ALL_IMAGE_OPS),
                                        ((6, 10), Augment(drop_prob=0.2, noise_std=0.3))])
def test_augment_keeps_shape_and_is_seeded(shape, cfg):
    x = torch.randn(shape)
    torch.manual_seed(3)
    a = augment(x, cfg)
    torch.manual_seed(3)
    b = augment(x, cfg)
    torch.manual_seed(4)
    c = augment(x, cfg)
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c) and not torch.equal(a, x)


def test_default_augment_is_the_identity():
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(augment(x, Augment()), x)


def test_hflip_flips_about_half_of_the_images():
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(200, 1, 1, 1)
    out = augment(x, Augment(hflip=True))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.equal(flipped | (out == x).flatten(1).all(1), torch.ones(200, dtype=torch.bool))
    assert 70 < int(flipped.sum()) < 130


def test_shift_moves_pixels_without_inventing_values():
    x = torch.zeros(100, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the centre
    out = random_shift(x, 2)
    pos = out.flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert (out.flatten(1).sum(1) == 1).all()  # still exactly one bright pixel (centre stays inside)
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # offsets differ per image


def test_random_erase_fills_one_rectangle_with_zero():
    x = torch.ones(50, 2, 10, 10)
    out = random_erase(x, prob=1.0, area=(0.1, 0.2))
    erased = out[:, 0] == 0  # (B, H, W)
    assert torch.equal(erased, out[:, 1] == 0)  # the same rectangle in every channel
    frac = erased.flatten(1).float().mean(1)
    assert (frac > 0).all() and (frac <= 0.3).all()
    rows, cols = erased.any(2), erased.any(1)
    assert torch.equal(erased.flatten(1).sum(1), rows.sum(1) * cols.sum(1))  # a rectangle: rows x cols
    assert torch.equal(random_erase(x, prob=0.0, area=(0.1, 0.2)), x)


def test_vector_data_rejects_image_only_ops():
    from warmstart.config.schema import SklearnTableData

    with pytest.raises(ValueError, match="augment.shift is for images"):
        SklearnTableData(augment=Augment(shift=1))
