"""Segment pairs for next-sentence prediction (BERT) and sentence-order prediction (ALBERT).

The cached token stream (data.cache.token_ids: every document followed by the separator id) is cut
back into documents, each document into back-to-back segments of seg_len tokens (its ragged tail is
dropped), and the documents into a training part and a held-out tail. Like BERT's, a "sentence" is
any span of contiguous text. Every pair therefore has the same length (no padding), and an anchor
(a segment followed by another in its document) gives the true next pair. Which pair an anchor
makes (true next, random, swapped) is decided per draw by SegmentPairs.pair.
"""

from __future__ import annotations

import numpy as np

from warmstart.errors import DataError


class SegmentPairs:
    """The segments of some documents of a token stream, and the pairs their anchors make.

    starts (N,): offset of each segment in `ids`; doc (N,): its document's number (non-decreasing,
    so a document's segments are consecutive). Anchor i is segment anchors[i], whose successor
    anchors[i] + 1 is in the same document.
    """

    def __init__(self, ids: np.ndarray, starts: np.ndarray, doc: np.ndarray, seg_len: int):
        self.ids, self.starts, self.doc, self.seg_len = ids, starts, doc, seg_len
        self.anchors = np.flatnonzero(doc[:-1] == doc[1:])
        # Each segment's document as a range [first, first + count) of segment numbers, so a segment
        # of *another* document is drawn in one step (see pair).
        _, inverse, counts = np.unique(doc, return_inverse=True, return_counts=True)
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.first, self.count = firsts[inverse], counts[inverse]
        self.n_documents = len(counts)

    def __len__(self) -> int:
        return len(self.anchors)

    def segment(self, k: int) -> np.ndarray:
        """Segment k's tokens, a fresh (seg_len,) int64 array."""
        return np.array(self.ids[self.starts[k] : self.starts[k] + self.seg_len], dtype=np.int64)

    def pair(self, i: int, mode: str, flip: bool, u: float) -> tuple[np.ndarray, np.ndarray, int]:
        """(A, B, label) for anchor i: label 0 = B is A's true next segment; label 1 = the other kind
        of pair, which `flip` asks for. mode "next" (BERT): B is then a uniformly drawn segment of
        another document, the u-th quantile (u in [0, 1)) of those segments. mode "sentence_order"
        (ALBERT): A and B are then the same two consecutive segments, swapped (u is unused)."""
        k = int(self.anchors[i])
        if not flip:
            return self.segment(k), self.segment(k + 1), 0
        if mode == "sentence_order":
            return self.segment(k + 1), self.segment(k), 1
        # Number the segments outside k's document 0 .. n_other - 1 and skip over the document.
        n_other = len(self.starts) - int(self.count[k])
        j = min(int(u * n_other), n_other - 1)
        if j >= self.first[k]:
            j += int(self.count[k])
        return self.segment(k), self.segment(j), 1

    def tokens(self) -> np.ndarray:
        """Every token of every segment (the text the pairs are made of), int64."""
        index = self.starts[:, None] + np.arange(self.seg_len)[None, :]  # (N, seg_len)
        return np.asarray(self.ids, dtype=np.int64)[index.ravel()] if len(self.starts) else np.zeros(0, np.int64)

    def __repr__(self) -> str:
        return (f"SegmentPairs(documents={self.n_documents}, segments={len(self.starts)}, anchors={len(self)}, "
                f"seg_len={self.seg_len})")


def split_segments(ids: np.ndarray, sep_id: int, seg_len: int, val_frac: float,
                   mode: str) -> tuple[SegmentPairs, SegmentPairs]:
    """(train, val) pairs: documents are the spans between separator ids; the last documents, holding
    val_frac of the anchors (at least one), are validation, so no pair crosses the split.

    A corpus whose documents are too short to give both parts an anchor (and, for mode "next", a
    second document to draw random segments from) is a one-line DataError.
    """
    ids_np = np.asarray(ids)
    ends = np.flatnonzero(ids_np == sep_id)
    if len(ends) == 0 or ends[-1] != len(ids_np) - 1:  # a stream without a final separator: its tail is a document
        ends = np.append(ends, len(ids_np))
    begins = np.concatenate([[0], ends[:-1] + 1])
    n_seg = (ends - begins) // seg_len  # (D,) segments per document; documents shorter than seg_len give none
    doc = np.repeat(np.arange(len(n_seg)), n_seg)  # (N,)
    # Offset of each segment: its document's start + seg_len * its rank within the document.
    rank = np.arange(len(doc)) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    starts = begins[doc] + seg_len * rank

    anchors_per_doc = np.maximum(n_seg - 1, 0)
    total = int(anchors_per_doc.sum())
    need_docs = 2 if mode == "next" else 1  # random segments must come from another document of the same part
    problem = (f"corpus: {len(n_seg):,} documents hold {len(doc):,} segments of {seg_len} tokens but only {total:,} "
               f"next-segment pairs")
    hint = ("; next-sentence prediction needs documents at least 2 x (data.max_len - 3) // 2 tokens long (give "
            "longer documents, e.g. data.documents=runs for hebrew_corpus, or lower data.max_len)")
    if total < 2:
        raise DataError(problem + hint)
    # Walk back from the last document until the tail holds enough anchors and documents.
    want = max(1, round(val_frac * total))
    cut, got, docs_with_segments = len(n_seg), 0, 0
    while cut > 0 and (got < want or docs_with_segments < need_docs):
        cut -= 1
        got += int(anchors_per_doc[cut])
        docs_with_segments += int(n_seg[cut] > 0)
    train_docs = n_seg[:cut]
    if int(anchors_per_doc[:cut].sum()) < 1 or int((train_docs > 0).sum()) < need_docs:
        raise DataError(problem + f", too few to hold out {val_frac:g} of them for validation" + hint)
    in_train = doc < cut
    return (SegmentPairs(ids, starts[in_train], doc[in_train], seg_len),
            SegmentPairs(ids, starts[~in_train], doc[~in_train], seg_len))
