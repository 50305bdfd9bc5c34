"""Tagging schemes (IOB1, IOB2, BIOES): tag strings -> entity spans, in the strict mode of
seqeval (Nakayama's seqeval 1.2, `mode="strict"`), well-formedness checks, and conversion
between schemes. Pure Python, no torch: the data readers, the task and the metrics share it.

A tag is "O" or PREFIX-TYPE ("B-PER"). In strict mode an entity exists only where the scheme's
grammar says one starts, continues and ends; a broken chain (an I-PER after O in IOB2, a B-PER
never closed by E-PER in BIOES) yields no entity at all, instead of seqeval's default mode
guessing one. Entities are (type, start, end) with `end` exclusive, over word positions.
"""

from __future__ import annotations

SCHEMES = ("iob1", "iob2", "bioes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}

# The grammar of each scheme as seqeval states it (seqeval/scheme.py): patterns of
# (prefixes of the previous tag, prefixes of this tag, type condition). "*" = any prefix
# (O included); the type condition compares this tag's type with the previous one's.
_ANY = "IOBES"
_GRAMMAR = {
    "iob1": {
        "start": [("O", "I", "any"), ("I", "I", "diff"), ("B", "I", "any"), ("I", "B", "same"), ("B", "B", "same")],
        "inside": [("B", "I", "same"), ("I", "I", "same")],
        "end": [("I", "I", "diff"), ("I", "O", "any"), ("I", "B", "any"), ("B", "O", "any"), ("B", "I", "diff"),
                ("B", "B", "same")],
    },
    "iob2": {
        "start": [(_ANY, "B", "any")],
        "inside": [("B", "I", "same"), ("I", "I", "same")],
        "end": [("I", "O", "any"), ("I", "I", "diff"), ("I", "B", "any"), ("B", "O", "any"), ("B", "I", "diff"),
                ("B", "B", "any")],
    },
    "bioes": {
        "start": [(_ANY, "B", "any"), (_ANY, "S", "any")],
        "inside": [("B", "I", "same"), ("B", "E", "same"), ("I", "I", "same"), ("I", "E", "same")],
        "end": [("S", _ANY, "any"), ("E", _ANY, "any")],
    },
}


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") for "B-PER"; ("O", "_") for "O" (seqeval's placeholder type)."""
    if tag == "O":
        return "O", "_"
    return tag[0], tag[2:] if len(tag) > 2 else "_"


def check_tag(tag: str, scheme: str) -> str | None:
    """Why `tag` is not a tag of `scheme`, or None when it is."""
    if tag == "O":
        return None
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in PREFIXES[scheme]:
        allowed = ", ".join(f"{p}-TYPE" for p in PREFIXES[scheme])
        return f"tag '{tag}' is not O or one of {allowed} ({scheme.upper()})"
    return None


def _matches(patterns, prev: tuple[str, str], cur: tuple[str, str]) -> bool:
    for prev_prefixes, cur_prefixes, cond in patterns:
        if prev[0] in prev_prefixes and cur[0] in cur_prefixes and (
                cond == "any" or (cond == "same") == (prev[1] == cur[1])):
            return True
    return False


def entities(tags: list[str], scheme: str) -> list[tuple[str, int, int]]:
    """Strict-mode entities (type, start, end-exclusive) of one tag sequence.

    The scan is seqeval's Tokens.entities: at a start, extend while the next tag continues the
    chunk; keep the chunk only if the tag after it (O past the end) closes it properly; resume
    the scan at the tag that stopped the chunk.
    """
    toks = [split_tag(t) for t in tags] + [("O", "_")]  # a final O closes a chunk at the end
    grammar = _GRAMMAR[scheme]
    found = []
    i, prev = 0, ("O", "_")
    while i < len(toks):
        if _matches(grammar["start"], prev, toks[i]):
            end, last = i + 1, toks[i]
            while end < len(toks) and _matches(grammar["inside"], last, toks[end]):
                last, end = toks[end], end + 1
            if _matches(grammar["end"], toks[end - 1], toks[end]):
                found.append((toks[i][1], i, end))
            i = end
        else:
            i += 1
        prev = toks[i - 1]
    return found


def first_malformed(tags: list[str], scheme: str) -> tuple[int, str] | None:
    """(position, reason) of the first tag that is not part of a well-formed sequence, or None.

    A sequence is well formed when every tag is a tag of the scheme and every non-O tag lies
    inside a strict-mode entity (so strict scoring never silently drops gold annotations)."""
    for i, tag in enumerate(tags):
        problem = check_tag(tag, scheme)
        if problem:
            return i, problem
    covered = [False] * len(tags)
    for _, start, end in entities(tags, scheme):
        covered[start:end] = [True] * (end - start)
    for i, tag in enumerate(tags):
        if tag != "O" and not covered[i]:
            prev = tags[i - 1] if i else "the sequence start"
            return i, f"tag '{tag}' after {prev!r} is not a valid {scheme.upper()} sequence"
    return None


def encode(spans: list[tuple[str, int, int]], n: int, scheme: str) -> list[str]:
    """Tags of length n for non-overlapping entity spans (type, start, end-exclusive)."""
    tags = ["O"] * n
    prev_end, prev_type = -1, None
    for typ, start, end in sorted(spans, key=lambda s: s[1]):
        for k in range(start, end):
            tags[k] = f"I-{typ}"
        if scheme == "iob2":
            tags[start] = f"B-{typ}"
        elif scheme == "iob1":
            # IOB1 marks B- only where a chunk directly follows a chunk of the same type.
            if prev_end == start and prev_type == typ:
                tags[start] = f"B-{typ}"
        else:  # bioes
            if end - start == 1:
                tags[start] = f"S-{typ}"
            else:
                tags[start], tags[end - 1] = f"B-{typ}", f"E-{typ}"
        prev_end, prev_type = end, typ
    return tags


def full_label_set(tags: set[str], scheme: str) -> list[str]:
    """"O" then, for every entity type seen in `tags`, every prefix the scheme has, sorted: the
    head predicts any well-formed tag, including continuation tags a subword labelling needs."""
    types = sorted({split_tag(t)[1] for t in tags if t != "O"})
    return ["O", *(f"{p}-{typ}" for typ in types for p in PREFIXES[scheme])]


def continuation(tag: str, scheme: str, last_piece: bool) -> str:
    """The tag of a later subword of a word tagged `tag` (label_all_subtokens): B- becomes I-
    (the chunk goes on); in BIOES an S- or E- word ends on its last subword (S-X -> B-X I-X E-X)."""
    prefix, typ = split_tag(tag)
    if prefix == "O":
        return "O"
    if scheme == "bioes" and prefix in "SE":
        return f"E-{typ}" if last_piece else f"I-{typ}"
    return f"I-{typ}"


def first_piece(tag: str, scheme: str, n_pieces: int) -> str:
    """The tag of a word's first subword when all subwords are labelled: S-X over several
    subwords opens the chunk (B-X), E-X continues it (I-X); everything else is unchanged."""
    prefix, typ = split_tag(tag)
    if scheme == "bioes" and n_pieces > 1 and prefix in "SE":
        return f"{'B' if prefix == 'S' else 'I'}-{typ}"
    return tag
