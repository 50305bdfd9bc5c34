"""Mixed precision: bf16 autocast on CPU (or CUDA); fp32 is a no-op context. Weights stay fp32."""

from __future__ import annotations

import contextlib

import torch


def autocast(precision: str, device_type: str = "cpu"):
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
