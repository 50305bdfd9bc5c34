"""Where a run computes: `train.device` resolved to a torch.device, and batches moved onto it.

Weights, optimizer state and checkpoints never depend on it: checkpoints are written from CPU
copies and read onto the CPU, then moved (checkpoint.io), so a run trained on a GPU evaluates,
resumes and exports on a CPU-only machine and vice versa.
"""

from __future__ import annotations

import re

import torch

from warmstart.config.sections.train import DEVICE_PATTERN
from warmstart.errors import ConfigError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(spec: str, local_rank: int | None = None) -> torch.device:
    """train.device -> torch.device. auto = cuda if available, else mps, else cpu. Under torchrun,
    a bare "cuda" (or auto on a GPU machine) means this process's GPU, cuda:LOCAL_RANK."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise ConfigError("train.device: mps is not available on this machine (use auto or cpu)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device: {spec} requested but no CUDA GPU is available "
                          f"(torch {torch.__version__}; use train.device=auto or cpu)")
    index = int(spec.split(":", 1)[1]) if ":" in spec else (local_rank or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"train.device: {spec} requested but this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)


def inference_device(flag: str | None, saved: str, say=print) -> torch.device:
    """Where evaluate/predict run a finished run. `flag` (--device) is taken as asked (a device that
    is not there is a one-line ConfigError); without it, the run's own train.device, falling back to
    the CPU with one note when this machine does not have it (checkpoints are device-free: a GPU
    run evaluates on a CPU-only machine)."""
    if flag is not None:
        if not re.match(DEVICE_PATTERN, flag):
            raise ConfigError(f"--device {flag}: expected auto, cpu, cuda, cuda:N or mps")
        device = resolve_device(flag)
    else:
        try:
            device = resolve_device(saved)
        except ConfigError:
            say(f"note: this run was trained with train.device={saved}, which this machine does not have; "
                "running on the CPU (pass --device to choose)")
            device = torch.device("cpu")
    configure(device)
    return device


def configure(device: torch.device) -> None:
    """Per-device switches: on CUDA, TF32 matmuls and convolutions for fp32 (about 8x the fp32
    matmul rate on Ampere and later, ~1e-3 relative error, as PyTorch's own docs recommend for training)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def to_device(batch: dict, device: torch.device) -> dict:
    """A batch's tensors on `device`. To a GPU, each is copied from pinned (page-locked) host memory
    with non_blocking=True, so the copy overlaps with compute already queued; on the CPU this is a no-op."""
    if device.type == "cpu":
        return batch
    pin = device.type == "cuda"
    return {k: (v.pin_memory() if pin else v).to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def placed(make_batch, device: torch.device, shard=None):
    """make_batch(idx) for a device and (under DDP) a rank: `shard` picks this rank's slice of the
    global batch's indices, and the batch lands on `device`."""
    if shard is None and device.type == "cpu":
        return make_batch

    def make(idx: list[int]) -> dict:
        return to_device(make_batch(shard(idx) if shard is not None else idx), device)

    return make
