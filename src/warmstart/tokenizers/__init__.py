"""Text -> ids. Train a BPE or WordPiece tokenizer on a corpus, or load a local Hugging Face one.

TOKENIZERS maps the config's `tokenizer.kind` to a builder `(cfg, texts) -> tokenizer`; every
tokenizer is a transformers fast tokenizer that saves with `save_pretrained` and reloads with
`load_tokenizer` (or AutoTokenizer) to identical ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warmstart.errors import ConfigError
from warmstart.tokenizers.hf import encode, encode_words, load_hf, load_tokenizer, special_ids
from warmstart.tokenizers.train import SPECIAL_TOKENS, train_bpe, train_wordpiece

if TYPE_CHECKING:
    from warmstart.config.schema import Tokenizer

TOKENIZERS = {
    "bpe": train_bpe,
    "wordpiece": train_wordpiece,
    "hf": load_hf,
}


def build_tokenizer(cfg: Tokenizer, texts: list[str] | None):
    """Train (bpe, wordpiece) on `texts`, or load (hf) the tokenizer that `cfg` describes."""
    if cfg.kind != "hf" and texts is None:
        raise ConfigError(f"tokenizer.kind={cfg.kind}: needs texts to train on")
    return TOKENIZERS[cfg.kind](cfg, texts)


__all__ = ["SPECIAL_TOKENS", "TOKENIZERS", "build_tokenizer", "encode", "encode_words", "load_tokenizer", "special_ids"]
