"""Which word a tokenizer token stands for (byte-level BPE, SentencePiece and WordPiece conventions)."""

from __future__ import annotations


def token_to_word(token: str) -> str | None:
    """The word a tokenizer token stands for, or None for a word-piece continuation.

    Byte-level BPE marks a leading space with 'Ġ' and SentencePiece with '▁'; both are stripped.
    WordPiece continuations ('##ing') are parts of words, not words, so they map to nothing."""
    if token.startswith("##"):
        return None
    token = token.removeprefix("Ġ").removeprefix("▁")
    return token or None
