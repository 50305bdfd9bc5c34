"""compare with data.group_field: every cell records per-group test metrics (result.json and
compare.json), and the report's bias-check section is computed from them."""

import csv
import json
import random

import pytest

from warmstart.config import parse_config

TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


@pytest.fixture(scope="module")
def grouped_compare(tiny_mlm_root):
    from warmstart.experiments.compare import compare

    root = tiny_mlm_root
    rng = random.Random(1)
    with open(root / "labeled.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(root / "grouped.csv", "w", newline="") as f:
        out = csv.DictWriter(f, ["text", "label", "source"])
        out.writeheader()
        for row in rows:
            out.writerow({**row, "source": rng.choice(["forum", "news"])})
    cfg = parse_config({
        "run": {"name": "groups", "out_dir": str(root / "runs")}, "pretrained": str(root / "runs" / "pre"),
        "label_budgets": ["all"], "seeds": [0, 1], "schedule": {"kind": "constant"}, "train": TRAIN,
        "data": {"kind": "labeled_text", "path": str(root / "grouped.csv"), "max_len": 16, "group_field": "source"},
    }, "compare", "cmp.yaml")
    return compare(cfg, say=lambda *_: None)


def test_cells_record_per_group_metrics(grouped_compare):
    summary = json.loads((grouped_compare / "compare.json").read_text())
    assert len(summary["cells"]) == 4
    for cell in summary["cells"]:
        g = cell["test_by_group"]
        result = json.loads((grouped_compare / cell["run_dir"] / "result.json").read_text())
        assert g == result["test_by_group"] and set(g["groups"]) == {"forum", "news"}
        # The groups partition the test split: example-weighted group accuracy is the overall one.
        n = sum(m["n"] for m in g["groups"].values())
        assert sum(m["n"] * m["acc"] for m in g["groups"].values()) / n == pytest.approx(cell["test"]["acc"])
        # Per-class recall per group, and its between-group gaps (equalized odds).
        for label, gap in g["recall_gap"].items():
            seen = [m["recall"][label] for m in g["groups"].values() if m["recall"][label] is not None]
            assert gap == pytest.approx(max(seen) - min(seen))
        assert g["max_recall_gap"] == max(v for v in g["recall_gap"].values() if v is not None)


def test_report_section_matches_the_cells(grouped_compare):
    from warmstart.reports import groups, write_report
    from warmstart.reports.collect import load_comparison

    write_report(grouped_compare)
    md = (grouped_compare / "report.md").read_text()
    assert "## Per-group metrics (bias check)" in md and "### Per-group recall (equalized odds)" in md
    cmp = load_comparison(grouped_compare)
    by_arm = {g.arm: g for g in groups.group_gaps(cmp)}
    assert set(by_arm) == {"pretrained", "scratch"} and by_arm["pretrained"].vs_reference is not None
    for arm, it in by_arm.items():
        cells = [c for c in cmp.cells if c.arm == arm]
        gaps = [c.summary["test_by_group"]["gap"] for c in cells]
        assert it.gap.diff == pytest.approx(sum(gaps) / len(gaps)) and it.gap.n == 2
        assert f"| {arm} | 70 |" in md


def test_baseline_arms_report_per_group_metrics(grouped_compare, tiny_mlm_root):
    """A baseline cell (TF-IDF, majority) of grouped data records test_by_group as a fine-tuned cell
    does, so the report's bias check has a row for each baseline arm."""
    from warmstart.experiments.compare import compare
    from warmstart.reports import groups, write_report
    from warmstart.reports.collect import load_comparison

    root = tiny_mlm_root
    cfg = parse_config({
        "run": {"name": "groups_baselines", "out_dir": str(root / "runs")},
        "sources": {"tfidf": {"baseline": "tfidf_logreg"}, "maj": {"baseline": "majority"}},
        "reference": "maj", "label_budgets": ["all"], "seeds": [0, 1], "train": TRAIN,
        "data": {"kind": "labeled_text", "path": str(root / "grouped.csv"), "max_len": 16, "group_field": "source"},
    }, "compare", "cmp.yaml")
    out = compare(cfg, say=lambda *_: None)
    fine_tuned = json.loads((grouped_compare / "compare.json").read_text())["cells"][0]["test_by_group"]
    summary = json.loads((out / "compare.json").read_text())
    for cell in summary["cells"]:
        g = cell["test_by_group"]
        assert set(g) == set(fine_tuned) and set(g["groups"]) == {"forum", "news"}
        n = sum(m["n"] for m in g["groups"].values())
        assert n == sum(fine_tuned_g["n"] for fine_tuned_g in fine_tuned["groups"].values())  # the same test split
        assert sum(m["n"] * m["acc"] for m in g["groups"].values()) / n == pytest.approx(cell["test"]["acc"])
        for label, gap in g["recall_gap"].items():
            seen = [m["recall"][label] for m in g["groups"].values() if m["recall"][label] is not None]
            assert gap == pytest.approx(max(seen) - min(seen))
        if cell["arm"] == "maj":  # one class predicted for everyone: recall 1 for it and 0 for the other, per group
            for m in g["groups"].values():
                assert sorted(r for r in m["recall"].values() if r is not None) in ([0.0, 1.0], [0.0], [1.0])
    write_report(out)
    md = (out / "report.md").read_text()
    assert "## Per-group metrics (bias check)" in md
    by_arm = {g.arm: g for g in groups.group_gaps(load_comparison(out))}
    assert set(by_arm) == {"tfidf", "maj"} and by_arm["tfidf"].vs_reference is not None
    assert by_arm["tfidf"].gap.n == 2 and "| tfidf |" in md and "| maj |" in md

