"""Text files -> documents (unlabeled) or {"text", "label"} records (labeled).

Reads .txt or .cor (gensim's plain corpora; one document per non-empty line), .jsonl, .csv and folders
of .txt files. Every problem with a file is a one-line DataError naming the file, the line or field,
and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from warmstart.errors import DataError

CORPUS_SUFFIXES = (".txt", ".cor", ".jsonl", ".csv")

# Long documents are legitimate CSV cells: lift the csv module's 128 KiB per-field limit (the whole
# file is in memory already, so the limit protects nothing here). A C long may be 32 bits wide.
csv.field_size_limit(2**31 - 1)
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
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: not valid UTF-8 text (line {line})") from None
    nul = text.find("\x00")
    if nul >= 0:  # UTF-16 text of ASCII characters decodes as UTF-8 with a NUL between every character
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{path}: line {line}: NUL byte in text (a binary file, or UTF-16? save it as UTF-8)")
    return text


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


def read_csv(path: Path, needed: list[str]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and (line number, row dict) of every data row of a CSV file with a header row.

    The line number is where the row starts (a quoted field may span lines). The header must name
    each column once and include `needed`; every row must have exactly one cell per column.
    """
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""))
    line, rows = 1, []  # line: where the row being read starts
    try:
        columns = next(reader, [])
        if not any(c.strip() for c in columns):
            raise DataError(f"{path}: line 1: empty header row (expected column names)")
        duplicated = [c for i, c in enumerate(columns) if c in columns[:i]]
        if duplicated:
            raise DataError(f"{path}: line 1: column '{duplicated[0]}' appears more than once in the header "
                            "(which one is meant is ambiguous; rename or drop one)")
        for name in needed:
            if name not in columns:
                raise DataError(f"{path}: no column '{name}' (columns: {', '.join(columns)})")
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                return columns, rows
            if not cells:  # a blank line
                continue
            if len(cells) != len(columns):
                raise DataError(f"{path}: line {line}: expected {len(columns)} fields, got {len(cells)}")
            rows.append((line, dict(zip(columns, cells, strict=True))))
    except csv.Error as e:
        raise DataError(f"{path}: line {line}: malformed CSV ({e})") from None


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
        docs = [row[field] for _, row in read_csv(path, [field])[1]]
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


def group_value(path: Path, n: int, group, field: str) -> str:
    """An example's group (data.group_field) as a non-empty string, or a one-line DataError."""
    if group is None or isinstance(group, (list, dict)) or not str(group).strip():
        raise DataError(f"{path}: line {n}: group '{field}' must be a non-empty string or number, got {group!r}")
    return str(group).strip()


def read_labeled(path: str | Path, text_field: str = "text", label_field: str = "label",
                 group_field: str | None = None) -> list[dict]:
    """Records {"text": str, "label": str|int|float} from a .csv or .jsonl file, plus "group" (a
    string) from `group_field` when given.

    CSV labels stay strings (the task decides whether they are classes or numbers); JSONL labels keep
    their JSON type. Rows with empty text are skipped; a missing or empty label is an error.
    """
    path = Path(path)
    if path.suffix == ".csv":
        rows = read_csv(path, [text_field, label_field] + ([group_field] if group_field else []))[1]
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
        if isinstance(label, str) and any(unicodedata.category(c) == "Cc" for c in label):
            raise DataError(f"{path}: line {n}: label '{label_field}' contains a control character "
                            f"({label!r}); a label is one line of printable text")
        record = {"text": text, "label": label.strip() if isinstance(label, str) else label}
        if group_field is not None:
            record["group"] = group_value(path, n, get(n, row, group_field), group_field)
        if text:
            records.append(record)
    if not records:
        raise DataError(f"{path}: no records with non-empty '{text_field}'")
    return records
