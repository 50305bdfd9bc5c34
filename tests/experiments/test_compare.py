"""compare: the grid inits × strategies × label budgets (counts, fractions, all) × seeds, resuming,
parallel cells, the forgetting check recorded by pretrained cells, and the report made from it."""

import json

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


def test_compare_runs_in_parallel_resumes_and_reports(pretrained, monkeypatch):
    import torch

    from warmstart.experiments import backends
    from warmstart.experiments.compare import compare
    from warmstart.reports import write_report

    # As if on a 2-GPU machine: each of the 2 worker processes is handed its own GPU (the workers
    # themselves run CPU-only torch, so train.device auto still trains there on the CPU).
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pools, real_pool = [], backends.cell_pool
    monkeypatch.setattr(backends, "cell_pool", lambda n, slots: pools.append(slots) or real_pool(n, slots))
    root = pretrained
    cfg = compare_config(root, strategies=[{"kind": "full"}, {"kind": "linear_probe"}], label_budgets=[10, "all"],
                         seeds=[0])
    out = compare(cfg, jobs=2, say=lambda *_: None)
    assert pools == [["0", "1"]]
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


def test_failed_cell_is_one_line_naming_it(pretrained):
    from warmstart.errors import DataError
    from warmstart.experiments.compare import compare

    cfg = compare_config(pretrained, label_budgets=[10], seeds=[0], run={"name": "broken", "out_dir": str(pretrained)},
                         data={"kind": "labeled_text", "path": str(pretrained / "missing.csv"), "max_len": 16})
    with pytest.raises(DataError) as e:
        compare(cfg, say=lambda *_: None)
    assert str(e.value) == f"compare cell cells/pretrained_b10_s0: {pretrained / 'missing.csv'}: no such file"
    assert not (pretrained / "broken" / "compare.json").exists()
