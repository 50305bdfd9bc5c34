"""Work with any transformers tokenizer: load a saved or local Hugging Face one, find its special
token ids (with fallbacks for GPT-2-like tokenizers), and encode texts for fine-tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from warmstart.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from warmstart.config.schema import HFTokenizer

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")


def _from_dir(path: Path, err, what: str):
    if not path.is_dir():
        raise err(f"{what}{path}: no such folder")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise err(f"{what}{path}: no tokenizer files (expected tokenizer.json or tokenizer_config.json)")
    from transformers import AutoTokenizer  # heavy import, deferred until needed

    try:
        # local_files_only: never reach for the hub, even if the folder name looks like a repo id.
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as e:  # transformers raises many types (OSError, ValueError, JSON errors)
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise err(f"{what}{path}: cannot load tokenizer ({first_line})") from None


def load_tokenizer(path: str | Path):
    """A tokenizer saved with `save_pretrained` (for example a run's tokenizer/ folder)."""
    return _from_dir(Path(path), CheckpointError, "")


def load_hf(cfg: HFTokenizer, texts: list[str] | None = None):
    """The tokenizer of a local Hugging Face model or tokenizer folder (schema.HFTokenizer); `texts` is unused."""
    return _from_dir(Path(cfg.path), ConfigError, "tokenizer.path: ")


def special_ids(tokenizer) -> dict[str, int | None]:
    """Ids of the pad, cls, sep, mask and unk tokens.

    Tokenizers without some of them fall back sensibly: GPT-2 has only an end-of-text token, which
    then serves as pad, cls and sep (a document boundary); mask (and unk) are None when absent.
    """

    def first(*names):
        for name in names:
            value = getattr(tokenizer, f"{name}_token_id", None)
            if value is not None:
                return int(value)
        return None

    sep = first("sep", "eos", "cls", "bos")
    cls = first("cls", "bos", "eos", "sep")
    if sep is None or cls is None:
        raise ConfigError(f"tokenizer {type(tokenizer).__name__}: has no separator, end-of-text or [CLS] token")
    pad = first("pad", "eos", "sep", "unk")  # padded positions are masked out, so any real id works
    return {"pad": pad, "cls": cls, "sep": sep, "mask": first("mask"), "unk": first("unk")}


def encode(tokenizer, texts: list[str], max_len: int) -> list[list[int]]:
    """Fine-tuning inputs: [CLS] text [SEP] per text, at most max_len ids (the text is cut, the final
    [SEP] is kept). The special ids come from special_ids, so GPT-2-like tokenizers get eos ... eos."""
    if max_len < 3:
        raise ConfigError(f"data.max_len ({max_len}) must be >= 3 to hold [CLS], a token and [SEP]")
    ids = special_ids(tokenizer)
    if not texts:
        return []
    # Truncate inside the (batched, Rust) tokenizer to max_len - 2, leaving room for [CLS] and [SEP].
    body = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_len - 2,
                     return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    return [[ids["cls"], *seq, ids["sep"]] for seq in body]


def encode_words(tokenizer, texts: list[str], spans: list[list[tuple[int, int]]], max_len: int
                 ) -> tuple[list[list[int]], list[list[int]]]:
    """Token classification inputs: [CLS] text [SEP] per text (as `encode`), and for every position
    the index of the word it belongs to (-1 for [CLS]/[SEP]).

    Words are character spans (start, end-exclusive) of the text. A subword belongs to the word
    that holds the first character of its offset span that lies inside any word: byte-level BPE
    offsets may start on the space before a word, which belongs to none. A word can end up with no
    subword (truncated away, or only characters the tokenizer's normalizer deletes)."""
    if max_len < 3:
        raise ConfigError(f"data.max_len ({max_len}) must be >= 3 to hold [CLS], a token and [SEP]")
    ids = special_ids(tokenizer)
    if not texts:
        return [], []
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_len - 2,
                    return_offsets_mapping=True, return_attention_mask=False, return_token_type_ids=False)
    out_ids, out_words = [], []
    for text, word_spans, body, offsets in zip(texts, spans, enc["input_ids"], enc["offset_mapping"], strict=True):
        owner = [-1] * (len(text) + 1)  # character -> word index
        for w, (a, b) in enumerate(word_spans):
            owner[a:b] = [w] * (b - a)
        words = []
        for a, b in offsets:
            w = next((owner[c] for c in range(a, b) if owner[c] >= 0), -1)
            words.append(w)
        out_ids.append([ids["cls"], *body, ids["sep"]])
        out_words.append([-1, *words, -1])
    return out_ids, out_words
