"""compare with a distill source: the distilled arm's cells are ordinary fine-tune runs trained with
each cell's labels plus the transfer set, listed in compare.json next to the other arms; bad teacher
or student names fail before any cell runs."""

import json

import pytest

from warmstart.config import parse_config
from warmstart.errors import ConfigError
from warmstart.experiments.compare import compare
from warmstart.workflows import finetune

TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


@pytest.fixture(scope="module")
def teacher(tiny_mlm_root):
    cfg = parse_config({"run": {"name": "teacher", "out_dir": str(tiny_mlm_root / "runs")},
                        "init": str(tiny_mlm_root / "runs" / "pre"),
                        "data": {"kind": "labeled_text", "path": str(tiny_mlm_root / "labeled.csv"), "max_len": 16},
                        "train": {**TRAIN, "max_steps": 6}}, "finetune", "teacher")
    finetune(cfg, say=lambda *_: None)
    return tiny_mlm_root / "runs" / "teacher"


def _raw(root, teacher, **over):
    return {"run": {"name": "kd", "out_dir": str(root / "runs")},
            "sources": {"own": str(root / "runs" / "pre"), "scratch": {"scratch": "own"},
                        "own_kd": {"distill": str(teacher), "student": "scratch", "alpha": 0.3},
                        "small_kd": {"distill": str(teacher), "temperature": 3.0,
                                     "student": {"model": {"kind": "transformer", "arch": "bert", "n_layers": 1,
                                                           "d_model": 16, "n_heads": 2}}}, **over},
            "label_budgets": [8], "seeds": [0],
            "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
            "train": TRAIN}


def test_distilled_arms_run_as_cells(tiny_mlm_root, teacher):
    cfg = parse_config(_raw(tiny_mlm_root, teacher), "compare", "kd.yaml")
    out = compare(cfg, say=lambda *_: None)
    summary = json.loads((out / "compare.json").read_text())
    cells = {c["arm"]: c for c in summary["cells"]}
    assert set(cells) == {"own", "scratch", "own_kd", "small_kd"} and summary["reference"] == "scratch"
    for arm in ("own_kd", "small_kd"):
        c = cells[arm]
        assert c["init"] == "distilled" and c["n_labels"] == 8 and c["distill"]["n_labeled"] == 8
        assert c["distill"]["n_transfer"] == summary["n_train_pool"] - 8
        saved = json.loads((out / c["run_dir"] / "config.json").read_text())
        assert saved["verb"] == "finetune" and saved["lineage"]["teacher"] == str(teacher)
    assert cells["own_kd"]["distill"]["alpha"] == 0.3 and cells["small_kd"]["distill"]["temperature"] == 3.0
    assert cells["small_kd"]["params_total"] < cells["own_kd"]["params_total"]  # the 16-wide student
    assert "distilled from" in summary["sources"]["own_kd"]["describe"]


def test_bad_distill_sources_fail_before_any_cell(tiny_mlm_root, teacher):
    raw = _raw(tiny_mlm_root, teacher, own_kd={"distill": str(teacher), "student": "nobody"})
    with pytest.raises(ConfigError, match="sources.own_kd: student: 'nobody' must name a run, hf or scratch source"):
        parse_config(raw, "compare", "kd.yaml")
    raw = _raw(tiny_mlm_root, teacher, own_kd={"distill": str(tiny_mlm_root / "runs" / "pre"), "student": "own"})
    with pytest.raises(ConfigError, match="sources.own_kd: .* is a pretrain run; distill needs a finished"):
        compare(parse_config(raw, "compare", "kd.yaml"), say=lambda *_: None)
    raw = _raw(tiny_mlm_root, teacher, own_kd={"distill": str(teacher), "student": "own", "alpha": 2})
    with pytest.raises(ConfigError, match="alpha"):
        parse_config(raw, "compare", "kd.yaml")
