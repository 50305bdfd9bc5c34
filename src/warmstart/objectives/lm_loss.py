"""The language-model loss: mean cross-entropy of a vocabulary projection, optionally computed in
chunks of rows so the (N, V) logits never exist whole (objective.loss_chunk).

Whole, the logits, their log-softmax and their gradient are each N x V floats: for GPT-2's 50k
vocabulary at batch 8 x 1024 that is 1.6 GB apiece in fp32. Chunked, each chunk's gradient with
respect to the hidden states, the projection weight and the bias is computed right after its loss
(softmax minus one-hot, two matmuls), and only those gradients are kept for the backward pass: the
peak extra memory is one chunk of logits plus the (V, D) weight gradient. The arithmetic is the same
(three matmuls of N x D x V, one softmax); only the order of work changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # F.cross_entropy's default ignore_index: targets that do not count
AUTO_LOGITS = 2**26  # loss_chunk="auto": chunks of at most this many logits (256 MB in fp32)


def chunk_rows(setting: int | str | None, vocab: int) -> int | None:
    """objective.loss_chunk -> rows per chunk (None = whole)."""
    return max(1, AUTO_LOGITS // vocab) if setting == "auto" else setting


@torch.compiler.disable  # a tensor-to-int read: under torch.compile, a quiet graph break at the end
def count(mask: torch.Tensor) -> int:
    """How many entries of a bool mask are True, as a Python int (a StepOutput's n_items)."""
    return int(mask.sum())


def lm_loss(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
            chunk: int | None = None) -> torch.Tensor:
    """Mean over counted rows of cross-entropy(h @ weight^T + bias, targets).

    h (N, D) hidden states, weight (V, D), bias (V,), targets (N,) with IGNORE for rows that do
    not count. chunk: rows per chunk, or None for one (N, V) logits tensor.
    """
    if chunk is None or h.shape[0] <= chunk:
        return F.cross_entropy(F.linear(h, weight, bias).float(), targets, ignore_index=IGNORE)
    return _chunked(h, weight, bias, targets, chunk)


@torch.compiler.disable  # a Python loop over chunks: it runs eagerly (a graph break under compile)
def _chunked(h, weight, bias, targets, chunk):
    return _ChunkedCrossEntropy.apply(h, weight, bias, targets, chunk)


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, targets, chunk):
        counted = targets != IGNORE
        n = counted.sum()
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if need_b else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], chunk):
            rows = slice(start, start + chunk)
            hc, keep = h[rows], counted[rows]
            tc = targets[rows].clamp(min=0)  # ignored rows pick class 0, then get zero weight
            logits = F.linear(hc, weight, bias).float()  # (c, V)
            lse = torch.logsumexp(logits, dim=-1)
            total += ((lse - logits.gather(1, tc[:, None]).squeeze(1)) * keep).sum()
            if need_h or need_w or need_b:
                g = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
                g[torch.arange(g.shape[0], device=g.device), tc] -= 1.0
                g *= keep[:, None]  # d(sum of row losses) / d logits
                if need_h:
                    grad_h[rows] = g @ weight
                if need_w:
                    grad_w += g.t() @ hc
                if need_b:
                    grad_b += g.sum(0)
        grads = [x / n if x is not None else None for x in (grad_h, grad_w, grad_b)]
        ctx.save_for_backward(*[x if x is not None else torch.empty(0) for x in grads])
        ctx.present = [x is not None for x in grads]
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grads = [g * grad_out if present else None for g, present in zip(ctx.saved_tensors, ctx.present, strict=True)]
        return (*grads, None, None)
