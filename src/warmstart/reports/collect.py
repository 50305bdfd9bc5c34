"""Read the artifacts a report is made from: a compare directory (compare.json + one fine-tune run
dir per cell) or a single run directory (config.json, metrics.jsonl, result.json). Files in, plain
dataclasses out. Nothing here imports the training side: artifacts are the contract.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from warmstart.errors import CheckpointError, DataError

SCRATCH = "scratch"  # the `init` value that marks the baseline arm in compare.json


# ----------------------------------------------------------------------------- file readers


def read_json(path: Path) -> dict:
    """A JSON object from `path`, or a one-line DataError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file, in file order.

    metrics.jsonl is append-only, so a run killed mid-write can leave a truncated last line: that
    one line is dropped. A malformed line anywhere else means the file is damaged and is an error.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):
                break
            raise DataError(f"{path}:{i}: not a JSON object line") from None
        if isinstance(rec, dict):
            records.append(rec)
    return records


def split_lines(records: list[dict], split: str) -> list[dict]:
    """The records of one split ("train", "val", "test") that carry a step, sorted by step."""
    out = [r for r in records if r.get("split") == split and isinstance(r.get("step"), (int, float))]
    return sorted(out, key=lambda r: r["step"])


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ----------------------------------------------------------------------------- data model


@dataclass
class Run:
    """One run directory: its resolved config, metrics log split by kind, and result (if finished)."""

    path: Path
    config: dict
    train: list[dict]
    val: list[dict]
    test: list[dict]
    result: dict | None

    @property
    def name(self) -> str:
        return str(self.config.get("run", {}).get("name") or self.path.name)


@dataclass
class Cell:
    """One (arm, label budget, seed) fine-tune of a comparison, as compare.json lists it, with the
    run directory's validation curve, config and forgetting check when those files exist."""

    arm: str
    init: str
    strategy: str
    budget: object                   # label_budget as configured (count, fraction, or None = all)
    n_labels: int                    # labelled examples the cell actually trained on
    seed: object
    summary: dict                    # the compare.json record merged over result.json
    run: Run | None = None           # None when the cell's run directory is gone

    @property
    def test(self) -> dict:
        return self.summary.get("test") or {}

    @property
    def val(self) -> list[dict]:
        return self.run.val if self.run else []

    @property
    def forgetting(self) -> dict | None:
        f = self.summary.get("forgetting")
        return f if isinstance(f, dict) else None


@dataclass
class Comparison:
    """Everything a transfer report needs from one compare directory."""

    path: Path
    name: str
    task: str
    metric: str
    higher_is_better: bool
    n_train_pool: int | None
    cells: list[Cell]
    pretrained_ref: str | None        # compare.json "pretrained", as written
    pretrain: Run | None              # that run, when it could be found
    notes: list[str] = field(default_factory=list)   # what was missing or skipped, for the reader
    reference: str | None = None      # compare.json "reference": the arm others are measured against
    sources: dict = field(default_factory=dict)      # compare.json "sources": name -> {kind, path, describe}

    @property
    def arms(self) -> list[str]:
        """Arm names in compare.json order."""
        return list(dict.fromkeys(c.arm for c in self.cells))

    @property
    def budgets(self) -> list[object]:
        """Label-budget keys, ordered by the number of labels they gave."""
        keys = list(dict.fromkeys(budget_key(c) for c in self.cells))
        return sorted(keys, key=self.n_labels_of)

    def n_labels_of(self, key) -> int:
        """Labels at a budget: the mean over its cells (they agree unless budgets are fractional
        and a split rounded differently), rounded to a whole example."""
        ns = [c.n_labels for c in self.cells if budget_key(c) == key]
        return round(sum(ns) / len(ns))

    def cells_of(self, arm: str, key) -> list[Cell]:
        return [c for c in self.cells if c.arm == arm and budget_key(c) == key]

    def init_of(self, arm: str) -> str:
        return next(c.init for c in self.cells if c.arm == arm)

    @property
    def scratch_arm(self) -> str | None:
        """The reference arm: compare.json's `reference` when it has finished cells, else the arm with
        init == "scratch" (the first full-strategy one if several)."""
        if self.reference in self.arms:
            return self.reference
        scratch = [a for a in self.arms if self.init_of(a) == SCRATCH]
        if not scratch:
            return None
        full = [a for a in scratch if any(c.strategy == "full" for c in self.cells if c.arm == a)]
        return (full or scratch)[0]


def budget_key(cell: Cell):
    """Cells group by their configured label budget; without one, by the labels they got."""
    return cell.budget if cell.budget is not None or cell.n_labels is None else ("n", cell.n_labels)


# ----------------------------------------------------------------------------- loaders


def load_run(path: Path) -> Run:
    """A single run directory. Needs metrics.jsonl; config.json and result.json are optional."""
    path = Path(path)
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise CheckpointError(f"{path}: no compare.json or metrics.jsonl found")
    records = read_metrics(metrics)
    config = read_json(path / "config.json") if (path / "config.json").is_file() else {}
    result = read_json(path / "result.json") if (path / "result.json").is_file() else None
    return Run(path=path, config=config, train=split_lines(records, "train"), val=split_lines(records, "val"),
               test=split_lines(records, "test"), result=result)


def _try_run(path: Path) -> Run | None:
    try:
        return load_run(path)
    except CheckpointError:
        return None


def find_run(ref: str | None, *bases: Path) -> Path | None:
    """A run directory named by `ref` (absolute, relative to the current directory, or relative to
    one of `bases`), or None when no candidate holds a metrics.jsonl or config.json."""
    if not ref:
        return None
    ref_path = Path(ref)
    candidates = [ref_path] if ref_path.is_absolute() else [ref_path, *(b / ref_path for b in bases)]
    for cand in candidates:
        if (cand / "metrics.jsonl").is_file() or (cand / "config.json").is_file():
            return cand
    return None


def load_comparison(path: Path) -> Comparison:
    """compare.json plus, for each finished cell, its run directory (when still there)."""
    path = Path(path)
    raw = read_json(path / "compare.json")
    for key in ("metric", "cells"):
        if key not in raw:
            raise DataError(f"{path / 'compare.json'}: missing field {key!r}")
    metric = raw["metric"]
    notes: list[str] = []

    cells = []
    skipped = 0
    missing_dirs = 0
    for i, rec in enumerate(raw["cells"]):
        if not isinstance(rec, dict) or "arm" not in rec:
            raise DataError(f"{path / 'compare.json'}: cells[{i}] is not a cell record with an 'arm'")
        run = None
        run_dir = path / rec["run_dir"] if rec.get("run_dir") else None
        if run_dir is not None:
            run = _try_run(run_dir)
        # result.json is the cell's own record; compare.json copies most of it, so merge the two
        # (compare.json wins: it is what the comparison was summarised from).
        summary = {**((run.result or {}) if run else {}), **rec}
        if rec.get("status", "done") != "done" or not is_number((summary.get("test") or {}).get(metric)):
            skipped += 1
            continue
        if run is None:
            missing_dirs += 1
        n_labels = summary.get("n_labels")
        if not is_number(n_labels):
            budget = rec.get("label_budget")
            n_labels = budget if is_number(budget) and budget >= 1 else None
        if n_labels is None:
            raise DataError(f"{path / 'compare.json'}: cells[{i}] has neither n_labels nor a label count")
        cells.append(Cell(arm=str(rec["arm"]), init=str(rec.get("init", "")), strategy=str(rec.get("strategy", "")),
                          budget=rec.get("label_budget"), n_labels=int(n_labels), seed=rec.get("seed"),
                          summary=summary, run=run))
    if not cells:
        raise DataError(f"{path / 'compare.json'}: no finished cells with a test {metric!r}")
    if skipped:
        notes.append(f"{skipped} cell(s) not finished (or without a test {metric}) were left out.")
    if missing_dirs:
        notes.append(f"{missing_dirs} cell run director{'y' if missing_dirs == 1 else 'ies'} missing: "
                     "their curves are absent; their final numbers come from compare.json.")

    ref = raw.get("pretrained")
    pre_dir = find_run(ref, path, path.parent)
    pretrain = _try_run(pre_dir) if pre_dir else None
    if pretrain is None and pre_dir is not None and (pre_dir / "config.json").is_file():
        pretrain = Run(path=pre_dir, config=read_json(pre_dir / "config.json"), train=[], val=[], test=[], result=None)
    if ref and pretrain is None:
        notes.append(f"pretraining run {ref} not found: lineage and pretraining curves are limited.")

    higher = raw.get("higher_is_better")
    return Comparison(path=path, name=str(raw.get("name") or path.name), task=str(raw.get("task", "")),
                      metric=metric, higher_is_better=True if higher is None else bool(higher),
                      n_train_pool=raw.get("n_train_pool"), cells=cells, pretrained_ref=ref, pretrain=pretrain,
                      notes=notes, reference=raw.get("reference"),
                      sources=raw.get("sources") if isinstance(raw.get("sources"), dict) else {})


def detect(path: Path) -> str:
    """"compare" or "run" for a report directory; a one-line CheckpointError otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such directory")
    if (path / "compare.json").is_file():
        return "compare"
    if (path / "metrics.jsonl").is_file():
        return "run"
    raise CheckpointError(f"{path}: no compare.json or metrics.jsonl found")
