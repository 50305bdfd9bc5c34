"""compare: the grid inits × strategies × label budgets (counts, fractions, all) × seeds, resuming,
parallel cells, the forgetting check recorded by pretrained cells, and the report made from it."""

import json
import os

import pytest

from warmstart.config import parse_config
from warmstart.errors import ConfigError

TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


@pytest.fixture(scope="module")
def pretrained(tiny_mlm_root):
    """A tiny masked-LM pretraining run and a labelled CSV (100 rows: a 70-example training pool)."""
    return tiny_mlm_root


def compare_config(root, **over):
    body = {"run": {"name": "grid", "out_dir": str(root / "runs")}, "pretrained": str(root / "runs" / "pre"),
            "label_budgets": [10, 0.5, "all"], "seeds": [0, 1],
            "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
            "schedule": {"kind": "constant"}, "train": TRAIN, **over}
    return parse_config(body, "compare", "cmp.yaml")


def test_grid_is_inits_by_strategies_by_budgets_by_seeds(tmp_path):
    from warmstart.experiments.compare import cell_configs

    cfg = compare_config(tmp_path, strategies=[{"kind": "full"}, {"kind": "linear_probe"}])
    cells = cell_configs(cfg, tmp_path / "grid")
    assert len(cells) == 2 * 2 * 3 * 2
    arms = {(r["arm"], r["init"], r["strategy"]) for r, _ in cells}
    assert arms == {("pretrained_full", "pretrained", "full"), ("scratch_full", "scratch", "full"),
                    ("pretrained_linear_probe", "pretrained", "linear_probe"),
                    ("scratch_linear_probe", "scratch", "linear_probe")}
    by_name = {r["run_dir"]: (r, ft) for r, ft in cells}
    r, ft = by_name["cells/scratch_linear_probe_b0.5_s1"]
    assert ft.data.label_budget == 0.5 and ft.init_weights == "random" and ft.strategy.kind == "linear_probe"
    assert ft.run.seed == 1 and r["label_budget"] == 0.5
    r, ft = by_name["cells/pretrained_full_ball_s0"]
    assert ft.data.label_budget is None and r["label_budget"] is None and ft.init_weights == "pretrained"

    # One strategy: arms are named by their init alone; explicit arms replace the grid.
    assert [a.name for a in compare_config(tmp_path).grid_arms()] == ["pretrained", "scratch"]
    explicit = compare_config(tmp_path,
                              arms=[{"name": "probe", "init": "pretrained", "strategy": {"kind": "linear_probe"}}])
    assert [(a.name, a.strategy.kind) for a in explicit.grid_arms()] == [("probe", "linear_probe")]


@pytest.mark.parametrize("over, field", [
    ({"label_budgets": [10, 1.5]}, "label_budgets"),
    ({"label_budgets": [0]}, "label_budgets"),
    ({"label_budgets": [None, "all"]}, "label_budgets"),
    ({"label_budgets": ["most"]}, "label_budgets"),
    ({"strategies": [{"kind": "full"}, {"kind": "full", "head_lr": 0.1}]}, "names must be unique"),
    ({"inits": ["pretrained", "imagenet"]}, "inits"),
    ({"strategies": [{"kind": "no_such_strategy"}]}, "strategies"),
])
def test_bad_grid_is_a_config_error_naming_the_field(tmp_path, over, field):
    with pytest.raises(ConfigError, match=field) as e:
        compare_config(tmp_path, **over)
    assert all(line.startswith("cmp.yaml: ") for line in str(e.value).splitlines())


def test_compare_runs_in_parallel_resumes_and_reports(pretrained):
    from warmstart.experiments.compare import compare
    from warmstart.reports import write_report

    root = pretrained
    cfg = compare_config(root, strategies=[{"kind": "full"}, {"kind": "linear_probe"}], label_budgets=[10, "all"],
                         seeds=[0])
    out = compare(cfg, jobs=2, say=lambda *_: None)
    summary = json.loads((out / "compare.json").read_text())
    cells = {c["run_dir"]: c for c in summary["cells"]}
    assert len(cells) == 4 * 2
    assert {c["n_labels"] for c in cells.values()} == {10, 70}
    probe, full = cells["cells/pretrained_linear_probe_b10_s0"], cells["cells/pretrained_full_b10_s0"]
    assert probe["params_trained"] < full["params_trained"] == full["params_total"]

    # Pretrained cells measured the pretraining objective before and after fine-tuning; the
    # backbone a linear probe froze is unchanged, so its loss is too; scratch cells have no "before".
    pre_val = json.loads((root / "runs" / "pre" / "result.json").read_text())["val"]["loss"]
    assert probe["forgetting"]["val_loss_before"] == pytest.approx(pre_val, rel=1e-5)
    assert probe["forgetting"]["val_loss_after"] == pytest.approx(pre_val, rel=1e-5)
    assert full["forgetting"]["objective"] == "masked_lm"
    assert full["forgetting"]["val_loss_after"] != pytest.approx(full["forgetting"]["val_loss_before"], rel=1e-6)
    assert cells["cells/scratch_full_b10_s0"]["forgetting"] is None

    # Re-running finds every cell done; a deleted result.json is re-run (its run dir is resumed).
    (out / "cells" / "scratch_full_ball_s0" / "result.json").unlink()
    said = []
    compare(cfg, jobs=1, say=said.append)
    assert "  7 cells already complete, 1 to run" in said
    assert json.loads((out / "compare.json").read_text())["cells"] == summary["cells"]

    html = write_report(out).read_text()
    assert "Forgetting check" in html and "pretrained_linear_probe" in html and "Labels saved" in html


def test_parallel_cells_each_see_their_own_gpu(monkeypatch):
    """compare --jobs N: worker i sees GPU i mod #GPUs through CUDA_VISIBLE_DEVICES (the parent's own
    CUDA_VISIBLE_DEVICES respected); without GPUs the environment is left alone."""
    import queue

    import torch

    from warmstart.experiments.compare import _pin_gpu, gpu_slots, visible_gpus

    assert gpu_slots(3, ["0", "1"]) == ["0", "1", "0"] and gpu_slots(2, []) == [None, None]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_gpus() == ["5", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1"]
    q = queue.Queue()
    for gpu in gpu_slots(2, ["5", "7"]):
        q.put(gpu)
    _pin_gpu(q)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    _pin_gpu(q)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    q.put(None)
    _pin_gpu(q)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
