"""Image data -> an ImageSet (one uint8/float array of pixels + labels) and {"index", "label"} records.

Sources: scikit-learn's bundled handwritten digits (the embedded default, no download), a folder
with one sub-folder per class (read with Pillow), and .npz arrays. Records index into the array,
so splitting and label budgets reuse data.split_records without copying pixels. Every problem with
a file is a one-line DataError naming it. No torch here.

IMAGE_SOURCES maps the config's image `data.kind` to a reader; `load_images` dispatches on it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from warmstart.data.splits import Splits, budget_count, split_records, stratified_order
from warmstart.data.text import group_value, read_csv
from warmstart.data.vectors import with_groups
from warmstart.errors import ConfigError, DataError

if TYPE_CHECKING:
    from warmstart.config.schema import DigitsData, FinetuneData, ImageFolderData, NpzData

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class ImageSet:
    """All images of a source. `pixels[i] * scale` is image i in [0, 1] (for 8-bit data)."""

    pixels: np.ndarray  # (N, C, H, W) uint8, or float32 for float .npz arrays
    labels: list  # N labels (None for unlabeled data)
    scale: float  # 1/16 for digits, 1/255 for 8-bit images, 1 for float arrays
    source: str  # what to name in messages
    keep: frozenset | None = None  # the `classes` filter: labels to keep (None = all)
    groups: list[str] | None = None  # N groups (image_folder's data.group_file), or None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.pixels.shape[1:])  # (C, H, W)

    def records(self) -> list[dict]:
        """One record per image, every class (the filter applies after splitting)."""
        return with_groups([{"index": i, "label": y} for i, y in enumerate(self.labels)], self.groups)

    def floats(self, indices) -> np.ndarray:
        """Images `indices` as float32 in [0, 1]: (B, C, H, W)."""
        return self.pixels[np.asarray(indices, dtype=np.int64)].astype(np.float32) * np.float32(self.scale)


# ------------------------------------------------------------------------------------- sources


def read_digits(classes: list[int] | None = None) -> ImageSet:
    """scikit-learn's 1,797 handwritten digits: 8x8 grayscale, integer intensities 0-16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    keep = frozenset(classes) if classes is not None else None
    return ImageSet(pixels, [int(y) for y in bunch.target], 1.0 / 16.0, "digits (scikit-learn)", keep)


def read_image_folder(path: str | Path, resize: tuple[int, int] | None = None, color: str = "rgb",
                      classes: list[str] | None = None, group_file: str | Path | None = None) -> ImageSet:
    """A folder of class folders of images. Without `resize`, every image must have one size.

    Every folder is read; a `classes` filter applies after splitting (see split_filtered). With
    `group_file` (a CSV with columns file, group), every image gets its group (per-group metrics)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root}: no class sub-folders (expected one folder of images per class)")
    if classes is not None:
        missing = sorted(set(classes) - {d.name for d in class_dirs})
        if missing:
            raise DataError(f"{root}: data.classes names missing folder(s) {missing}")
    files, labels = [], []
    for d in class_dirs:
        found = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"{d}: class folder has no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
        files += found
        labels += [d.name] * len(found)
    keep = frozenset(classes) if classes is not None else None
    groups = read_group_file(Path(group_file), root, files) if group_file is not None else None
    return ImageSet(_read_files(files, resize, color), labels, 1.0 / 255.0, str(root), keep, groups)


def read_group_file(path: Path, root: Path, files: list[Path]) -> list[str]:
    """The group of each of `files` from a CSV with columns file (a path relative to `root`, e.g.
    cat/001.png) and group. Every image needs exactly one group; a row naming no image is an error."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (data.group_file)")
    wanted = {f.relative_to(root).as_posix(): i for i, f in enumerate(files)}
    groups: list[str | None] = [None] * len(files)
    for line, row in read_csv(path, ["file", "group"])[1]:
        name = Path(row["file"].strip()).as_posix()
        if name not in wanted:
            raise DataError(f"{path}: line {line}: no image {name!r} under {root} (file is a path relative "
                            "to data.path, e.g. CLASS/IMAGE.png)")
        if groups[wanted[name]] is not None:
            raise DataError(f"{path}: line {line}: image {name!r} is listed twice")
        groups[wanted[name]] = group_value(path, line, row["group"], "group")
    missing = [name for name, i in wanted.items() if groups[i] is None]
    if missing:
        raise DataError(f"{path}: no group for {len(missing)} image(s), e.g. {missing[0]!r}; every image needs one")
    return groups


def _read_files(files: list[Path], resize: tuple[int, int] | None, color: str) -> np.ndarray:
    """Decode image files into one uint8 array (N, C, H, W); all the same size unless resized."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if color == "gray" else "RGB"
    arrays, first = [], None
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                if resize is not None:
                    im = im.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)  # PIL takes (W, H)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(f"{f}: cannot read image ({type(e).__name__})") from None
        if first is None:
            first = (f, arr.shape)
        elif arr.shape != first[1]:
            raise DataError(f"{f}: image is {arr.shape[1]}x{arr.shape[0]} but {first[0]} is "
                            f"{first[1][1]}x{first[1][0]}; set data.resize to use images of mixed sizes")
        arrays.append(arr)
    pixels = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    pixels = pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)  # -> (N, C, H, W)
    return np.ascontiguousarray(pixels)


def read_image_files(files: list[Path], resize: tuple[int, int], color: str) -> np.ndarray:
    """Images to predict on, resized to the run's (height, width): float32 (N, C, H, W) in [0, 1]."""
    return _read_files(files, resize, color).astype(np.float32) / np.float32(255.0)


def read_npz(path: str | Path, x_key: str = "x", y_key: str | None = "y", layout: str = "auto") -> ImageSet:
    """Images from a .npz file: x as (N, H, W), (N, C, H, W) or (N, H, W, C); optional labels y."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        with np.load(p, allow_pickle=False) as arrays:
            if x_key not in arrays:
                raise DataError(f"{p}: no array {x_key!r} (has {sorted(arrays.files)})")
            x = arrays[x_key]
            y = None
            if y_key is not None:
                if y_key not in arrays:
                    raise DataError(f"{p}: no array {y_key!r} (has {sorted(arrays.files)}); "
                                    "set data.y_key: null for unlabeled images")
                y = arrays[y_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # e.g. a truncated file
        raise DataError(f"{p}: not a readable .npz file ({type(e).__name__})") from None
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        channels_last = layout == "nhwc" or (layout == "auto" and x.shape[-1] in (1, 3, 4)
                                             and x.shape[1] not in (1, 3, 4))
        if channels_last:
            x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{p}: {x_key} has shape {x.shape}; expected images (N, H, W), (N, C, H, W) or (N, H, W, C)")
    if len(x) == 0:
        raise DataError(f"{p}: {x_key} holds no images")
    if x.dtype == np.uint8:
        pixels, scale = x, 1.0 / 255.0
    elif np.issubdtype(x.dtype, np.number) and not np.iscomplexobj(x):
        pixels, scale = x.astype(np.float32), 1.0
        bad = ~np.isfinite(pixels)
        if bad.any():
            raise DataError(f"{p}: {x_key} has {int(bad.sum())} NaN/inf value(s), "
                            f"first in image {int(np.argwhere(bad)[0][0])}")
    else:
        raise DataError(f"{p}: {x_key} has dtype {x.dtype}; expected uint8 or floating-point pixels")
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise DataError(f"{p}: {y_key} has shape {y.shape}; expected ({len(x)},), one label per image")
    labels = [v.item() for v in y] if y is not None else [None] * len(x)
    return ImageSet(np.ascontiguousarray(pixels), labels, scale, str(p))


def _digits(cfg: DigitsData) -> ImageSet:
    return read_digits(cfg.classes)


def _image_folder(cfg: ImageFolderData) -> ImageSet:
    return read_image_folder(cfg.path, cfg.resize, cfg.color, cfg.classes, cfg.group_file)


def _npz(cfg: NpzData) -> ImageSet:
    return read_npz(cfg.path, cfg.x_key, cfg.y_key, cfg.layout)


IMAGE_SOURCES = {
    "digits": _digits,
    "image_folder": _image_folder,
    "npz": _npz,
}


def load_images(cfg: DigitsData | ImageFolderData | NpzData) -> ImageSet:
    """The ImageSet for an image data section (schema.DigitsData, ImageFolderData or NpzData)."""
    if cfg.kind not in IMAGE_SOURCES:
        raise ConfigError(f"data.kind={cfg.kind!r} is not an image source; expected one of {sorted(IMAGE_SOURCES)}")
    return IMAGE_SOURCES[cfg.kind](cfg)


# -------------------------------------------------------------------------------------- splits


def split_filtered(records: list[dict], keep: frozenset | None, cfg: FinetuneData, seed: int, stratify: bool) -> Splits:
    """Split all records, *then* keep the classes in `keep`, then draw the label budget.

    Splitting before filtering means a class filter never moves an example between train, val and
    test: runs on different class subsets (e.g. pretraining on digits 0-4 or on all digits, then
    fine-tuning on 5-9) share one test set, and none trains on another's val/test examples. The
    budget step matches split_records': the first k of one seeded (stratified) ordering of the
    pool, so budgets stay nested.
    """
    if keep is None:
        return split_records(records, cfg, seed, stratify)
    full = split_records(records, cfg.model_copy(update={"label_budget": None}), seed, stratify)
    train, val, test = ([r for r in part if r["label"] in keep] for part in (full.train, full.val, full.test))
    if not train or not val or not test:
        raise DataError(f"data.classes {sorted(keep, key=str)} leaves an empty split "
                        f"({len(train)} train / {len(val)} val / {len(test)} test examples)")
    k = budget_count(cfg.label_budget, len(train))
    rng = np.random.Generator(np.random.PCG64(seed))
    order = stratified_order([r["label"] for r in train], rng) if stratify else rng.permutation(len(train))
    return Splits(train=[train[i] for i in np.sort(order[:k])], val=val, test=test, n_pool=len(train), pool=train)
