"""Word-word co-occurrence counts for GloVe: id sequences in, a sparse (V, V) matrix out.

As in GloVe's cooccur.c, a context word d positions away adds 1/d (not 1) to the cell, so near
neighbours count more; windows never cross a document boundary; out-of-vocabulary words were already
dropped, so a window spans the gap they leave. With `symmetric`, every pair is counted both ways
(X is symmetric); otherwise only the left context is counted: X[left word, right word].

Counting is vectorised with NumPy one chunk of documents at a time (each window offset is one
shifted comparison of the chunk with itself) and summed into a SciPy CSR matrix, so memory holds
one chunk's pairs plus the distinct cells.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

# Tokens per chunk: 250k tokens x window 10 x 2 directions = 5M pairs (about 60 MB of int32/float32).
CHUNK_TOKENS = 250_000


def count_cooccurrences(docs: Iterable[list[int]], vocab_size: int, window: int, symmetric: bool = True,
                        chunk_tokens: int = CHUNK_TOKENS) -> sp.csr_matrix:
    """Distance-weighted co-occurrence counts X (float32 CSR, shape (V, V)) of id sequences."""
    total = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    chunk: list[list[int]] = []
    n = 0
    for doc in docs:
        if len(doc) < 2:
            continue  # a single word has no context
        chunk.append(doc)
        n += len(doc)
        if n >= chunk_tokens:
            total = total + _count_chunk(chunk, vocab_size, window, symmetric)
            chunk, n = [], 0
    if chunk:
        total = total + _count_chunk(chunk, vocab_size, window, symmetric)
    total.sum_duplicates()
    return total


def _count_chunk(docs: list[list[int]], vocab_size: int, window: int, symmetric: bool) -> sp.csr_matrix:
    ids = np.fromiter((i for d in docs for i in d), dtype=np.int32, count=sum(map(len, docs)))
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int32), [len(d) for d in docs])  # (N,) document of each token
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        if d >= len(ids):
            break
        same_doc = doc_of[:-d] == doc_of[d:]  # a pair (t, t + d) counts only inside one document
        left, right = ids[:-d][same_doc], ids[d:][same_doc]
        weight = np.full(len(left), 1.0 / d, dtype=np.float32)  # GloVe's distance weighting 1/d
        rows.append(left), cols.append(right), vals.append(weight)
        if symmetric:
            rows.append(right), cols.append(left), vals.append(weight)
    if not rows:
        return sp.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    # COO -> CSR sums the duplicate (row, col) entries: that is the counting.
    return sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(vocab_size, vocab_size)).tocsr()
