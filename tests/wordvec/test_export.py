"""Vector files: safetensors + vocab round trip, word2vec text/binary both ways with gensim."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from warmstart.data.word_vectors import load_vectors, load_word2vec_format, save_vectors, save_word2vec_format
from warmstart.errors import DataError

WORDS = ["the", "naïve", "re-use", "x1"]


@pytest.fixture
def vectors():
    return np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)


def test_safetensors_round_trip(tmp_path, vectors):
    save_vectors(tmp_path, vectors, WORDS)
    got, words = load_vectors(tmp_path)
    assert words == WORDS and got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors)
    np.testing.assert_array_equal(load_vectors(tmp_path / "vectors.safetensors")[0], vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trips_exactly_and_gensim_reads_it(tmp_path, vectors, binary):
    path = tmp_path / ("v.bin" if binary else "v.txt")
    save_word2vec_format(path, vectors, WORDS, binary=binary)
    got, words = load_word2vec_format(path)
    assert words == WORDS
    np.testing.assert_array_equal(got, vectors)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == WORDS
    np.testing.assert_array_equal(kv.vectors, vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_what_gensim_writes(tmp_path, vectors, binary):
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(WORDS, vectors)
    path = tmp_path / ("g.bin" if binary else "g.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    got, words = load_word2vec_format(path)
    assert words == WORDS
    np.testing.assert_allclose(got, vectors, rtol=1e-6)


def test_headerless_glove_text(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2\nof -1 2.5\n", encoding="utf-8")
    got, words = load_vectors(path)
    assert words == ["the", "of"]
    np.testing.assert_allclose(got, [[0.1, 0.2], [-1, 2.5]])


def test_bad_inputs_are_one_line_data_errors(tmp_path, vectors):
    with pytest.raises(DataError, match="contains whitespace"):
        save_vectors(tmp_path, vectors, ["a b", "c", "d", "e"])
    with pytest.raises(DataError, match="no such file"):
        load_vectors(tmp_path / "missing")
    (tmp_path / "short.txt").write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(DataError, match="short.txt: line 3"):
        load_word2vec_format(tmp_path / "short.txt")
