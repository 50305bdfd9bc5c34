"""The bias check in the transfer report: per-group test metrics (cells of a compare whose data set
data.group_field record result.json's test_by_group), in, per arm and label budget, out: each
group's mean metric, the worst group, the best−worst gap with its confidence interval over seeds,
whether an arm's gap is narrower or wider than the reference arm's (paired over seeds), and for
classification the per-class recall differences between groups (equalized-odds style).

Computations (group_gaps, recall_gaps) return dataclasses; the *_table functions format them, as
analysis.py and tables.py do for the rest of the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from warmstart.reports import stats
from warmstart.reports.collect import Cell, Comparison, is_number
from warmstart.reports.tables import Table, fmt_metric, fmt_signed, mean_pm_std

MAX_GROUP_COLUMNS = 8  # more groups than this: the table shows worst group and gap only


def by_group(cell: Cell) -> dict | None:
    """A cell's test_by_group record, when it has one with groups."""
    g = cell.summary.get("test_by_group")
    return g if isinstance(g, dict) and isinstance(g.get("groups"), dict) and g["groups"] else None


def group_values(cell: Cell, metric: str) -> dict[str, float]:
    """group -> test `metric` of one cell (groups without a number for it left out)."""
    g = by_group(cell) or {"groups": {}}
    return {name: m[metric] for name, m in g["groups"].items() if isinstance(m, dict) and is_number(m.get(metric))}


def _seed(cell: Cell, i: int):
    return cell.seed if cell.seed is not None else i


# ----------------------------------------------------------------------------- gaps


@dataclass(frozen=True)
class GroupGap:
    """One arm at one label budget: per-group means over seeds, the worst group, the gap."""

    arm: str
    n_labels: int
    means: dict[str, float]           # group -> mean test metric over seeds
    worst: str                        # the group that is worst in most seeds (ties: worst mean)
    worst_value: float                # mean over seeds of each seed's worst-group metric
    gap: stats.Interval               # mean best−worst gap over seeds with its t-interval
    vs_reference: stats.Interval | None = None   # gap(arm) − gap(reference), paired over shared seeds

    def verdict(self) -> str:
        """Whether this arm's gap is narrower than the reference arm's: the interval decides."""
        iv = self.vs_reference
        if iv is None:
            return "reference"
        if math.isnan(iv.low):
            word = "narrower" if iv.diff < 0 else "wider" if iv.diff > 0 else "same"
            return f"{word} (no interval, n={iv.n})"
        if not iv.excludes_zero:
            return "no clear change"
        return "narrowed" if iv.diff < 0 else "widened"


def _cell_gap(values: dict[str, float], higher_is_better: bool) -> tuple[str, float, float]:
    """(worst group, its value, best−worst gap) of one cell's group values."""
    ranked = sorted(values, key=lambda g: stats.orient(values[g], higher_is_better))
    return ranked[0], values[ranked[0]], abs(values[ranked[-1]] - values[ranked[0]])


def group_gaps(cmp: Comparison, confidence: float = 0.95) -> list[GroupGap]:
    """Per arm and budget with grouped cells: group means, worst group, gap (t-interval over seeds)
    and, for arms other than the reference, the paired difference of gaps to the reference."""
    ref = cmp.scratch_arm
    per_seed: dict[tuple[str, object], dict] = {}   # (arm, budget) -> seed -> gap
    found = []                                       # (budget, GroupGap)
    for b in cmp.budgets:
        for arm in cmp.arms:
            cells = [(i, c) for i, c in enumerate(cmp.cells_of(arm, b)) if len(group_values(c, cmp.metric)) > 1]
            if not cells:
                continue
            gaps, worst_values, worst_names, values = {}, [], Counter(), {}
            for i, c in cells:
                vals = group_values(c, cmp.metric)
                worst, worst_value, gap = _cell_gap(vals, cmp.higher_is_better)
                gaps[_seed(c, i)] = gap
                worst_values.append(worst_value)
                worst_names[worst] += 1
                for g, v in vals.items():
                    values.setdefault(g, []).append(v)
            means = {g: sum(v) / len(v) for g, v in sorted(values.items())}
            # The most frequent worst group; ties go to the one with the worse mean.
            top = max(worst_names.values())
            worst = min((g for g, n in worst_names.items() if n == top),
                        key=lambda g: stats.orient(means[g], cmp.higher_is_better))
            iv = stats.paired_t_interval(list(gaps.values()), confidence)   # one sample: mean ± t·s/√n
            per_seed[(arm, b)] = gaps
            found.append((b, GroupGap(arm, cmp.n_labels_of(b), means, worst, sum(worst_values) / len(worst_values),
                                      stats.Interval(iv.diff, iv.low, iv.high, iv.n, "t"))))
    out = []
    for b, it in found:
        base = per_seed.get((ref, b))
        if ref is not None and it.arm != ref and base:
            diff = stats.lift_interval(per_seed[(it.arm, b)], base, confidence)
            it = GroupGap(it.arm, it.n_labels, it.means, it.worst, it.worst_value, it.gap, diff)
        out.append(it)
    return out


# ----------------------------------------------------------------------------- equalized odds


@dataclass(frozen=True)
class RecallGap:
    """One arm at one budget: per-class recall by group (means over seeds) and the between-group
    recall gaps (per class, and the largest: the equalized-odds difference), means over seeds."""

    arm: str
    n_labels: int
    recall: dict[str, dict[str, float]]   # group -> class -> mean recall (classes the group has)
    class_gaps: dict[str, float]          # class -> mean over seeds of (highest − lowest group recall)
    max_gap: list[float]                  # per seed: the largest class gap


def recall_gaps(cmp: Comparison) -> list[RecallGap]:
    """Equalized-odds style differences per arm and budget, from cells whose test_by_group has per-class recall."""
    out = []
    for b in cmp.budgets:
        for arm in cmp.arms:
            recs = [g for g in (by_group(c) for c in cmp.cells_of(arm, b))
                    if g and isinstance(g.get("recall_gap"), dict)]
            if not recs:
                continue
            recall: dict[str, dict[str, list[float]]] = {}
            class_gaps: dict[str, list[float]] = {}
            for g in recs:
                for group, m in sorted(g["groups"].items()):
                    for label, r in (m.get("recall") or {}).items():
                        if is_number(r):
                            recall.setdefault(group, {}).setdefault(label, []).append(r)
                for label, gap in g["recall_gap"].items():
                    if is_number(gap):
                        class_gaps.setdefault(label, []).append(gap)
            out.append(RecallGap(
                arm, cmp.n_labels_of(b),
                {group: {lab: sum(v) / len(v) for lab, v in labs.items()} for group, labs in recall.items()},
                {lab: sum(v) / len(v) for lab, v in class_gaps.items()},
                [g["max_recall_gap"] for g in recs if is_number(g.get("max_recall_gap"))]))
    return out


# ----------------------------------------------------------------------------- tables


def group_sizes(cmp: Comparison) -> dict[str, int]:
    """Test examples per group, from the first grouped cell (seeds split differently; sizes are close)."""
    cell = next(c for c in cmp.cells if by_group(c))
    return {g: m.get("n") for g, m in sorted(by_group(cell)["groups"].items()) if isinstance(m, dict)}


def gap_table(cmp: Comparison, gaps: list[GroupGap], confidence: float = 0.95) -> Table:
    """Per arm × budget: each group's mean test metric, the worst group, the gap with its interval,
    and the change in gap against the reference arm."""
    pct = f"{100 * confidence:g}%"
    groups = sorted({g for it in gaps for g in it.means})
    shown = groups if len(groups) <= MAX_GROUP_COLUMNS else []
    ref = cmp.scratch_arm

    def ci(iv: stats.Interval | None, signed: bool) -> str:
        f = fmt_signed if signed else fmt_metric
        return "–" if iv is None or math.isnan(iv.low) else f"[{f(iv.low)}, {f(iv.high)}]"

    rows = []
    for it in gaps:
        rows.append([it.arm, f"{it.n_labels:,}", *(fmt_metric(it.means.get(g, math.nan)) for g in shown),
                     f"{it.worst} {fmt_metric(it.worst_value)}", fmt_metric(it.gap.diff), ci(it.gap, False),
                     "–" if it.vs_reference is None else fmt_signed(it.vs_reference.diff),
                     ci(it.vs_reference, True), it.verdict(), str(it.gap.n)])
    notes = [f"Test {cmp.metric} per group (data.group_field), mean over seeds. Worst group: the group worst in "
             f"most seeds, with the mean over seeds of each seed's worst-group {cmp.metric}. Gap = best − worst "
             f"group (absolute), mean over seeds with a t-interval ({pct}); n = seeds."]
    if ref is not None:
        notes.append(f"Δ gap = arm's gap − {ref}'s gap (paired t over shared seeds, else Welch): negative = the "
                     f"arm's groups are closer together. “narrowed”/“widened”: the {pct} interval excludes 0.")
    if not shown:
        notes.append(f"{len(groups)} groups: per-group columns left out (see result.json test_by_group).")
    return Table(["arm", "labels", *shown, "worst group", "gap", f"gap {pct} CI", f"Δ gap vs {ref or '–'}",
                  f"Δ gap {pct} CI", "verdict", "n"], rows,
                 align="lr" + "r" * len(shown) + "lrrrrlr", notes=notes)


def recall_gap_table(cmp: Comparison, items: list[RecallGap]) -> Table:
    """Per arm × budget: between-group recall gap of each class and the largest (equalized odds)."""
    classes = sorted({lab for it in items for lab in it.class_gaps}, key=str)
    rows = [[it.arm, f"{it.n_labels:,}", *(fmt_metric(it.class_gaps.get(lab, math.nan)) for lab in classes),
             mean_pm_std(it.max_gap)] for it in items]
    return Table(["arm", "labels", *(f"recall gap {lab}" for lab in classes), "max recall gap"], rows,
                 notes=["Recall gap of a class = highest − lowest recall of that class across groups (groups with "
                        "no test example of the class left out), mean over seeds; max recall gap = the largest "
                        "over classes (an equalized-odds difference), mean ± std over seeds. 0 = every group's "
                        "examples of each class are found equally often."])


def recall_by_group_table(items: list[RecallGap]) -> Table:
    """Per-class recall of each group, arm by arm, at the largest label budget."""
    largest = max(it.n_labels for it in items)
    at = [it for it in items if it.n_labels == largest]
    classes = sorted({lab for it in at for r in it.recall.values() for lab in r}, key=str)
    rows = [[it.arm, group, *(fmt_metric(r.get(lab, math.nan)) for lab in classes)]
            for it in at for group, r in sorted(it.recall.items())]
    return Table(["arm", "group", *(f"recall {lab}" for lab in classes)], rows, align="ll" + "r" * len(classes),
                 notes=[f"At {largest:,} labels; mean over seeds; – = the group has no test example of that class."])
