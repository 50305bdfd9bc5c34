"""Token cache (written once, memory-mapped, keyed by content) and packed pretraining blocks."""

import json
from pathlib import Path

import numpy as np
import pytest

from warmstart.config.schema import BPETokenizer
from warmstart.data import PackedBlocks, cache, read_corpus, split_blocks, token_ids, unigram_ppl
from warmstart.errors import DataError
from warmstart.tokenizers import build_tokenizer

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def docs():
    return read_corpus(FIXTURES / "corpus.txt")


@pytest.fixture(scope="module")
def tok(docs):
    return build_tokenizer(BPETokenizer(vocab_size=300, min_frequency=2), docs)


def test_ids_are_documents_each_followed_by_sep(tmp_path, docs, tok):
    ids = token_ids(docs[:3], tok, tmp_path)
    expected = []
    for d in docs[:3]:
        expected += tok(d, add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
    assert ids.dtype == np.uint16 and ids.ndim == 1
    assert ids.tolist() == expected
    assert not ids.flags.writeable
    (meta_file,) = tmp_path.glob("*.json")
    meta = json.loads(meta_file.read_text())
    assert meta["dtype"] == "uint16" and meta["length"] == len(expected) and meta["vocab_size"] == len(tok)
    assert not list(tmp_path.glob("*.tmp"))  # the temporary files were renamed away


def test_second_call_reads_the_cache(tmp_path, docs, tok, monkeypatch):
    first = token_ids(docs, tok, tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again instead of reading the cache")

    monkeypatch.setattr(cache, "_encode_docs", fail)
    again = token_ids(docs, tok, tmp_path)
    assert isinstance(again, np.memmap) and np.array_equal(first, again)
    with pytest.raises(AssertionError, match="tokenized again"):
        token_ids(docs[:-1], tok, tmp_path)  # different texts -> different key -> a miss


def test_key_depends_on_text_boundaries_and_tokenizer(docs, tok):
    sep = tok.sep_token_id
    assert cache.cache_key(["ab", "c"], tok, sep) != cache.cache_key(["a", "bc"], tok, sep)
    other = build_tokenizer(BPETokenizer(vocab_size=300, min_frequency=2, lowercase=True), docs)
    assert cache.cache_key(docs, tok, sep) != cache.cache_key(docs, other, sep)
    tok(["a long text"], truncation=True, max_length=2)  # per-call state must not change the key
    assert cache.cache_key(docs, tok, sep) == cache.cache_key(docs, tok, sep)


def test_truncated_cache_entry_is_rebuilt(tmp_path, docs, tok):
    ids = np.array(token_ids(docs, tok, tmp_path))
    (bin_file,) = tmp_path.glob("*.bin")
    bin_file.write_bytes(bin_file.read_bytes()[:10])
    assert np.array_equal(token_ids(docs, tok, tmp_path), ids)


def test_packed_blocks_lengths_and_contents():
    ids = np.arange(103, dtype=np.uint16)
    blocks = PackedBlocks(ids, 10)
    assert len(blocks) == 10  # the ragged tail of 3 tokens is dropped
    assert blocks[0].dtype == np.int64 and blocks[0].shape == (10,)
    assert blocks[3].tolist() == list(range(30, 40)) and blocks[-1].tolist() == list(range(90, 100))
    with pytest.raises(IndexError):
        blocks[10]
    assert len(list(blocks)) == 10
    tail = PackedBlocks(ids, 10, start_block=7)
    assert len(tail) == 3 and tail[0].tolist() == list(range(70, 80))


def test_split_blocks_holds_out_the_tail():
    train, val = split_blocks(np.arange(1000), 10, 0.05)
    assert (len(train), len(val)) == (95, 5)
    assert val[0][0] == 950 and train[-1][-1] == 949
    train, val = split_blocks(np.arange(25), 10, 0.01)  # tiny: still one validation block
    assert (len(train), len(val)) == (1, 1)


def test_corpus_too_small():
    with pytest.raises(DataError, match=r"corpus too small: 19 tokens < 2 blocks of max_len \(10\)"):
        split_blocks(np.arange(19), 10, 0.1)


def test_unigram_ppl_is_the_context_blind_perplexity_of_the_val_blocks():
    # train blocks: tokens 5,5,5,6 (+ skipped special 1); val: 5,6. Add-one over a vocabulary of 8 ids.
    ids = np.array([5, 5, 1, 5, 6, 1, 5, 6], dtype=np.uint16)
    train, val = PackedBlocks(ids, 2, 0, 3), PackedBlocks(ids, 2, 3, 4)
    p5, p6 = (3 + 1) / (4 + 8), (1 + 1) / (4 + 8)
    assert unigram_ppl(train, val, vocab_size=8, skip=[1]) == pytest.approx(np.exp(-(np.log(p5) + np.log(p6)) / 2))
    # An unseen val token (7) still has a finite probability; with val = train, ids 2 and 3 (2 of 4 training
    # tokens each, of a 4-id vocabulary) get (2 + 1) / (4 + 4).
    flat = np.array([2, 3, 2, 3, 7, 7], dtype=np.uint16)
    assert unigram_ppl(PackedBlocks(flat, 2, 0, 2), PackedBlocks(flat, 2, 2, 3), vocab_size=8) > 1
    assert unigram_ppl(PackedBlocks(flat, 2, 0, 2), PackedBlocks(flat, 2, 0, 2), vocab_size=4) == \
        pytest.approx(np.exp(-np.log(3 / 8)))
