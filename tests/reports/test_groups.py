"""The report's bias-check section (reports/groups.py) on synthetic cells whose per-group numbers are
known: worst group, gap and its interval over seeds, narrowed/widened against the reference arm,
and the per-class recall gaps."""

import json
import math

import pytest

from warmstart.reports import groups, stats
from warmstart.reports.collect import load_comparison

# Per seed: group -> acc. Scratch: group "b" is 0.2 behind "a"; pretrained: 0.05 behind (narrower).
ACCS = {"scratch": {0: {"a": 0.80, "b": 0.60}, 1: {"a": 0.82, "b": 0.60}, 2: {"a": 0.78, "b": 0.60}},
        "pretrained": {0: {"a": 0.90, "b": 0.85}, 1: {"a": 0.91, "b": 0.87}, 2: {"a": 0.90, "b": 0.84}}}
RECALL = {"scratch": {"a": {"neg": 0.9, "pos": 0.7}, "b": {"neg": 0.5, "pos": 0.7}},
          "pretrained": {"a": {"neg": 0.9, "pos": 0.9}, "b": {"neg": 0.8, "pos": 0.85}}}


def add_groups(compare_dir, accs=ACCS, recall=RECALL):
    """Give every cell of a synthetic compare a test_by_group record (as finetune writes it)."""
    path = compare_dir / "compare.json"
    raw = json.loads(path.read_text())
    for cell in raw["cells"]:
        vals, rec = accs[cell["arm"]][cell["seed"]], recall[cell["arm"]]
        gaps = {lab: max(r[lab] for r in rec.values()) - min(r[lab] for r in rec.values()) for lab in ("neg", "pos")}
        cell["test_by_group"] = {
            "metric": "acc", "worst": min(vals, key=vals.get), "best": max(vals, key=vals.get),
            "gap": max(vals.values()) - min(vals.values()), "recall_gap": gaps, "max_recall_gap": max(gaps.values()),
            "groups": {g: {"n": 50, "acc": v, "loss": 1.0, "recall": rec[g]} for g, v in vals.items()}}
    path.write_text(json.dumps(raw))
    return compare_dir


@pytest.fixture
def grouped(tmp_path, make_compare):
    return add_groups(make_compare(tmp_path, budgets=[100, 1000]))


def test_gap_interval_and_the_change_against_the_reference(grouped):
    cmp = load_comparison(grouped)
    gaps = {(g.arm, g.n_labels): g for g in groups.group_gaps(cmp)}
    assert set(gaps) == {(a, n) for a in ("scratch", "pretrained") for n in (100, 1000)}
    scratch, pre = gaps[("scratch", 100)], gaps[("pretrained", 100)]
    assert scratch.worst == pre.worst == "b"
    assert scratch.means == pytest.approx({"a": 0.80, "b": 0.60})
    assert scratch.worst_value == pytest.approx(0.60) and pre.worst_value == pytest.approx((0.85 + 0.87 + 0.84) / 3)
    # Scratch's per-seed gaps 0.20, 0.22, 0.18: mean 0.20 with a t-interval over 3 seeds.
    want = stats.paired_t_interval([0.20, 0.22, 0.18])
    assert (scratch.gap.diff, scratch.gap.low, scratch.gap.high) == pytest.approx((want.diff, want.low, want.high))
    assert scratch.vs_reference is None and scratch.verdict() == "reference"
    # Pretrained's gaps 0.05, 0.04, 0.06 minus scratch's, paired by seed: clearly narrower.
    d = stats.paired_t_interval([0.05 - 0.20, 0.04 - 0.22, 0.06 - 0.18])
    assert pre.vs_reference.diff == pytest.approx(d.diff) and pre.vs_reference.high == pytest.approx(d.high)
    assert pre.vs_reference.high < 0 and pre.verdict() == "narrowed"


def test_verdicts_widened_no_clear_change_and_single_seed(tmp_path, make_compare):
    wider = {"scratch": ACCS["pretrained"], "pretrained": ACCS["scratch"]}
    cmp = load_comparison(add_groups(make_compare(tmp_path / "w", budgets=[100]), accs=wider))
    pre = next(g for g in groups.group_gaps(cmp) if g.arm == "pretrained")
    assert pre.verdict() == "widened"
    noisy = {"scratch": ACCS["scratch"],
             "pretrained": {0: {"a": 0.9, "b": 0.6}, 1: {"a": 0.9, "b": 0.8}, 2: {"a": 0.9, "b": 0.55}}}
    cmp = load_comparison(add_groups(make_compare(tmp_path / "n", budgets=[100]), accs=noisy))
    pre = next(g for g in groups.group_gaps(cmp) if g.arm == "pretrained")
    assert pre.vs_reference.low < 0 < pre.vs_reference.high and pre.verdict() == "no clear change"
    cmp = load_comparison(add_groups(make_compare(tmp_path / "s", budgets=[100], seeds=[0])))
    pre = next(g for g in groups.group_gaps(cmp) if g.arm == "pretrained")
    assert math.isnan(pre.gap.low) and pre.verdict() == "narrower (no interval, n=1)"


def test_recall_gaps_are_equalized_odds_differences(grouped):
    items = {(r.arm, r.n_labels): r for r in groups.recall_gaps(load_comparison(grouped))}
    scratch = items[("scratch", 1000)]
    assert scratch.class_gaps == pytest.approx({"neg": 0.4, "pos": 0.0})
    assert scratch.max_gap == pytest.approx([0.4, 0.4, 0.4])
    assert scratch.recall["b"] == pytest.approx({"neg": 0.5, "pos": 0.7})
    assert items[("pretrained", 1000)].class_gaps == pytest.approx({"neg": 0.1, "pos": 0.05})


def test_report_has_the_section_only_when_cells_have_groups(grouped, tmp_path, make_compare):
    from warmstart.reports import write_report

    write_report(grouped)
    md = (grouped / "report.md").read_text()
    section = md[md.index("## Per-group metrics (bias check)"):]
    assert "test examples per group: a 50, b 50" in section
    assert "pretrained at 100 labels: gap 0.050 vs scratch 0.200 (Δ −0.150): narrowed; worst group b 0.853." \
        in section
    assert "### Per-group recall (equalized odds)" in section and "recall gap neg" in section
    html = (grouped / "report.html").read_text()
    assert "Per-group metrics (bias check)" in html

    plain = make_compare(tmp_path / "plain", budgets=[100])
    write_report(plain)
    assert "Per-group" not in (plain / "report.md").read_text()
