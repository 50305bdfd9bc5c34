"""Dropout whose mask comes from a counter-based hash, for compiled training (train.dropout_rng=hash).

Why: on these CPUs torch's dropout draws one Bernoulli number per element from a sequential
generator, 7-20 ns each. A GPT-style step at context 256 drops ~20M elements (12.6M of them in the
attention probabilities), so under torch.compile the random draws alone were ~30% of the step
(profiled: one fused softmax+dropout kernel took 42 ms per layer, 2.5 ms with the hash).

How: the keep mask of element i is `mix(mix(i ^ k1) + k2) >= p * 2^32`, where mix is a 32-bit
integer finalizer (xor-shift, multiply, twice) and k1, k2 are two fresh 31-bit keys drawn from
torch's generator on every call. It is pure element-wise integer arithmetic, so Inductor fuses it
into the kernel that uses the mask (nothing random is stored, nothing sequential runs); the keys
come from the generator state a checkpoint saves, so a seed reproduces the masks and a resume
continues them, like torch's dropout (compiled runs as a whole match only to ~1e-6). This is
the counter-based scheme GPU dropout uses (Philox), with a cheaper mixer.

Scope: only while torch.compile traces. Eagerly, FastDropout and the attention function below
are torch's own dropout and SDPA, because the hash as separate eager ops is slower than torch's
Bernoulli draws. Attention dropout lives inside HF models' attention functions, not in an
nn.Dropout, so HF models that use SDPA are switched to `attention` (registered with transformers
as WARMSTART_SDPA, mask building identical to SDPA's). Nothing here changes a parameter, buffer or
saved config: HF drops the attention implementation from config.json.
"""

from __future__ import annotations

import torch
from torch import nn

WARMSTART_SDPA = "warmstart_sdpa"
_M32 = 0xFFFFFFFF
_MUL = 0x045D9F3B  # < 2^31, so a 32-bit value times it fits in int64 without overflow


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finalizer on int64 tensors holding values in [0, 2^32)."""
    x = ((x >> 16) ^ x) * _MUL & _M32
    x = ((x >> 16) ^ x) * _MUL & _M32
    return (x >> 16) ^ x


def keep_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> torch.Tensor:
    """A bool mask of `shape`, each element True with probability 1 - p (to within 2^-32)."""
    keys = torch.randint(0, 2**31, (2,), device=device)
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, device=device, dtype=torch.int64).view(shape)
    h = _mix(_mix((i ^ keys[0]) & _M32) + keys[1] & _M32)
    return h >= round(p * 2**32)


def hash_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout (kept elements scaled by 1 / (1 - p)) with a hashed keep mask."""
    if p <= 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    return torch.where(keep_mask(x.shape, p, x.device), x * (1.0 / (1.0 - p)),
                       torch.zeros((), dtype=x.dtype, device=x.device))


class FastDropout(nn.Dropout):
    """nn.Dropout that uses the hashed mask while torch.compile traces it (torch's dropout otherwise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.compiler.is_compiling():
            return hash_dropout(x, self.p)
        return super().forward(x)


def math_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None,
                   dropout: float, scale: float, causal: bool) -> torch.Tensor:
    """softmax(q k^T * scale + mask) with hashed dropout, times v. (B, H, Tq, d) -> (B, H, Tq, d).

    attention_mask: None, a bool mask (True = attend) or an additive float mask, broadcastable to
    (B, H, Tq, Tk); `causal` applies only without a mask. A row with nothing to attend to gets
    uniform weights instead of NaN (its output is padding and never read).
    """
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale  # (B, H, Tq, Tk)
    neg = torch.finfo(scores.dtype).min
    tq, tk = scores.shape[-2:]
    if attention_mask is not None:
        scores = (scores.masked_fill(~attention_mask, neg) if attention_mask.dtype == torch.bool
                  else scores + attention_mask)
    elif causal and tq > 1:
        future = torch.ones(tq, tk, dtype=torch.bool, device=scores.device).triu(tk - tq + 1)
        scores = scores.masked_fill(future, neg)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    return torch.matmul(hash_dropout(probs, dropout), value)


def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
              is_causal: bool | None = None, **kwargs):
    """A transformers attention function: SDPA, except with dropout under torch.compile."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (not (dropout > 0 and module.training and torch.compiler.is_compiling())
            or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = math_attention(query, key, value, attention_mask, dropout, scale, causal)
    return out.transpose(1, 2).contiguous(), None  # (B, Tq, H, d), as transformers' attention functions return


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(WARMSTART_SDPA, attention)
    AttentionMaskInterface.register(WARMSTART_SDPA, sdpa_mask)


def use_fast_dropout(module: nn.Module) -> int:
    """Switch every plain nn.Dropout in `module` to FastDropout and every SDPA transformers model to
    `attention`, in place. Returns how many places now drop with the hash."""
    swapped = 0
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:  # exact type: subclasses may do more than drop
                fast = FastDropout(child.p, child.inplace)
                fast.train(child.training)
                setattr(parent, name, fast)
                swapped += 1
    for m in module.modules():
        config = getattr(m, "config", None)
        if hasattr(m, "set_attn_implementation") and getattr(config, "_attn_implementation", None) == "sdpa":
            _register()
            m.set_attn_implementation(WARMSTART_SDPA)
            swapped += 1
    return swapped
