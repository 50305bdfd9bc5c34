"""Text files -> documents (unlabeled) or {"text", "label"} records (labeled).

Reads .txt or .cor (gensim's plain corpora; one document per non-empty line), .jsonl, .csv and folders
of .txt files. Every problem with a file is a one-line DataError naming the file, the line or field,
and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from warmstart.errors import DataError

CORPUS_SUFFIXES = (".txt", ".cor", ".jsonl", ".csv")
LABELED_SUFFIXES = (".csv", ".jsonl")


# ------------------------------------------------------------------------------ reading files


def read_text_file(path: Path) -> str:
    """The whole file as text; DataError if missing, empty, a folder, or not UTF-8."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        # utf-8-sig also accepts (and drops) the byte-order mark spreadsheet programs write.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: not valid UTF-8 text (line {line})") from None


def _txt_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file, stripped: one document each."""
    return [line.strip() for line in read_text_file(path).splitlines() if line.strip()]


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON-lines file."""
    for n, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
        yield n, row


def _csv_rows(path: Path, needed: list[str]) -> Iterator[tuple[int, dict]]:
    """(line number, row dict) for every data row of a CSV file with a header row."""
    reader = csv.DictReader(io.StringIO(read_text_file(path), newline=""))
    try:
        columns = reader.fieldnames or []  # reads the header row
        for name in needed:
            if name not in columns:
                raise DataError(f"{path}: no column '{name}' (columns: {', '.join(columns)})")
        for row in reader:
            if None in row.values():  # DictReader fills missing trailing cells with None
                raise DataError(f"{path}: line {reader.line_num}: expected {len(columns)} fields")
            yield reader.line_num, row
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None


def _field(path: Path, n: int, row: dict, name: str, kind: str):
    if name not in row:
        raise DataError(f"{path}: line {n}: no {kind} '{name}' ({kind}s: {', '.join(map(str, row))})")
    return row[name]


# ----------------------------------------------------------------------------------- corpora


def read_corpus(path: str | Path, field: str = "text") -> list[str]:
    """Documents from a .txt/.jsonl/.csv file or a folder of .txt files (recursive, sorted by path).

    Empty documents are skipped; a source that yields none is an error.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"{path}: folder has no .txt files")
        docs = [doc for f in files for doc in _txt_lines(f)]
    elif path.suffix in (".txt", ".cor"):
        docs = _txt_lines(path)
    elif path.suffix == ".jsonl":
        docs = [_text_value(path, n, _field(path, n, row, field, "field"), field) for n, row in _jsonl_rows(path)]
    elif path.suffix == ".csv":
        docs = [row[field] for _, row in _csv_rows(path, [field])]
    else:
        raise DataError(f"{path}: unsupported file type '{path.suffix}' "
                        f"(expected {', '.join(CORPUS_SUFFIXES)} or a folder)")
    docs = [d.strip() for d in docs if d and d.strip()]
    if not docs:
        raise DataError(f"{path}: no non-empty documents")
    return docs


def _text_value(path: Path, n: int, value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{path}: line {n}: field '{name}' must be a string, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------ labeled text


def read_labeled(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[dict]:
    """Records {"text": str, "label": str|int|float} from a .csv or .jsonl file.

    CSV labels stay strings (the task decides whether they are classes or numbers); JSONL labels keep
    their JSON type. Rows with empty text are skipped; a missing or empty label is an error.
    """
    path = Path(path)
    if path.suffix == ".csv":
        rows = _csv_rows(path, [text_field, label_field])
        get = lambda n, row, name: row[name]  # noqa: E731 - columns were checked against the header
    elif path.suffix == ".jsonl":
        rows = _jsonl_rows(path)
        get = lambda n, row, name: _field(path, n, row, name, "field")  # noqa: E731
    else:
        raise DataError(f"{path}: unsupported file type '{path.suffix}' (expected .csv or .jsonl)")
    records = []
    for n, row in rows:
        text = _text_value(path, n, get(n, row, text_field), text_field).strip()
        label = get(n, row, label_field)
        if label is None or (isinstance(label, str) and not label.strip()):
            raise DataError(f"{path}: line {n}: empty label in '{label_field}'")
        if isinstance(label, (list, dict)):
            raise DataError(f"{path}: line {n}: label '{label_field}' must be a string or number, "
                            f"got {type(label).__name__}")
        if text:
            records.append({"text": text, "label": label.strip() if isinstance(label, str) else label})
    if not records:
        raise DataError(f"{path}: no records with non-empty '{text_field}'")
    return records
