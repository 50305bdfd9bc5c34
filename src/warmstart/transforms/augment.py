"""Random augmentation of normalized batches, in plain torch: flips, random affine (rotation and
zoom), random shifts (pad + crop), random erasing, input dropout and Gaussian noise.

Every draw comes from torch's global RNG, which the training loop saves in checkpoints, so a resumed
run augments exactly as an uninterrupted one. Augmentation runs on *normalized* tensors: padding
replicates the border and erasing fills with 0 (the channel mean), so no op needs the statistics.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from warmstart.config.schema import Augment


def augment(x: torch.Tensor, cfg: Augment) -> torch.Tensor:
    """Apply the `Augment` config `cfg` to a batch: (B, C, H, W) images or (B, F) vectors.

    The geometric ops (hflip, rotate/scale, shift, erasing) only exist for images; the schema
    rejects them for vector data. The order is fixed, so the RNG stream is reproducible.
    """
    if x.ndim == 4:
        if cfg.hflip:
            flip = torch.rand(x.shape[0]) < 0.5  # (B,) each image flipped with probability 1/2
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if cfg.rotate_deg > 0 or tuple(cfg.scale) != (1.0, 1.0):
            x = random_affine(x, cfg.rotate_deg, tuple(cfg.scale))
        if cfg.shift > 0:
            x = random_shift(x, cfg.shift)
        if cfg.erase_prob > 0:
            x = random_erase(x, cfg.erase_prob, tuple(cfg.erase_area))
    if cfg.drop_prob > 0:
        # Input dropout without rescaling: dropped values become 0, the normalized mean.
        x = x * (torch.rand_like(x) >= cfg.drop_prob)
    if cfg.noise_std > 0:
        x = x + cfg.noise_std * torch.randn_like(x)
    return x


def random_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Translate each image by an independent integer offset in [-shift, shift] per axis: pad by
    `shift` (replicating the border) and crop a random H x W window (B, C, H, W) -> same shape."""
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")  # (B, C, H+2s, W+2s)
    oy = torch.randint(0, 2 * shift + 1, (b,))
    ox = torch.randint(0, 2 * shift + 1, (b,))
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1) source row per output row
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W) source column per output column
    # Advanced indexing gathers every image's window at once: (B, H, W, C) -> (B, C, H, W).
    return padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows, cols].permute(0, 3, 1, 2)


def random_affine(x: torch.Tensor, rotate_deg: float, scale: tuple[float, float]) -> torch.Tensor:
    """Rotate each image by an angle in [-rotate_deg, rotate_deg] and zoom by a factor in `scale`
    (> 1 zooms in), resampled bilinearly; areas outside the source replicate its border."""
    b = x.shape[0]
    angle = (torch.rand(b) * 2 - 1) * math.radians(rotate_deg)
    zoom = torch.empty(b).uniform_(scale[0], scale[1])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates to input ones, so zooming in by s samples a 1/s window.
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                         torch.stack([sin, cos, torch.zeros(b)], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, prob: float, area: tuple[float, float]) -> torch.Tensor:
    """Random erasing (Zhong et al., 2017): with probability `prob` per image, set one rectangle of
    `area` (fraction of the image, drawn uniformly) and aspect ratio in [1/3, 3] (log-uniform) to 0."""
    b, _, h, w = x.shape
    apply = torch.rand(b) < prob
    frac = torch.empty(b).uniform_(area[0], area[1])
    log_ratio = torch.empty(b).uniform_(math.log(1 / 3), math.log(3))
    ratio = torch.exp(log_ratio)
    eh = torch.sqrt(frac * h * w * ratio).round().clamp(1, h).long()  # rectangle height per image
    ew = torch.sqrt(frac * h * w / ratio).round().clamp(1, w).long()
    top = (torch.rand(b) * (h - eh + 1).float()).floor().long()  # uniform in [0, H - eh]
    left = (torch.rand(b) * (w - ew + 1).float()).floor().long()
    r, c = torch.arange(h), torch.arange(w)
    in_rows = (r[None] >= top[:, None]) & (r[None] < (top + eh)[:, None])  # (B, H)
    in_cols = (c[None] >= left[:, None]) & (c[None] < (left + ew)[:, None])  # (B, W)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]  # (B, H, W)
    return x.masked_fill(mask[:, None], 0.0)
