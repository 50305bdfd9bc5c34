"""Word splitting, vocabulary order, and the saved word tokenizer agreeing with the Python split."""

from warmstart.tokenizers.train import SPECIAL_TOKENS
from warmstart.wordvec.vocab import build_vocab, sentences_to_ids, tokenize, tokenize_corpus, word_tokenizer


def test_tokenize_rule():
    text = "Don't re-use U.S. stock-lists!  snake_case, naïve 3.14 -- Rock’n’roll"
    assert tokenize(text) == ["don't", "re-use", "u", "s", "stock-lists", "snake", "case", "naïve", "3", "14",
                              "rock’n’roll"]
    assert tokenize("Paris", lowercase=False) == ["Paris"]


def test_long_documents_are_cut_not_truncated():
    sents = tokenize_corpus(["a " * 25], max_words=10)
    assert [len(s) for s in sents] == [10, 10, 5]


def test_vocab_sorted_by_count_then_first_seen_with_min_count_and_cap():
    sents = [["b", "a", "c", "a", "b", "d"], ["c", "a"]]
    vocab = build_vocab(sents, min_count=2)
    assert vocab.words == ["a", "b", "c"] and vocab.counts == [3, 2, 2]
    assert build_vocab(sents, min_count=1, max_vocab=2).words == ["a", "b"]
    assert list(sentences_to_ids(sents, vocab.index())) == [[1, 0, 2, 0, 1], [2, 0]]  # "d" dropped


def test_word_tokenizer_splits_like_tokenize():
    texts = ["The cat's re-entry, at 3pm!", "UNSEEN words -- and émigrés"]
    words = sorted({w for t in texts for w in tokenize(t)} - {"unseen"})
    tok = word_tokenizer(words)
    for text in texts:
        ids = tok(text)["input_ids"]
        expected = [w if w in words else "[UNK]" for w in tokenize(text)]
        assert tok.convert_ids_to_tokens(ids) == ["[CLS]", *expected, "[SEP]"]
    assert tok.convert_ids_to_tokens(list(range(5))) == SPECIAL_TOKENS
    assert tok.convert_tokens_to_ids(words[0]) == 5
