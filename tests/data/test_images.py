"""Image sources (digits, class folders via Pillow, .npz), their one-line errors, and the split
that filters classes after splitting (source/target runs share one test set)."""

import numpy as np
import pytest
from PIL import Image

from warmstart.config.schema import DigitsData, ImageFolderData
from warmstart.data.images import read_digits, read_image_folder, read_npz, split_filtered
from warmstart.data.splits import split_records
from warmstart.errors import DataError


def _png(path, size=(6, 5), value=128, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0]) + ((3,) if mode == "RGB" else ()), value, dtype=np.uint8)
    Image.fromarray(arr, mode).save(path)


def test_digits_are_real_8x8_images_with_ten_classes():
    images = read_digits()
    assert images.pixels.shape == (1797, 1, 8, 8) and images.pixels.dtype == np.uint8
    assert images.input_shape == (1, 8, 8) and sorted(set(images.labels)) == list(range(10))
    x = images.floats([0, 5])
    assert x.dtype == np.float32 and x.shape == (2, 1, 8, 8) and 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5


def test_image_folder_reads_classes_gray_and_rgb(tmp_path):
    for i in range(3):
        _png(tmp_path / "cat" / f"{i}.png", value=10 * i)
        _png(tmp_path / "dog" / f"{i}.png", value=200)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    gray = read_image_folder(tmp_path, color="gray")
    assert gray.pixels.shape == (6, 1, 5, 6) and gray.labels == ["cat"] * 3 + ["dog"] * 3
    assert gray.scale == pytest.approx(1 / 255) and gray.floats([5]).max() == pytest.approx(200 / 255)
    rgb = read_image_folder(tmp_path, color="rgb", resize=(4, 3))
    assert rgb.pixels.shape == (6, 3, 4, 3)


def test_image_folder_errors_name_the_file(tmp_path):
    _png(tmp_path / "a" / "0.png", size=(6, 5))
    _png(tmp_path / "a" / "1.png", size=(7, 5))
    with pytest.raises(DataError, match=r"1\.png: image is 7x5 but .*0\.png is 6x5; set data\.resize"):
        read_image_folder(tmp_path, color="gray")
    assert read_image_folder(tmp_path, resize=(5, 5), color="gray").pixels.shape == (2, 1, 5, 5)

    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=r"b: class folder has no images"):
        read_image_folder(tmp_path, resize=(5, 5))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        read_image_folder(tmp_path, resize=(5, 5))
    with pytest.raises(DataError, match="no such folder"):
        read_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match=r"data\.classes names missing folder\(s\) \['zebra'\]"):
        read_image_folder(tmp_path, resize=(5, 5), classes=["a", "zebra"])


def test_npz_layouts_dtypes_and_errors(tmp_path):
    nhwc = np.random.default_rng(0).integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", x=nhwc, y=np.arange(4))
    images = read_npz(tmp_path / "nhwc.npz")
    assert images.pixels.shape == (4, 3, 6, 5) and images.labels == [0, 1, 2, 3]
    assert images.scale == pytest.approx(1 / 255)
    np.testing.assert_array_equal(images.pixels[1, 2], nhwc[1, :, :, 2])

    gray = np.random.default_rng(0).random((3, 4, 4)).astype(np.float64)
    np.savez(tmp_path / "gray.npz", pics=gray)
    unlabeled = read_npz(tmp_path / "gray.npz", x_key="pics", y_key=None)
    assert unlabeled.pixels.shape == (3, 1, 4, 4) and unlabeled.pixels.dtype == np.float32
    assert unlabeled.labels == [None] * 3

    gray[1, 2, 3] = np.nan
    np.savez(tmp_path / "nan.npz", x=gray, y=np.arange(3))
    with pytest.raises(DataError, match=r"nan\.npz: x has 1 NaN/inf value\(s\), first in image 1"):
        read_npz(tmp_path / "nan.npz")
    with pytest.raises(DataError, match=r"no array 'y'"):
        read_npz(tmp_path / "gray.npz", x_key="pics")
    np.savez(tmp_path / "short.npz", x=nhwc, y=np.arange(3))
    with pytest.raises(DataError, match=r"one label per image"):
        read_npz(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk\.npz: not a readable \.npz"):
        read_npz(tmp_path / "junk.npz")


def test_class_filter_splits_first_so_subsets_share_the_test_set():
    images = read_digits()
    records = images.records()
    full = split_records(records, DigitsData(), seed=0, stratify=True)
    low = split_filtered(records, frozenset(range(5)), DigitsData(classes=[0, 1, 2, 3, 4]), 0, True)
    high = split_filtered(records, frozenset(range(5, 10)), DigitsData(classes=[5, 6, 7, 8, 9]), 0, True)
    ids = lambda rs: {r["index"] for r in rs}  # noqa: E731
    assert ids(low.test) | ids(high.test) == ids(full.test) and not ids(low.test) & ids(high.test)
    assert ids(low.train) | ids(high.train) == ids(full.train)
    assert {r["label"] for r in high.train} == {5, 6, 7, 8, 9}
    # Pretraining on 0-4 never touches a 5-9 image of any split, nor any test image.
    assert not ids(low.train) & (ids(high.train) | ids(full.test) | ids(full.val))


def test_label_budgets_are_stratified_nested_and_seeded():
    records = read_digits().records()
    keep = frozenset(range(5, 10))

    def budget(k, seed):
        return split_filtered(records, keep, DigitsData(classes=sorted(keep), label_budget=k), seed, True).train

    small, large = budget(10, 0), budget(50, 0)
    assert sorted(r["label"] for r in small) == sorted([5, 6, 7, 8, 9] * 2)  # 2 per class
    assert all(sum(r["label"] == c for r in large) == 10 for c in keep)
    assert {r["index"] for r in small} <= {r["index"] for r in large}  # nested
    assert [r["index"] for r in budget(10, 0)] == [r["index"] for r in small]  # deterministic
    assert [r["index"] for r in budget(10, 1)] != [r["index"] for r in small]  # seed picks the subset
    with pytest.raises(DataError, match="label_budget"):
        budget(100_000, 0)


def test_image_folder_config_rejects_bad_resize():
    with pytest.raises(ValueError, match="resize must be positive"):
        ImageFolderData(path="x", resize=(0, 4))
