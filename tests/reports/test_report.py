"""The transfer report end to end on synthetic compare directories whose answers are known:
labels saved, lift intervals, convergence, lower-is-better metrics, degraded inputs, errors, and a
self-contained HTML page."""

import base64
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warmstart.errors import CheckpointError, DataError, WarmstartError
from warmstart.reports import analysis, tables, write_report
from warmstart.reports.collect import load_comparison

SRC = Path(__file__).resolve().parents[2] / "src"
T_975_DF2 = 4.302652729911275     # Student t quantile, 97.5%, 2 degrees of freedom


# ----------------------------------------------------------------------------- the numbers


def test_labels_saved_is_ten_x_on_the_synthetic_curves(compare_dir):
    cmp = load_comparison(compare_dir)
    assert cmp.scratch_arm == "scratch" and cmp.budgets == [10, 100, 1000, 10000]
    got = {s.n_labels: s.match for s in analysis.labels_saved(cmp)}
    # pretrained(n) = scratch(10 n) exactly, so scratch needs 10x the labels while 10 n is in range.
    for n in (10, 100, 1000):
        assert got[n].bound == "" and got[n].labels == pytest.approx(10 * n, rel=1e-9)
    assert got[10000].bound == ">" and got[10000].labels == 10000


def test_lift_is_a_paired_t_interval_over_seeds(compare_dir, offsets):
    cmp = load_comparison(compare_dir)
    lifts = analysis.lifts(cmp)
    assert [it.n_labels for it in lifts] == [10, 100, 1000, 10000]
    # Per seed: arm − scratch = 0.05·ln(10) + (pretrained offset − scratch offset) = mean ± {0.02, 0, -0.02}.
    diffs = [0.05 * math.log(10) + offsets["pretrained"][s] - offsets["scratch"][s] for s in (0, 1, 2)]
    half = T_975_DF2 * 0.02 / math.sqrt(3)          # sample sd of the diffs is 0.02
    for it in lifts:
        iv = it.interval
        assert iv.method == "paired t" and iv.n == 3
        assert iv.diff == pytest.approx(sum(diffs) / 3)
        assert (iv.low, iv.high) == (pytest.approx(iv.diff - half), pytest.approx(iv.diff + half))
        assert it.verdict(cmp.higher_is_better) == "better"


def test_interpolated_label_counts_are_rounded_to_two_significant_digits():
    # "pretrained with 100 labels ≈ scratch with 1,400": an interpolated count is an estimate.
    shown = [tables.approx_count(v) for v in (7.4, 99.6, 1437.0, 1450.1, 23456.0)]
    assert shown == ["7", "100", "1,400", "1,500", "23,000"]


def test_steps_and_seconds_to_target(compare_dir):
    cmp = load_comparison(compare_dir)
    conv = {(c.arm, c.n_labels): c for c in analysis.convergence(cmp)}
    # Target: 95% of scratch's best val acc 0.8 = 0.76. Pretrained's val acc is 0.9·step/40
    # (flat after 40): first eval reaching 0.76 is step 40 (step 30 gives 0.675), at 0.05 s/step.
    # Scratch's is 0.8·step/100: step 100 (step 90 gives 0.72), at 0.04 s/step.
    for n in (10, 10000):
        pre, scr = conv[("pretrained", n)], conv[("scratch", n)]
        assert pre.target == pytest.approx(0.76) and scr.target == pytest.approx(0.76)
        assert (pre.n_reached, pre.n_runs, pre.steps_to_target) == (3, 3, 40)
        assert pre.seconds_to_target == pytest.approx(2.0)
        assert (scr.steps_to_target, scr.seconds_to_target) == (100, pytest.approx(4.0))
        assert pre.best_val == pytest.approx(0.9) and pre.best_step == 40


def test_lower_is_better_metric(tmp_path, make_compare):
    # Seeds 0 and 2: their offsets cancel in the means, so the curves are exactly scratch_acc / pretrained_acc.
    d = make_compare(tmp_path, metric="mse", higher=False, budgets=[10, 100, 1000], seeds=[0, 2])
    cmp = load_comparison(d)
    assert not cmp.higher_is_better
    saved = {s.n_labels: s.match for s in analysis.labels_saved(cmp)}
    assert saved[10].labels == pytest.approx(100) and saved[100].labels == pytest.approx(1000)
    assert saved[1000].bound == ">"
    lift = analysis.lifts(cmp)[0]
    # Per seed, arm − scratch mse = −(0.05·ln 10 + pretrained offset − scratch offset) and the
    # offsets differ by ∓0.02 for seeds 0, 2: mean lift −0.05·ln 10 (negative = better).
    assert lift.interval.diff == pytest.approx(-0.05 * math.log(10))
    # Two seeds: t_{0.975,1} = 12.7 makes the interval wide enough to include 0.
    assert lift.interval.low < 0 < lift.interval.high and lift.verdict(False) == "within noise"
    conv = {(c.arm, c.n_labels): c for c in analysis.convergence(cmp)}
    # Scratch's best val mse is 2 − 0.8 = 1.2, so the target is 1.2 + 5% = 1.26; pretrained's mse
    # 2 − 0.9·step/40 first gets there at step 40, scratch's 2 − 0.8·step/100 at step 100.
    assert conv[("pretrained", 10)].target == pytest.approx(1.26)
    assert conv[("pretrained", 10)].steps_to_target == 40 and conv[("scratch", 10)].steps_to_target == 100
    assert conv[("pretrained", 10)].best_val == pytest.approx(1.1)
    md = write_report(d).with_name("report.md").read_text(encoding="utf-8")
    assert "mse (lower is better)" in md and "negative Δ means the arm is better" in md
    assert "scratch's best validation mse plus 5%" in md


# ----------------------------------------------------------------------------- the report files


def test_report_files_and_headline(report_dir):
    html_text = (report_dir / "report.html").read_text(encoding="utf-8")
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    sentence = "pretrained with 100 labels ≈ scratch with 1,000 (10.0× the labels)"
    assert sentence in html_text and sentence in md
    assert "beats scratch at every budget tried (up to 10,000 labels)" in md
    for section in ("Data efficiency", "Labels saved", "Lift over scratch", "Convergence", "Cost",
                    "Forgetting check", "Lineage"):
        assert f"<h2>{section}</h2>" in html_text and f"## {section}" in md
    # Lineage names the pretraining run, its objective, corpus, tokenizer and model.
    for fact in ("masked_lm (mask_prob=0.15)", "bpe (vocab_size=512)", "transformer (d_model=64",
                 "corpus (path=data/wiki.txt"):
        assert fact in html_text
    assert "+0.200 (+8.0%)" in html_text            # forgetting: 2.5 -> 2.7 on average over seeds 0..2
    assert "50,000 (100.0%)" in html_text and "1,000 (2.0%)" in html_text  # params trained (full vs probe)


def test_markdown_figures_are_files_next_to_it(report_dir):
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert set(refs) == {"report_efficiency.png", "report_lift.png", "report_convergence.png", "report_pretrain.png"}
    for ref in refs:
        assert (report_dir / ref).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    # Nothing is fetched: no remote or protocol-relative src/href, no scripts, stylesheets or CSS urls.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"<script|<link|<iframe|@import|url\(", page, re.I)
    assert "Content-Security-Policy" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 4
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_degrades_without_pretrain_dir_and_cell_dirs(tmp_path, make_compare):
    d = make_compare(tmp_path, budgets=[10, 100], seeds=[0, 2])
    shutil.rmtree(tmp_path / "pretrain")
    shutil.rmtree(d / "cells" / "scratch_b100_s0")
    md = write_report(d).with_name("report.md").read_text(encoding="utf-8")
    assert "not found" in md                                  # the pretraining run
    assert "1 cell run directory missing" in md
    cmp = load_comparison(d)
    assert len(cmp.cells) == 8                                # the cell still counts, from compare.json
    assert {s.n_labels: round(s.match.labels) for s in analysis.labels_saved(cmp)}[10] == 100


def test_unfinished_cells_are_left_out(tmp_path, make_compare):
    d = make_compare(tmp_path, budgets=[10, 100], seeds=[0, 1], with_pretrain=False)
    raw = json.loads((d / "compare.json").read_text())
    raw["cells"][0]["status"] = "running"
    (d / "compare.json").write_text(json.dumps(raw))
    cmp = load_comparison(d)
    assert len(cmp.cells) == 7 and any("not finished" in n for n in cmp.notes)


def test_no_scratch_arm_still_reports(tmp_path, make_compare):
    d = make_compare(tmp_path, arms={"pretrained": "pretrained", "probe": "pretrained"}, budgets=[10, 100],
                     seeds=[0, 1], with_pretrain=False)
    md = write_report(d).with_name("report.md").read_text(encoding="utf-8")
    assert "No arm has init “scratch”" in md and "## Data efficiency" in md and "## Labels saved" not in md


def test_single_run_report(compare_dir):
    run_dir = compare_dir / "cells" / "pretrained_b100_s1"
    (run_dir / "report_stale.png").write_bytes(b"old")
    out = write_report(run_dir)
    page = out.read_text(encoding="utf-8")
    assert out == run_dir / "report.html"
    assert "Run report: pretrained_b100_s1" in page and "masked_lm" in page     # lineage via init
    assert not (run_dir / "report_stale.png").exists() and (run_dir / "report_curves.png").is_file()
    pre = write_report(compare_dir.parent / "pretrain").with_name("report.md").read_text(encoding="utf-8")
    assert "A pretrain run" in pre and "ppl" in pre


# ----------------------------------------------------------------------------- errors


def _one_line(err: Exception) -> str:
    msg = str(err)
    assert "\n" not in msg
    return msg


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(CheckpointError) as e:
        write_report(tmp_path / "nope")
    assert _one_line(e.value).endswith("nope: no such directory")
    with pytest.raises(CheckpointError) as e:
        write_report(tmp_path)
    assert _one_line(e.value) == f"{tmp_path}: no compare.json or metrics.jsonl found"


def test_bad_compare_json(tmp_path):
    (tmp_path / "compare.json").write_text("{not json")
    with pytest.raises(DataError, match=r"compare\.json: not valid JSON") as e:
        write_report(tmp_path)
    _one_line(e.value)
    (tmp_path / "compare.json").write_text(json.dumps({"metric": "acc"}))
    with pytest.raises(DataError, match="missing field 'cells'"):
        write_report(tmp_path)
    (tmp_path / "compare.json").write_text(json.dumps({"metric": "acc", "cells": []}))
    with pytest.raises(WarmstartError, match="no finished cells"):
        write_report(tmp_path)


def test_metrics_jsonl_truncated_tail_is_tolerated_but_damage_is_not(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "split": "val", "loss": 1.0}\n{"step": 2, "spl')
    assert write_report(tmp_path).is_file()
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "spl\n{"step": 2, "split": "val", "loss": 1.0}\n')
    with pytest.raises(DataError, match=r"metrics\.jsonl:1: "):
        write_report(tmp_path)


# ----------------------------------------------------------------------------- import boundary


def test_reports_import_neither_torch_nor_training():
    # A fresh interpreter: reports read files only, so importing them must not drag in torch or the
    # training side (which would also make `warmstart report` slow).
    code = ("import sys, warmstart.reports, warmstart.reports.plots; "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'warmstart.training', "
            "'warmstart.experiments', 'warmstart.models'))); print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_minimal_grid_one_budget_one_seed(tmp_path, make_compare):
    d = make_compare(tmp_path, budgets=[100], seeds=[0], with_pretrain=False)
    md = write_report(d).with_name("report.md").read_text(encoding="utf-8")
    assert "n=1: no interval" in md and "no interval (1 seed)" in md
    # Seed 0 only: pretrained 0.645 − 0.03, scratch 0.530 − 0.01. Scratch's single point is below
    # pretrained's mean, so it never matches it within the one budget tried.
    assert "| pretrained | 100 | 0.615 | 0.520 | \\> 100 |" in md
    assert "× 1 label budget, 2 finished cells" in md


def test_fractional_and_all_budgets_group_by_configured_budget(tmp_path, make_compare):
    d = make_compare(tmp_path, budgets=[10, 100, 1000], seeds=[0, 2], with_pretrain=False)
    raw = json.loads((d / "compare.json").read_text())
    for c in raw["cells"]:            # as configured: a fraction of the pool, and "all" (None)
        c["label_budget"] = {10: 10, 100: 0.01, 1000: None}[c["n_labels"]]
    (d / "compare.json").write_text(json.dumps(raw))
    cmp = load_comparison(d)
    assert [cmp.n_labels_of(b) for b in cmp.budgets] == [10, 100, 1000]
    saved = {s.n_labels: s.match for s in analysis.labels_saved(cmp)}
    assert saved[10].labels == pytest.approx(100) and saved[100].labels == pytest.approx(1000)


def test_training_side_does_not_import_reports():
    # The other direction of the boundary: training, experiments and the building blocks never
    # import reports (only the CLI and the demo call write_report, after training is done).
    allowed = {"cli.py", "demo.py", "__init__.py"}
    offenders = []
    for path in (SRC / "warmstart").rglob("*.py"):
        rel = path.relative_to(SRC / "warmstart")
        if rel.parts[0] == "reports" or (len(rel.parts) == 1 and rel.name in allowed):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"warmstart\.reports|from warmstart import [^\n]*\breports\b|from \.+ ?import reports", text):
            offenders.append(str(rel))
    assert offenders == []
