"""GloVe training in PyTorch: a co-occurrence matrix in, word vectors (W + W~) out.

Model and loss (Pennington et al. 2014, eq. 8), over the non-zero cells X_ij only:

    J = sum_ij f(X_ij) * (w_i . w~_j + b_i + b~_j - log X_ij) ** 2,   f(x) = min(1, (x / x_max) ** alpha)

f gives rare (noisy) pairs little weight and caps the weight of very frequent pairs at 1.
Optimisation follows the reference glove.c: parameters start uniform in [-0.5, 0.5] / d_model,
AdaGrad with per-parameter squared-gradient sums that start at 1 (so no step exceeds lr), cells
visited in a fresh random order each epoch, lock-free (Hogwild) worker threads, and the reported
cost is the mean of 0.5 * f * diff ** 2 over the cells. Two differences: cells are processed in
mini-batches of `batch_size` with hand-written gradients (no autograd) and scatter-adds, and AdaGrad
adds the current squared gradient before dividing (the textbook order; glove.c divides by the sum
of the previous ones). The final vectors are W + W~ (glove.c's default `-model 2`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
import torch

from warmstart.errors import DataError, TrainingError


def glove_weights(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """f(x) = (x / x_max) ** alpha for x < x_max, else 1."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


class GloVe:
    """The GloVe parameters and their AdaGrad state; `epoch` runs one pass over the cells."""

    def __init__(self, vocab_size: int, d_model: int, seed: int = 0):
        self.gen = torch.Generator().manual_seed(seed)
        V, D = vocab_size, d_model

        def init(*shape):  # glove.c: uniform in [-0.5, 0.5] / vector size, for vectors and biases alike
            return (torch.rand(*shape, generator=self.gen) - 0.5) / D

        self.W, self.C = init(V, D), init(V, D)  # word and context vectors, (V, D) each
        self.bw, self.bc = init(V), init(V)  # word and context biases, (V,) each
        # AdaGrad accumulators of squared gradients, one per parameter, starting at 1 as in glove.c.
        self.gW, self.gC = torch.ones(V, D), torch.ones(V, D)
        self.gbw, self.gbc = torch.ones(V), torch.ones(V)

    def epoch(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor, f_x: torch.Tensor,
              lr: float, batch_size: int, workers: int = 1) -> float:
        """One pass over all cells in a random order; returns the mean cost 0.5 * f * diff ** 2,
        each cell's cost taken just before its update (as glove.c reports it).

        With workers > 1 the shuffled cells are cut into that many contiguous shards, each trained
        by its own Python thread on the shared parameters without locks (glove.c's Hogwild scheme:
        torch releases the GIL inside each op; concurrent updates of one row may be lost, which is
        rare and harmless for sparse updates). One worker is deterministic for a seed."""
        order = torch.randperm(len(rows), generator=self.gen)
        rows, cols, log_x, f_x = rows[order], cols[order], log_x[order], f_x[order]  # shuffled once; batches are views
        bounds = [len(order) * k // workers for k in range(workers + 1)]
        shards = [(rows[a:b], cols[a:b], log_x[a:b], f_x[a:b]) for a, b in pairwise(bounds)]
        if workers == 1:
            costs = [self._train_shard(*shards[0], lr, batch_size)]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                costs = list(pool.map(lambda shard: self._train_shard(*shard, lr, batch_size), shards))
        return sum(costs) / max(len(order), 1)

    def _train_shard(self, rows, cols, log_x, f_x, lr: float, batch_size: int) -> float:
        """Mini-batch AdaGrad over the cells in the given order; returns the summed cost."""
        cost = 0.0
        for start in range(0, len(rows), batch_size):
            cell = slice(start, start + batch_size)
            i, j = rows[cell], cols[cell]  # (B,) word and context ids
            wi, cj = self.W[i], self.C[j]  # (B, D)
            diff = (wi * cj).sum(1) + self.bw[i] + self.bc[j] - log_x[cell]  # (B,) residual of the fit
            # (B,) d(0.5 f diff^2)/d(prediction); J's factor 2 is absorbed in lr, as in glove.c
            fdiff = f_x[cell] * diff
            cost += 0.5 * float((fdiff * diff).sum())
            grad_w = fdiff[:, None] * cj  # (B, D) dJ/dw_i
            grad_c = fdiff[:, None] * wi  # (B, D) dJ/dw~_j
            self._adagrad(self.W, self.gW, i, grad_w, lr)
            self._adagrad(self.C, self.gC, j, grad_c, lr)
            self._adagrad(self.bw, self.gbw, i, fdiff, lr)
            self._adagrad(self.bc, self.gbc, j, fdiff, lr)
        return cost

    @staticmethod
    def _adagrad(param: torch.Tensor, sq_sum: torch.Tensor, idx: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        """Sparse AdaGrad on the rows `idx`: G += g ** 2, then p -= lr * g / sqrt(G).

        A row that occurs k times in the batch gets all k squared gradients in G before any of its k
        updates is applied (index_add_ sums duplicates), so a frequent word takes k steps, each
        scaled down by the larger G: the batched equivalent of k sequential Hogwild updates."""
        sq_sum.index_add_(0, idx, grad * grad)
        step = sq_sum[idx].rsqrt_().mul_(grad).mul_(-lr)  # in place, and rsqrt * g: cheaper than g / sqrt
        param.index_add_(0, idx, step)

    def vectors(self) -> np.ndarray:
        """W + W~ as float32 (V, D): summing the two views reduces noise (GloVe paper, section 4.2)."""
        return (self.W + self.C).numpy().astype(np.float32, copy=True)


def train_glove(cooc: sp.spmatrix, d_model: int, epochs: int, x_max: float = 10.0, alpha: float = 0.75,
                lr: float = 0.05, batch_size: int = 4096, seed: int = 0, workers: int = 1,
                on_epoch: Callable[[int, float, float], None] | None = None) -> np.ndarray:
    """Fit GloVe to co-occurrence matrix `cooc` (V, V); returns the (V, D) vectors W + W~.

    workers: Hogwild threads (see GloVe.epoch). on_epoch(epoch, cost, seconds) is called after each
    epoch (epoch counts from 1).
    """
    coo = sp.coo_matrix(cooc)
    if coo.nnz == 0:
        raise DataError("corpus: no co-occurring word pairs to train GloVe on (corpus too small or min_count too high)")
    rows = torch.from_numpy(coo.row.astype(np.int64))
    cols = torch.from_numpy(coo.col.astype(np.int64))
    x = torch.from_numpy(coo.data.astype(np.float32))
    log_x, f_x = x.log(), glove_weights(x, x_max, alpha)  # targets and weights are fixed: compute once
    model = GloVe(coo.shape[0], d_model, seed)
    # One intra-op thread: each op touches a few hundred KB, too little to split, and on shared cores
    # OpenMP threads that wait for each other measured 7-15x slower. Parallelism comes from `workers`.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            cost = model.epoch(rows, cols, log_x, f_x, lr, batch_size, workers)
            if not math.isfinite(cost):
                raise TrainingError(f"glove: cost became {cost} in epoch {epoch}; lower objective.lr")
            if on_epoch is not None:
                on_epoch(epoch, cost, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)  # the caller's setting, restored
    return model.vectors()
