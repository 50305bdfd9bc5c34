"""Mixed precision: bf16 autocast on CPU (or CUDA); fp32 is a no-op context. Weights stay fp32.

"auto" picks bf16 only where bf16 matmuls run on native instructions; elsewhere oneDNN emulates
them and autocast would be slower than fp32. fp16 is not offered: on these CPUs it is emulated.
"""

from __future__ import annotations

import contextlib
import functools

import torch


@functools.cache
def bf16_native() -> bool:
    """True when this CPU has native bf16 dot products (AVX512-BF16 or AMX), as oneDNN reports it."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve(precision: str) -> str:
    """The precision that actually runs: "fp32" or "bf16"."""
    if precision == "auto":
        return "bf16" if bf16_native() else "fp32"
    return precision


def autocast(precision: str, device_type: str = "cpu"):
    if resolve(precision) == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
