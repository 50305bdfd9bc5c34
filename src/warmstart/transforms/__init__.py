"""Image and vector preprocessing, the vision twin of tokenizers/: a fitted Normalizer (saved in the
run directory and inherited through `init`, like a tokenizer) and random augmentation of batches.

In: raw pixels scaled to [0, 1] (B, C, H, W) or numeric features (B, F). Out: normalized, optionally
augmented float32 tensors of the same shape.
"""

from warmstart.transforms.augment import augment, random_affine, random_erase, random_shift
from warmstart.transforms.normalize import Normalizer

__all__ = ["Normalizer", "augment", "random_affine", "random_erase", "random_shift"]
