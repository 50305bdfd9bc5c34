"""Mixed precision: bf16 (or, on CUDA, fp16) autocast; fp32 is a no-op context. Weights stay fp32.

On the CPU, "auto" picks bf16 only where bf16 matmuls run on native instructions; elsewhere oneDNN
emulates them and autocast would be slower than fp32. fp16 is CUDA-only (on these CPUs it is
emulated). On CUDA, "auto" is bf16 where the GPU supports it (Ampere and later), else fp16 with a
GradScaler (fp16's narrow exponent range needs the loss scaled up so small gradients survive).
"""

from __future__ import annotations

import contextlib
import functools

import torch

from warmstart.errors import ConfigError


@functools.cache
def bf16_native() -> bool:
    """True when this CPU has native bf16 dot products (AVX512-BF16 or AMX), as oneDNN reports it."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve(precision: str, device_type: str = "cpu") -> str:
    """The precision that actually runs on `device_type`: "fp32", "bf16" or "fp16"."""
    if precision == "auto":
        if device_type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device_type == "cpu" and bf16_native() else "fp32"
    if precision == "fp16" and device_type != "cuda":
        raise ConfigError(f"train.precision: fp16 needs a CUDA device (this run is on {device_type}; use bf16 or auto)")
    return precision


def emulation_warning(precision: str, device_type: str = "cpu") -> str | None:
    """One line for an explicit bf16 on a CPU without native bf16 (oneDNN then emulates it, far
    slower than fp32: a loop of 2048^2 bf16 matmuls did not finish in 10 minutes on an AVX2-only
    machine); None otherwise."""
    if precision == "bf16" and device_type == "cpu" and not bf16_native():
        return ("warning: train.precision=bf16 on a CPU without native bf16 (no AVX512-BF16/AMX): it is emulated "
                "and much slower than fp32; use train.precision=auto or fp32")
    return None


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device_type: str = "cpu"):
    dtype = _DTYPES.get(resolve(precision, device_type))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


def grad_scaler(precision: str, device_type: str = "cpu") -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 has fp32's exponent range and needs none)."""
    fp16 = resolve(precision, device_type) == "fp16"
    return torch.amp.GradScaler(device_type if fp16 else "cpu", enabled=fp16)
