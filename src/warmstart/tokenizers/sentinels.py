"""Sentinel tokens for span corruption (T5): `<extra_id_0>`, `<extra_id_1>`, ... each stands for one
dropped span of the input and introduces that span in the target.

A tokenizer trained by warmstart gets N_SENTINELS of them appended as special tokens (ids after the
trained vocabulary) when the run needs them (an encoder-decoder model or the span-corruption
objective); a Hugging Face T5 tokenizer already has them under the same names. Special tokens are
skipped when generated text is decoded, so they never reach predictions.
"""

from __future__ import annotations

N_SENTINELS = 100  # as T5's vocabulary
SENTINEL = "<extra_id_{}>"


def add_sentinels(tokenizer, n: int = N_SENTINELS) -> None:
    """Append the sentinels the tokenizer lacks, as special tokens (in place)."""
    vocab = tokenizer.get_vocab()
    missing = [SENTINEL.format(i) for i in range(n) if SENTINEL.format(i) not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)


def sentinel_ids(tokenizer) -> list[int]:
    """Ids of <extra_id_0>, <extra_id_1>, ... in order, up to the first one the tokenizer lacks."""
    vocab = tokenizer.get_vocab()
    out = []
    while SENTINEL.format(len(out)) in vocab:
        out.append(int(vocab[SENTINEL.format(len(out))]))
    return out
