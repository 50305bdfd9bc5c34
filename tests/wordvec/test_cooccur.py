"""Co-occurrence counting on hand-checked examples."""

import numpy as np

from warmstart.wordvec.cooccur import count_cooccurrences


def test_distance_weighting_symmetry_and_document_boundaries():
    X = count_cooccurrences([[0, 1, 2], [2, 0]], vocab_size=3, window=2).toarray()
    expected = np.zeros((3, 3))
    for a, b, w in [(0, 1, 1.0), (1, 2, 1.0), (0, 2, 0.5), (2, 0, 1.0)]:  # (left, right, 1/distance)
        expected[a, b] += w
        expected[b, a] += w
    np.testing.assert_allclose(X, expected)


def test_left_context_only_and_window_limit():
    X = count_cooccurrences([[0, 1, 2, 0]], vocab_size=3, window=1, symmetric=False).toarray()
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 2] = expected[2, 0] = 1.0
    np.testing.assert_allclose(X, expected)


def test_chunking_does_not_change_counts():
    rng = np.random.default_rng(0)
    docs = [list(rng.integers(0, 20, size=rng.integers(1, 30))) for _ in range(50)]
    whole = count_cooccurrences(docs, 20, window=4).toarray()
    chunked = count_cooccurrences(docs, 20, window=4, chunk_tokens=7).toarray()
    np.testing.assert_allclose(whole, chunked, rtol=1e-6)
