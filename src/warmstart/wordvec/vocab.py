"""Words for word vectors: split documents into words, count them into a frequency-sorted
vocabulary, and wrap a vocabulary as a Hugging Face word-level tokenizer for fine-tuning.

Tokenization (the same in Python and in the saved tokenizer): optionally lowercase, then keep the
maximal runs of letters and digits, joined across single inner apostrophes or hyphens. So
"Don't re-use U.S. stock-lists!" -> ["don't", "re-use", "u", "s", "stock-lists"]. Punctuation,
underscores and whitespace separate words and are dropped.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from warmstart.errors import DataError

# [^\W_] = a Unicode letter or digit (\w without the underscore).
WORD_PATTERN = r"[^\W_]+(?:['’\-][^\W_]+)*"
_WORD = re.compile(WORD_PATTERN)

# gensim trains on at most this many words of one sentence and silently drops the rest, so longer
# documents are cut into pieces of this length instead (the split costs one window at each cut).
MAX_SENTENCE_WORDS = 10_000


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """The words of one text (see the module docstring for the rule)."""
    return _WORD.findall(text.lower() if lowercase else text)


def tokenize_corpus(texts: Iterable[str], lowercase: bool = True,
                    max_words: int = MAX_SENTENCE_WORDS) -> list[list[str]]:
    """Documents -> word lists, long documents cut into pieces of at most `max_words` words.

    Words are interned, so each distinct word is stored once however often it occurs (the token
    lists then cost one pointer per word)."""
    out = []
    intern = sys.intern
    for text in texts:
        words = [intern(w) for w in tokenize(text, lowercase)]
        for start in range(0, len(words), max_words):
            out.append(words[start:start + max_words])
    return out


@dataclass(frozen=True)
class Vocab:
    """Words sorted by descending corpus count (ties: first seen first), with their counts."""

    words: list[str]
    counts: list[int]

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        """word -> row (the first occurrence wins if a word is listed twice)."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.words):
            out.setdefault(w, i)
        return out


def build_vocab(sentences: Iterable[list[str]], min_count: int = 1, max_vocab: int | None = None) -> Vocab:
    """Count words; keep those seen >= min_count times, at most max_vocab of the most frequent."""
    counter: Counter[str] = Counter()
    for words in sentences:
        counter.update(words)
    # most_common sorts by count and keeps insertion (first-seen) order among ties.
    kept = [(w, c) for w, c in counter.most_common(max_vocab) if c >= min_count]
    return Vocab([w for w, _ in kept], [c for _, c in kept])


def sentences_to_ids(sentences: Iterable[list[str]], index: dict[str, int]) -> Iterator[list[int]]:
    """Word lists -> id lists, dropping out-of-vocabulary words (as word2vec and GloVe do: the
    context window then spans the gap)."""
    get = index.get
    for words in sentences:
        yield [i for i in map(get, words) if i is not None]


# ---------------------------------------------------------------------------------- tokenizer


def word_tokenizer(words: list[str], lowercase: bool = True):
    """A transformers fast tokenizer whose tokens are `words` after warmstart's five special tokens
    ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4; word i gets id 5 + i). It splits text exactly
    like `tokenize`, maps unknown words to [UNK], and adds [CLS] ... [SEP] like the subword tokenizers.
    """
    from transformers import PreTrainedTokenizerFast  # heavy import, deferred until needed

    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from warmstart.tokenizers.train import CLS_ID, SEP_ID, SPECIAL_TOKENS

    vocab: dict[str, int] = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for w in words:
        if w in vocab:
            raise DataError(f"vocab: word {w!r} is listed twice or clashes with a special token")
        vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    # invert=True + "removed": keep what the pattern matches (the words), drop everything between.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
