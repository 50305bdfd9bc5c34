"""Synthetic compare directories for the report tests, written in the artifact formats that
experiments/compare.py and the fine-tune runs produce, with curves whose answers are known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

BUDGETS = [10, 100, 1000, 10000]
SEEDS = [0, 1, 2]
EVAL_STEPS = list(range(10, 101, 10))
SECONDS_PER_STEP = {"pretrained": 0.05, "scratch": 0.04, "probe": 0.01}


def scratch_acc(n: float) -> float:
    """Scratch's test accuracy: linear in log(labels), so interpolation in log(n) is exact."""
    return 0.3 + 0.05 * math.log(n)


def pretrained_acc(n: float) -> float:
    """Pretrained with n labels = scratch with 10·n labels: labels saved is exactly 10x."""
    return scratch_acc(10 * n)


# Per-seed offsets: scratch's average to 0, so its means sit exactly on scratch_acc; pretrained's
# too, but with a different spread, so paired differences have a known nonzero std.
SCRATCH_OFFSETS = {0: -0.01, 1: 0.0, 2: 0.01}
PRETRAINED_OFFSETS = {0: -0.03, 1: 0.0, 2: 0.03}


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def _val_curve(arm: str, best: float, higher: bool) -> list[float]:
    """Validation metric per eval step: scratch ramps linearly to its best at step 100,
    pretrained at step 40 (then flat); lower-is-better metrics mirror around 1."""
    ramp_end = 40 if arm != "scratch" else 100
    out = []
    for step in EVAL_STEPS:
        acc = best * min(1.0, step / ramp_end)
        out.append(acc if higher else 1.0 + (1.0 - acc))   # e.g. "mse" falling from 2 towards 1
    return out


def make_compare(root: Path, *, metric: str = "acc", higher: bool = True, arms: dict | None = None,
                 budgets=BUDGETS, seeds=SEEDS, with_pretrain: bool = True, forgetting: bool = False,
                 val_best: dict | None = None, seeds_for: dict | None = None) -> Path:
    """Write <root>/compare (compare.json + cells/*) and <root>/pretrain; returns the compare dir.

    arms: name -> init ("pretrained" | "scratch"); test metric from scratch_acc / pretrained_acc
    plus per-seed offsets (mirrored as 1 - acc + 1 for lower-is-better metrics).
    val_best: arm -> best validation value of the higher-is-better curve (default 0.8 / 0.9).
    seeds_for: arm -> seeds (default `seeds` for every arm).
    """
    arms = arms or {"pretrained": "pretrained", "scratch": "scratch"}
    val_best = val_best or {"scratch": 0.8, "pretrained": 0.9, "probe": 0.85}
    compare_dir = root / "compare"
    pre_dir = root / "pretrain"
    if with_pretrain:
        _write_json(pre_dir / "config.json", {
            "run": {"name": "pretrain", "seed": 0, "out_dir": str(root)}, "verb": "pretrain",
            "data": {"kind": "corpus", "path": "data/wiki.txt", "block_size": 64},
            "tokenizer": {"kind": "bpe", "vocab_size": 512},
            "model": {"kind": "transformer", "d_model": 64, "n_layers": 2, "n_heads": 2, "causal": False},
            "objective": {"kind": "masked_lm", "mask_prob": 0.15}, "warmstart_version": "0.1.0"})
        lines = []
        for step in range(50, 501, 50):
            loss = 6.0 * math.exp(-step / 300) + 2.0
            lines.append({"step": step, "split": "train", "loss": loss + 0.1, "lr": 1e-3, "elapsed_s": step * 0.1,
                          "items": step * 32})
            lines.append({"step": step, "split": "val", "loss": loss, "ppl": math.exp(loss), "elapsed_s": step * 0.1,
                          "items": step * 32})
        (pre_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")

    other = {"classification": ["f1"], "regression": ["mae"]}
    task = "classification" if higher else "regression"
    cells = []
    for budget in budgets:
        for arm, init in arms.items():
            for seed in (seeds_for or {}).get(arm, seeds):
                offsets = SCRATCH_OFFSETS if init == "scratch" else PRETRAINED_OFFSETS
                acc = (scratch_acc(budget) if init == "scratch" else pretrained_acc(budget)) + offsets.get(seed, 0.0)
                value = acc if higher else 2.0 - acc
                test = {"loss": 1.0, metric: value, other[task][0]: value * 0.9}
                curve = _val_curve(arm if arm in ("scratch", "pretrained") else "probe", val_best[arm], higher)
                name = f"{arm}_b{budget}_s{seed}"
                run_dir = compare_dir / "cells" / name
                best_i = max(range(len(curve)), key=lambda i: curve[i] if higher else -curve[i])
                secs = SECONDS_PER_STEP.get(arm, 0.03)
                record = {
                    "arm": arm, "init": init, "strategy": "linear_probe" if arm == "probe" else "full",
                    "label_budget": budget, "n_labels": budget, "seed": seed, "run_dir": f"cells/{name}",
                    "status": "done", "test": test, "best_val": {"loss": 1.0, metric: curve[best_i]},
                    "best_step": EVAL_STEPS[best_i], "steps": 100, "seconds_to_best": EVAL_STEPS[best_i] * secs,
                    "train_seconds": 100 * secs, "params_trained": 1000 if arm == "probe" else 50000,
                    "params_total": 50000, "items_seen": 3200}
                cells.append(record)
                _write_json(run_dir / "config.json", {
                    "run": {"name": name, "seed": seed, "out_dir": str(compare_dir / "cells")},
                    "data": {"kind": "demo_sentiment", "label_budget": budget, "max_len": 64},
                    "init": str(pre_dir), "init_weights": "random" if init == "scratch" else "pretrained",
                    "task": {"kind": task, "pooling": "mean"}, "strategy": {"kind": record["strategy"], "lr": 1e-3},
                    "verb": "finetune", "warmstart_version": "0.1.0"})
                lines = []
                for step, v in zip(EVAL_STEPS, curve, strict=True):
                    lines.append({"step": step, "split": "train", "loss": 1.0 / step, "lr": 1e-3,
                                  "elapsed_s": step * secs, "items": step * 32})
                    lines.append({"step": step, "split": "val", "loss": 1.0 / step, metric: v,
                                  "elapsed_s": step * secs, "items": step * 32})
                lines.append({"step": 100, "split": "test", **test, "elapsed_s": 100 * secs})
                (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
                result = {k: record[k] for k in ("test", "best_val", "best_step", "steps", "train_seconds",
                                                 "seconds_to_best", "params_trained", "params_total", "items_seen",
                                                 "n_labels")}
                if forgetting and init != "scratch":
                    result["forgetting"] = {"objective": "masked_lm", "val_loss_before": 2.5,
                                            "val_loss_after": 2.5 + 0.1 * (seed + 1)}
                _write_json(run_dir / "result.json", result)

    _write_json(compare_dir / "compare.json", {
        "format_version": 1, "name": "synthetic", "pretrained": str(pre_dir), "task": task, "metric": metric,
        "higher_is_better": higher, "n_train_pool": 30000, "cells": cells})
    return compare_dir


@pytest.fixture(name="make_compare")
def make_compare_fixture():
    """The make_compare writer (tests run with --import-mode=importlib, so they cannot import conftest)."""
    return make_compare


@pytest.fixture
def offsets() -> dict:
    return {"pretrained": PRETRAINED_OFFSETS, "scratch": SCRATCH_OFFSETS}


@pytest.fixture
def compare_dir(tmp_path) -> Path:
    return make_compare(tmp_path)


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory) -> Path:
    """One full report (three arms, forgetting checks) shared by the read-only tests."""
    from warmstart.reports import write_report

    root = tmp_path_factory.mktemp("report")
    d = make_compare(root, forgetting=True,
                     arms={"pretrained": "pretrained", "probe": "pretrained", "scratch": "scratch"})
    write_report(d)
    return d
