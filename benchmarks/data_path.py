"""Data path throughput: tokenize + pack MB/s of text into the token cache and training batches.

    PYTHONPATH=src .venv/bin/python benchmarks/data_path.py [--quick] [--reps 3]

On gensim's Wikipedia excerpt (2.3 MB) with the pretraining benchmark's byte-level BPE (vocab 8k):
  tokenize    data.cache.token_ids into an empty cache folder (Rust tokenizer in batches, uint16
              memmap written atomically); MB/s of UTF-8 text
  cache hit   the same call again: hash the texts, find the entry, memory-map it
  pack        every training batch of 8 blocks x 256 tokens cut from the memmap and collated
              (data.cache.PackedBlocks + data.loaders.block_examples), as the loop asks for them
The fraction of step time the loop waits for data is measured during training by
benchmarks/pretrain_speed.py (column "data wait").
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import common


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--reps", type=int, default=None, help="repetitions, median reported (default 3; quick 1)")

    args = common.parse_args(__doc__, extra, argv)
    from warmstart.config.schema import BPETokenizer
    from warmstart.data.cache import PackedBlocks, token_ids
    from warmstart.data.loaders import BatchIterator, block_examples
    from warmstart.tokenizers import build_tokenizer

    reps = args.reps or (1 if args.quick else 3)
    block_len, batch_size = (32, 4) if args.quick else (256, 8)
    texts = common.corpus_texts(args.quick)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(BPETokenizer(vocab_size=300 if args.quick else 8000), texts)
    train_tok_s = time.perf_counter() - t0

    tok_s, hit_s, pack_s = [], [], []
    with tempfile.TemporaryDirectory() as d:
        for r in range(reps):
            cache = Path(d) / f"cache{r}"
            t0 = time.perf_counter()
            ids = token_ids(texts, tokenizer, cache)
            tok_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ids = token_ids(texts, tokenizer, cache)
            hit_s.append(time.perf_counter() - t0)
            blocks = PackedBlocks(ids, block_len)
            batches = BatchIterator(len(blocks), block_examples(blocks), batch_size, seed=r)
            t0 = time.perf_counter()
            for _ in range(batches.steps_per_epoch):
                next(batches)
            pack_s.append(time.perf_counter() - t0)
        n_tokens, n_batches = len(ids), batches.steps_per_epoch
        del ids, blocks, batches  # release the memmaps before the folder is removed

    tok, hit, pack = common.median(tok_s), common.median(hit_s), common.median(pack_s)
    rows = [
        {"stage": "tokenize (cold cache)", "seconds": tok, "text_mb_per_s": mb / tok},
        {"stage": "cache hit", "seconds": hit, "text_mb_per_s": mb / hit},
        {"stage": "pack + collate all batches", "seconds": pack, "text_mb_per_s": mb / pack,
         "batches_per_s": n_batches / pack, "ms_per_batch": 1000 * pack / n_batches},
        {"stage": "tokenize + pack", "seconds": tok + pack, "text_mb_per_s": mb / (tok + pack)},
    ]
    common.print_table(f"Data path ({mb:.2f} MB of text, {n_tokens:,} tokens, "
                       f"{n_batches} batches of {batch_size}x{block_len}; median of {reps})",
                       ["stage", "seconds", "text MB/s", "ms/batch"],
                       [[r["stage"], r["seconds"], r["text_mb_per_s"], r.get("ms_per_batch")] for r in rows])
    common.write_json(args.out, "data_path", {
        "text_mb": mb, "n_tokens": n_tokens, "block_len": block_len, "batch_size": batch_size, "reps": reps,
        "tokenizer_train_s": train_tok_s, "rows": rows}, args.quick)


if __name__ == "__main__":
    sys.exit(main())
