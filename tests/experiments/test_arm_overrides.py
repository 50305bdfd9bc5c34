"""Per-arm overrides in compare: lr, max_steps and label_budgets (a costly arm kept to some budgets)."""

import pytest

from warmstart.config import parse_config
from warmstart.errors import ConfigError


def body(tmp_path, arms, **over):
    return {"run": {"name": "c", "out_dir": str(tmp_path)},
            "sources": {"big": {"hf": str(tmp_path)}, "small": {"scratch": "big"}, "tfidf": {"baseline": "majority"}},
            "arms": arms, "label_budgets": [10, 50, "all"], "seeds": [0, 1],
            "data": {"kind": "labeled_text", "path": "x.csv"}, "optim": {"kind": "adamw", "lr": 5e-4},
            "schedule": {"kind": "warmup_cosine", "warmup_steps": 5}, "train": {"max_steps": 100}, **over}


def test_arm_lr_steps_and_budgets_reach_only_that_arms_cells(tmp_path):
    from warmstart.experiments.compare import cell_configs

    cfg = parse_config(body(tmp_path, [
        {"name": "big", "source": "big", "lr": 1e-4, "max_steps": 30, "label_budgets": [10, "all"]},
        {"name": "small", "source": "small"}, {"name": "tfidf", "source": "tfidf", "label_budgets": [50]}]),
        "compare", "c.yaml")
    cells = {r["run_dir"]: job for r, job in cell_configs(cfg, tmp_path / "c")}
    assert sorted(cells) == sorted([f"cells/big_b{b}_s{s}" for b in ("10", "all") for s in (0, 1)]
                                   + [f"cells/small_b{b}_s{s}" for b in ("10", "50", "all") for s in (0, 1)]
                                   + ["cells/tfidf_b50_s0", "cells/tfidf_b50_s1"])
    big, small = cells["cells/big_b10_s0"], cells["cells/small_b10_s0"]
    assert (big.optim.lr, big.train.max_steps, big.optim.kind) == (1e-4, 30, "adamw")
    assert (small.optim.lr, small.train.max_steps) == (5e-4, 100)
    assert big.data.label_budget == 10 and cells["cells/big_ball_s1"].data.label_budget is None


@pytest.mark.parametrize("arm, message", [
    ({"label_budgets": [20]}, r"arm 'big': label_budgets \[20\] are not in label_budgets"),
    ({"max_steps": 5}, r"arm 'big': max_steps \(5\) must be > schedule.warmup_steps \(5\)"),
    ({"lr": 0}, "arms.0.lr"),
])
def test_bad_arm_overrides_are_one_line_errors(tmp_path, arm, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(body(tmp_path, [{"name": "big", "source": "big", **arm}, {"name": "s", "source": "small"}]),
                     "compare", "c.yaml")
