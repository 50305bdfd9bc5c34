"""compare --backend ray on a local Ray instance started by this module (2 CPUs, no dashboard):
every cell runs as a Ray task, its files are on the driver, a re-run through the CLI (a second
driver that finds the cluster through RAY_ADDRESS, as on another machine) skips finished cells,
and a failing cell stops the grid with one line naming it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from warmstart.config import parse_config
from warmstart.errors import DataError

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'warmstart[ray]')")

TRAIN = {"max_steps": 2, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


@pytest.fixture(scope="module")
def local_ray():
    # Workers start in this process's working directory with its environment, so they import the
    # same warmstart (an installed package, or PYTHONPATH=src from the repository root).
    # address="local": a new instance of our own, never a cluster some other `ray start` left on this machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def compare_body(root, name, data_path):
    return {
        "run": {"name": name, "out_dir": str(root / "runs")},
        "sources": {"own": str(root / "runs" / "pre"), "tfidf": {"baseline": "tfidf_logreg"}},
        "label_budgets": [10], "seeds": [0], "schedule": {"kind": "constant"}, "train": TRAIN,
        "data": {"kind": "labeled_text", "path": str(data_path), "max_len": 16},
    }


def compare_config(root, name, data_path):
    return parse_config(compare_body(root, name, data_path), "compare", "cmp.yaml")


def test_cells_run_as_ray_tasks_and_rerun_skips_finished(tiny_mlm_root, local_ray, monkeypatch):
    from warmstart.experiments import backends
    from warmstart.experiments.compare import compare

    def not_here(job):
        raise AssertionError("a cell ran in the driver process")

    # Ray workers import warmstart afresh, so this only stops cells from running in the driver.
    monkeypatch.setattr(backends, "run_cell", not_here)
    cfg = compare_config(tiny_mlm_root, "ray-grid", tiny_mlm_root / "labeled.csv")
    said = []
    out = compare(cfg, backend="ray", say=said.append)
    summary = json.loads((out / "compare.json").read_text())
    cells = {c["run_dir"]: c for c in summary["cells"]}
    assert set(cells) == {"cells/own_b10_s0", "cells/tfidf_b10_s0"}
    assert all(c["status"] == "done" and c["n_labels"] == 10 for c in cells.values())
    for name in cells:
        assert {"config.json", "metrics.jsonl", "result.json"} <= {p.name for p in (out / name).iterdir()}
    # Each fine-tune cell reserved one CPU (no train.num_threads, no --cpus-per-cell) and used one thread.
    assert json.loads((out / "cells" / "own_b10_s0" / "config.json").read_text())["train"]["num_threads"] == 1

    (out / "cells" / "tfidf_b10_s0" / "result.json").unlink()
    said.clear()
    compare(cfg, backend="ray", say=said.append)
    assert "  1 cells already complete, 1 to run" in said
    again = json.loads((out / "compare.json").read_text())["cells"]
    assert [c["test"] for c in again] == [c["test"] for c in summary["cells"]]   # the baseline is deterministic


@pytest.mark.slow  # a second interpreter, and a new Ray job whose workers import torch again: ~60 s under load
def test_cli_reaches_the_cluster_through_ray_address(tiny_mlm_root, local_ray):
    """A second driver (the CLI in its own process, as on another machine) finds the cluster through
    RAY_ADDRESS, connects, runs the one unfinished cell there, disconnects, and leaves the cluster up."""
    out = tiny_mlm_root / "runs" / "ray-cli"
    recipe = tiny_mlm_root / "ray-grid.yaml"
    recipe.write_text(yaml.safe_dump(compare_body(tiny_mlm_root, "ray-cli", tiny_mlm_root / "labeled.csv")))
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "RAY_ADDRESS": local_ray,
           "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "warmstart", "compare", str(recipe), "--backend", "ray"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "compare: 2 cells" in run.stdout and "| tfidf |" in run.stdout
    assert {c["status"] for c in json.loads((out / "compare.json").read_text())["cells"]} == {"done"}

    (out / "cells" / "tfidf_b10_s0" / "result.json").unlink()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "  1 cells already complete, 1 to run" in run.stdout
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2   # still up for this driver


def test_failed_ray_cell_is_one_line_naming_it(tiny_mlm_root, local_ray):
    from warmstart.experiments.compare import compare

    missing = tiny_mlm_root / "missing.csv"
    with pytest.raises(DataError, match=rf"^compare cell cells/\w+_b10_s0: {missing}: no such file$"):
        compare(compare_config(tiny_mlm_root, "ray-broken", missing), backend="ray", say=lambda *_: None)
    assert not (tiny_mlm_root / "runs" / "ray-broken" / "compare.json").exists()
