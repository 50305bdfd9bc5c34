"""Tiny corpora for the word-vector tests: random filler text with one planted pair of words."""

import random

import pytest

FILLER = [f"w{i}" for i in range(40)]


def planted_corpus(n_docs: int = 300, seed: int = 0) -> list[str]:
    """Documents of random filler words in which "cat" and "dog" both, and only they, appear inside
    the frame "the big _ sat down": they share every context, so any method should make them similar."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        words = [rng.choice(FILLER) for _ in range(16)]
        pos = rng.randrange(0, 12)
        words[pos:pos] = ["the", "big", rng.choice(["cat", "dog"]), "sat", "down"]
        docs.append(" ".join(words))
    return docs


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return planted_corpus()
