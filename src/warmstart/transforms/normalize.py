"""Normalizer: per-channel (images) or per-feature (vectors) standardization, fitted on training
examples and saved as run_dir/transforms.json so that evaluation, prediction and every fine-tune
started from the run see inputs on exactly the scale the backbone was trained on."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from warmstart.checkpoint.io import read_json, write_json_atomic
from warmstart.errors import CheckpointError

FILENAME = "transforms.json"
FORMAT_VERSION = 1


@dataclass
class Normalizer:
    """(x - mean) / std with one statistic per image channel or per feature.

    `input_shape` is (C, H, W) for images or (F,) for vectors: the shape the backbone of the run was
    built for, checked against the data of every run that inherits this normalizer.
    """

    modality: str  # "image" or "vector"
    input_shape: tuple[int, ...]
    mean: list[float]
    std: list[float]
    feature_names: list[str] | None = None  # vectors: column names, so predict can check its input

    @classmethod
    def fit(cls, x: torch.Tensor, enabled: bool = True, feature_names: list[str] | None = None,
            scale: float = 1.0, chunk: int = 4096) -> "Normalizer":
        """Statistics of `x * scale`: (N, C, H, W) images (scaled to [0, 1]) or (N, F) features.

        Sums are accumulated in float64 over chunks, so a large uint8 image set never needs a full
        float copy and the variance does not lose precision. With enabled=False the normalizer is
        the identity (mean 0, std 1) but still records the input shape.
        """
        modality = "image" if x.ndim == 4 else "vector"
        n_stats = x.shape[1]
        if not enabled:
            return cls(modality, tuple(x.shape[1:]), [0.0] * n_stats, [1.0] * n_stats, feature_names)
        total = torch.zeros(n_stats, dtype=torch.float64)
        total_sq = torch.zeros(n_stats, dtype=torch.float64)
        count = 0
        for start in range(0, x.shape[0], chunk):
            part = x[start:start + chunk].double() * scale
            dims = (0, 2, 3) if modality == "image" else (0,)
            total += part.sum(dims)
            total_sq += (part * part).sum(dims)
            count += part.numel() // n_stats
        mean = total / max(count, 1)
        # Population variance E[x^2] - E[x]^2, clamped at 0 against rounding.
        var = (total_sq / max(count, 1) - mean * mean).clamp(min=0.0)
        std = var.sqrt()
        # A constant channel or feature carries no information; dividing by ~0 would blow it up.
        std = torch.where(std < 1e-6, torch.ones_like(std), std)
        return cls(modality, tuple(x.shape[1:]), mean.tolist(), std.tolist(), feature_names)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Standardize a float batch (B, C, H, W) or (B, F)."""
        view = (1, -1, 1, 1) if self.modality == "image" else (1, -1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(view)
        std = torch.tensor(self.std, dtype=torch.float32).view(view)
        return (x - mean) / std

    def save(self, run_dir: str | Path) -> None:
        write_json_atomic(Path(run_dir) / FILENAME, {"format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def load(cls, run_dir: str | Path) -> "Normalizer":
        path = Path(run_dir) / FILENAME
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (the run was not trained on image or vector data)")
        raw = read_json(path)
        if raw.get("format_version", 0) > FORMAT_VERSION:
            raise CheckpointError(f"{path}: format_version {raw['format_version']} "
                                  "is newer than this warmstart supports")
        try:
            return cls(raw["modality"], tuple(raw["input_shape"]), list(raw["mean"]), list(raw["std"]),
                       raw.get("feature_names"))
        except KeyError as e:
            raise CheckpointError(f"{path}: missing field {e}") from None

    def __str__(self) -> str:  # for logs
        return json.dumps({"modality": self.modality, "input_shape": list(self.input_shape)})
