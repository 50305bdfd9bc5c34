"""Tagging schemes: strict-mode entities against hand-worked cases and against seqeval itself,
well-formedness, encoding and subword continuation tags."""

import random

import pytest

from warmstart.data.tag_schemes import (
    continuation,
    encode,
    entities,
    first_malformed,
    first_piece,
    full_label_set,
)

# (scheme, tags, entities) worked out by hand from the grammar in tag_schemes.py.
CASES = [
    ("iob2", ["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    ("iob2", ["I-PER", "I-PER", "O"], []),  # no B-: strict mode invents no entity
    ("iob2", ["B-PER", "I-LOC"], [("PER", 0, 1)]),  # the I-LOC continues nothing
    ("iob2", ["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    ("iob2", ["O", "I-MISC", "I-MISC", "B-MISC", "I-MISC"], [("MISC", 3, 5)]),
    ("iob1", ["I-PER", "I-PER", "B-PER", "O"], [("PER", 0, 2), ("PER", 2, 3)]),
    ("iob1", ["I-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
    ("iob1", ["O", "B-PER", "O"], []),  # IOB1 uses B- only between two chunks of one type
    ("bioes", ["B-PER", "I-PER", "E-PER", "S-LOC"], [("PER", 0, 3), ("LOC", 3, 4)]),
    ("bioes", ["B-PER", "I-PER", "O"], []),  # never closed
    ("bioes", ["B-PER", "E-LOC"], []),  # closed by another type
    ("bioes", ["S-PER", "I-PER", "E-PER"], [("PER", 0, 1)]),
    ("bioes", ["B-PER", "I-PER", "S-LOC"], [("LOC", 2, 3)]),  # a broken chain does not hide what follows
    ("iob2", [], []),
    ("iob2", ["O", "O"], []),
]


@pytest.mark.parametrize("scheme, tags, expected", CASES)
def test_strict_entities_hand_cases(scheme, tags, expected):
    assert entities(tags, scheme) == expected


def _random_tags(rng, scheme, n):
    tags = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC") for p in {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}[scheme]]
    return [rng.choice(tags) for _ in range(n)]


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
def test_entities_equal_seqeval_strict(scheme):
    seqeval_scheme = pytest.importorskip("seqeval.scheme")
    cls = {"iob1": seqeval_scheme.IOB1, "iob2": seqeval_scheme.IOB2, "bioes": seqeval_scheme.IOBES}[scheme]
    rng = random.Random(0)
    for _ in range(400):
        tags = _random_tags(rng, scheme, rng.randint(1, 9))
        theirs = [(e.tag, e.start, e.end) for e in seqeval_scheme.Tokens(tags, cls).entities]
        assert entities(tags, scheme) == theirs, tags


@pytest.mark.parametrize("scheme, tags, position", [
    ("iob2", ["O", "I-PER"], 1),
    ("iob2", ["B-PER", "I-LOC"], 1),
    ("iob2", ["B-PER", "E-PER"], 1),  # not an IOB2 prefix
    ("iob2", ["PER"], 0),
    ("bioes", ["B-PER", "I-PER", "O"], 0),
    ("iob1", ["O", "B-PER"], 1),
])
def test_malformed_sequences_are_found(scheme, tags, position):
    found = first_malformed(tags, scheme)
    assert found is not None and found[0] == position


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
def test_encode_round_trips_through_entities(scheme):
    spans = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 8)]
    tags = encode(spans, 9, scheme)
    assert entities(tags, scheme) == spans and first_malformed(tags, scheme) is None


def test_full_label_set_and_continuations():
    assert full_label_set({"O", "B-PER", "I-LOC"}, "iob2") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert continuation("B-PER", "iob2", last_piece=False) == "I-PER"
    assert continuation("O", "iob2", last_piece=True) == "O"
    # BIOES: a single-word entity over three subwords becomes B- I- E-; an E- word ends on its last piece.
    pieces = [first_piece("S-PER", "bioes", 3), continuation("S-PER", "bioes", False),
              continuation("S-PER", "bioes", True)]
    assert pieces == ["B-PER", "I-PER", "E-PER"]
    assert [first_piece("E-PER", "bioes", 2), continuation("E-PER", "bioes", True)] == ["I-PER", "E-PER"]
    assert first_piece("S-PER", "bioes", 1) == "S-PER"
