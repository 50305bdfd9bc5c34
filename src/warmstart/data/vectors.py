"""Numeric feature vectors -> a VectorSet (one float32 array + labels) and {"index", "label"} records.

Sources: a CSV file with a header (feature columns + a label or target column) and the small real
tables bundled with scikit-learn (no download). A missing, non-numeric or NaN value is a one-line
DataError naming the file, row and column. No torch here.

VECTOR_SOURCES maps the config's vector `data.kind` to a reader; `load_vectors` dispatches on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from warmstart.data.text import group_value, read_csv
from warmstart.errors import ConfigError, DataError

if TYPE_CHECKING:
    from warmstart.config.schema import CsvFeaturesData, SklearnTableData


@dataclass
class VectorSet:
    """All examples of a source: features (N, F) float32, N labels (None when unlabeled)."""

    features: np.ndarray
    labels: list
    feature_names: list[str]
    source: str
    keep: frozenset | None = None  # no class filter for vectors; kept for symmetry with ImageSet
    groups: list[str] | None = None  # N groups (data.group_field), or None

    @property
    def input_shape(self) -> tuple[int]:
        return (self.features.shape[1],)

    def records(self) -> list[dict]:
        return with_groups([{"index": i, "label": y} for i, y in enumerate(self.labels)], self.groups)

    def floats(self, indices) -> np.ndarray:
        return self.features[np.asarray(indices, dtype=np.int64)]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def with_groups(records: list[dict], groups: list[str] | None) -> list[dict]:
    """Records with each example's "group" added (when the source has groups)."""
    if groups is not None:
        for r, g in zip(records, groups, strict=True):
            r["group"] = g
    return records


def read_csv_features(path: str | Path, label_field: str | None = "label",
                      feature_fields: list[str] | None = None, group_field: str | None = None) -> VectorSet:
    """Rows of a CSV file as feature vectors. Labels stay strings; a regression task converts them.
    The `group_field` column (per-group metrics) is not a feature unless feature_fields lists it."""
    p = Path(path)
    header, table = read_csv(p, [])
    if label_field is not None and label_field not in header:
        raise DataError(f"{p}: no column {label_field!r} (columns: {header}); set data.label_field")
    if group_field is not None and group_field not in header:
        raise DataError(f"{p}: no column {group_field!r} (columns: {header}); set data.group_field")
    names = feature_fields or [h for h in header if h not in (label_field, group_field)]
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"{p}: no feature column(s) {missing} (columns: {header})")
    if not names:
        raise DataError(f"{p}: no feature columns besides the label {label_field!r}")
    rows, labels, groups = [], [], []
    for line, row in table:
        if group_field is not None:
            groups.append(group_value(p, line, row.get(group_field), group_field))
        values = []
        for name in names:
            value = _number((row.get(name) or "").strip())
            if value is None:
                raise DataError(f"{p}: line {line}, column {name!r}: expected a finite number, "
                                f"got {row.get(name)!r}")
            values.append(value)
        rows.append(values)
        if label_field is not None:
            label = (row.get(label_field) or "").strip()
            if not label:
                raise DataError(f"{p}: line {line}: empty {label_field!r}")
            labels.append(label)
        else:
            labels.append(None)
    if not rows:
        raise DataError(f"{p}: no data rows after the header")
    return VectorSet(np.asarray(rows, dtype=np.float32), labels, list(names), str(p),
                     groups=groups if group_field is not None else None)


def read_sklearn_table(name: str) -> VectorSet:
    """A real table shipped inside scikit-learn: diabetes, wine, breast_cancer or iris."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    target = bunch.target
    labels = [float(v) for v in target] if name == "diabetes" else [int(v) for v in target]
    return VectorSet(np.asarray(bunch.data, dtype=np.float32), labels, [str(n) for n in bunch.feature_names],
                     f"{name} (scikit-learn)")


def _csv_features(cfg: CsvFeaturesData) -> VectorSet:
    return read_csv_features(cfg.path, cfg.label_field, cfg.feature_fields, cfg.group_field)


def _sklearn_table(cfg: SklearnTableData) -> VectorSet:
    return read_sklearn_table(cfg.name)


VECTOR_SOURCES = {
    "csv_features": _csv_features,
    "sklearn_table": _sklearn_table,
}


def load_vectors(cfg: CsvFeaturesData | SklearnTableData) -> VectorSet:
    """The VectorSet for a vector data section (schema.CsvFeaturesData or SklearnTableData)."""
    if cfg.kind not in VECTOR_SOURCES:
        raise ConfigError(f"data.kind={cfg.kind!r} is not a vector source; expected one of {sorted(VECTOR_SOURCES)}")
    return VECTOR_SOURCES[cfg.kind](cfg)
