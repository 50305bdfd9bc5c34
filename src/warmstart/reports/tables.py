"""The transfer report's Tables and formatting: analysis results in, formatted strings out.

Table is the one tabular block (render.py turns the same Table into HTML and Markdown, so the two
reports cannot disagree); the fmt_* helpers, approx_count and mean_pm_std format numbers the same
way everywhere; the *_table builders turn analysis.py's results (or the Comparison directly, for
the efficiency, cost and forgetting tables) into Tables with their notes; metric_label and
saving_sentence are the matching pieces of prose. The lineage table lives in lineage.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from warmstart.reports import stats
from warmstart.reports.analysis import (
    Convergence,
    Lift,
    Rank,
    Saving,
    arm_curve,
    finite_mean,
    pretrain_cost,
    seed_values,
)
from warmstart.reports.collect import Comparison, is_number


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    align: str = ""                      # one of "l"/"r" per column; default: first left, rest right
    notes: list[str] = field(default_factory=list)

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)


# ----------------------------------------------------------------------------- formatting


def fmt_metric(v: float) -> str:
    """Three decimals for the usual metric range, three significant digits outside it."""
    if not is_number(v):
        return "–"
    return f"{v:.3f}" if 1e-3 <= abs(v) < 1e3 or v == 0 else f"{v:.3g}"


def fmt_signed(v: float) -> str:
    return "–" if not is_number(v) else ("+" if v >= 0 else "−") + fmt_metric(abs(v))


def fmt_count(v: float) -> str:
    return "–" if not is_number(v) else f"{round(v):,}"


def fmt_seconds(v: float) -> str:
    return "–" if not is_number(v) else f"{v:.1f} s" if v < 600 else f"{v / 60:.1f} min"


def approx_count(v: float) -> str:
    """A label count rounded to two significant digits (1,437 -> 1,400): interpolated counts are
    estimates, and a sentence should not pretend otherwise."""
    if v < 100:
        return f"{round(v):,}"
    digits = int(math.floor(math.log10(v))) - 1
    return f"{round(v, -digits):,.0f}"


def fmt_match(m: stats.Match) -> str:
    return {"": "", "<=": "≤ ", ">": "> "}[m.bound] + fmt_count(m.labels)


def mean_pm_std(values: list[float]) -> str:
    mean, std, n = stats.mean_std(values)
    if n == 0:
        return "–"
    return fmt_metric(mean) if n == 1 else f"{fmt_metric(mean)} ± {fmt_metric(std)}"


def metric_label(cmp: Comparison) -> str:
    return f"{cmp.metric} ({'higher' if cmp.higher_is_better else 'lower'} is better)"


# ----------------------------------------------------------------------------- data efficiency


def efficiency_table(cmp: Comparison) -> Table:
    """Test metric, mean ± std over seeds, per arm (rows) and label budget (columns)."""
    budgets = cmp.budgets
    rows = []
    for arm in cmp.arms:
        row = [arm]
        for b in budgets:
            vals = list(seed_values(cmp, arm, b).values())
            row.append(f"{mean_pm_std(vals)} (n={len(vals)})" if vals else "–")
        rows.append(row)
    return Table(["arm", *[f"{cmp.n_labels_of(b):,} labels" for b in budgets]], rows,
                 notes=[f"Test {metric_label(cmp)}: mean ± sample std over seeds (n = seeds)."])


def variant_table(cmp: Comparison) -> Table | None:
    """Quantized and pruned arms against the arm their cells derive from, per label budget: the mean
    test-metric difference over the seeds both have (same budget, same seed = same fine-tuned model
    before and after), and what the variant changed (file size or sparsity). None without variant arms."""
    rows = []
    for arm in cmp.arms:
        first = next(c for c in cmp.cells if c.arm == arm)
        variant = first.summary.get("variant")
        if not isinstance(variant, dict) or variant.get("of") not in cmp.arms:
            continue
        for b in cmp.budgets:
            mine, theirs = seed_values(cmp, arm, b), seed_values(cmp, variant["of"], b)
            shared = [s for s in mine if s in theirs]
            if not shared:
                continue
            cells = cmp.cells_of(arm, b)
            if variant.get("kind") == "quantize":
                sizes = [c.summary["variant"].get("file_mb") for c in cells]
                fp32 = [c.summary["variant"].get("fp32_mb") for c in cells]
                change = f"{fmt_metric(finite_mean(fp32))} → {fmt_metric(finite_mean(sizes))} MB"
            else:
                structured = variant.get("structured", "none")
                key = "sparsity_achieved" if structured == "none" else "units_removed"
                removed = finite_mean(c.summary["variant"].get(key) for c in cells)
                after = finite_mean(c.summary["variant"].get("params_after") for c in cells)
                what = "weight sparsity" if structured == "none" else f"{structured} removed"
                change = f"{what} {fmt_metric(removed)}, {fmt_count(after)} params"
            rows.append([arm, variant["of"], first.strategy, f"{cmp.n_labels_of(b):,}",
                         mean_pm_std([theirs[s] for s in shared]), mean_pm_std([mine[s] for s in shared]),
                         mean_pm_std([mine[s] - theirs[s] for s in shared]), change])
    if not rows:
        return None
    return Table(["arm", "derived from", "variant", "labels", f"source {cmp.metric}", f"variant {cmp.metric}",
                  "difference", "size / sparsity"], rows, align="lllrrrrl",
                 notes=["Each variant cell is its source arm's cell at the same budget and seed, quantized or pruned "
                        "after fine-tuning and scored on the same test split; mean ± std over the seeds both have. "
                        "Size: the model file (int8 file vs the fp32 export) for quantized arms; for pruned arms, the "
                        "fraction of zero weights in the pruned layers, or of heads/neurons removed, and parameters."])


# ----------------------------------------------------------------------------- labels saved


def saving_sentence(s: Saving, scratch: str, n_min: int, n_max: int) -> str:
    """The headline sentence for one Saving; n_min and n_max are scratch's smallest and largest label counts."""
    m = s.match
    if m.bound == ">":
        return (f"{s.arm} with {s.n_labels:,} labels beats {scratch} at every budget tried "
                f"(up to {n_max:,} labels)")
    if m.bound == "<=":
        return (f"{s.arm} with {s.n_labels:,} labels ≈ {scratch} with ≤ {n_min:,} "
                f"({scratch} already matches it at its smallest budget)")
    return (f"{s.arm} with {s.n_labels:,} labels ≈ {scratch} with {approx_count(m.labels)} "
            f"({s.ratio:.1f}× the labels)")


def labels_saved_table(cmp: Comparison, savings: list[Saving]) -> Table:
    scratch = cmp.scratch_arm
    sx, sy = arm_curve(cmp, scratch)
    at = dict(zip(sx, sy, strict=True))
    rows = [[s.arm, f"{s.n_labels:,}", fmt_metric(s.arm_mean), fmt_metric(at.get(s.n_labels, math.nan)),
             fmt_match(s.match), {"": "", "<=": "≤ ", ">": "> "}[s.match.bound] + f"{s.ratio:.1f}×"]
            for s in savings]
    return Table(["arm", "labels", f"arm test {cmp.metric}", f"{scratch} at same labels",
                  f"{scratch} labels to match", "label multiplier"], rows,
                 notes=[f"Interpolated linearly in log(labels) on {scratch}'s mean curve, using its running best "
                        "(a dip at more labels never counts against it). “> N”: never reached up to the largest "
                        "budget N; “≤ N”: already reached at the smallest budget N (no extrapolation)."])


# ----------------------------------------------------------------------------- lift


def lift_table(cmp: Comparison, items: list[Lift], confidence: float = 0.95) -> Table:
    pct = f"{100 * confidence:g}%"
    rows = []
    for it in items:
        iv = it.interval
        ci = "–" if math.isnan(iv.low) else f"[{fmt_signed(iv.low)}, {fmt_signed(iv.high)}]"
        rows.append([it.arm, f"{it.n_labels:,}", fmt_metric(it.arm_mean), fmt_metric(it.scratch_mean),
                     fmt_signed(iv.diff), ci, str(iv.n), iv.method, it.verdict(cmp.higher_is_better)])
    direction = "positive" if cmp.higher_is_better else "negative"
    return Table(["arm", "labels", f"arm {cmp.metric}", f"{cmp.scratch_arm} {cmp.metric}",
                  f"Δ {cmp.metric} (arm − {cmp.scratch_arm})", f"{pct} CI",
                  "n", "interval", "verdict"], rows, align="lrrrrrrll",
                 notes=[f"Δ on the test {cmp.metric}; {direction} Δ means the arm is better. "
                        "Paired t-interval over seeds when both arms ran the same seeds (seed s shares its label "
                        "subset), otherwise Welch's t-interval; n = seed pairs. “within noise”: the interval "
                        "contains 0."])


# ----------------------------------------------------------------------------- ranking


def ranking_table(cmp: Comparison, ranks: list[Rank], confidence: float = 0.95) -> Table:
    """Per budget: the best arm with its interval, its margin over the runner-up, and the full order."""
    pct = f"{100 * confidence:g}%"

    def ci(iv) -> str:
        return "–" if iv is None or math.isnan(iv.low) else f"[{fmt_metric(iv.low)}, {fmt_metric(iv.high)}]"

    rows = []
    for r in ranks:
        best, runner = r.order[0], (r.order[1] if len(r.order) > 1 else None)
        margin = "–" if r.margin is None else fmt_signed(r.margin.diff)
        margin_ci = "–" if r.margin is None or math.isnan(r.margin.low) else \
            f"[{fmt_signed(r.margin.low)}, {fmt_signed(r.margin.high)}]"
        rows.append([f"{r.n_labels:,}", best[0], fmt_metric(best[1]), ci(r.best_interval),
                     runner[0] if runner else "–", margin, margin_ci, r.verdict(cmp.higher_is_better),
                     " > ".join(f"{arm} {fmt_metric(m)}" for arm, m in r.order)])
    return Table(["labels", "best arm", f"test {cmp.metric}", f"{pct} CI", "runner-up", "margin",
                  f"margin {pct} CI", "verdict", "all arms, best first"], rows, align="rlrrlrrll",
                 notes=[f"Arms ordered by mean test {metric_label(cmp)} over seeds. CI of the best arm: t-interval "
                        "of its mean; margin = best − runner-up (paired t over shared seeds, else Welch). "
                        "“tied within noise”: the margin's interval contains 0."])


# ----------------------------------------------------------------------------- convergence


def convergence_table(cmp: Comparison, items: list[Convergence], fraction: float) -> Table:
    rows = []
    for it in items:
        if math.isnan(it.target) or not it.n_runs:
            reached = "–" if it.n_runs else "no curves"
        else:
            reached = f"{it.n_reached}/{it.n_runs}"
        rows.append([f"{it.n_labels:,}", it.arm, fmt_metric(it.target), reached, fmt_count(it.steps_to_target),
                     fmt_seconds(it.seconds_to_target), fmt_metric(it.best_val), fmt_count(it.best_step),
                     fmt_seconds(it.seconds_to_best)])
    scratch = cmp.scratch_arm or "scratch"
    if cmp.higher_is_better:
        rule = f"{100 * fraction:g}% of {scratch}'s best validation {cmp.metric}"
    else:
        rule = f"{scratch}'s best validation {cmp.metric} plus {100 * (1 - fraction):g}%"
    return Table(["labels", "arm", "target", "seeds reaching", "steps to target", "time to target",
                  f"best val {cmp.metric}", "best step", "time to best"], rows, align="rlrrrrrrr",
                 notes=[f"Target = {rule} (mean over its seeds) at the same label budget. Steps and time are "
                        "means over the seeds that reached it, at the first evaluation that did (so resolution "
                        "is the evaluation interval); time is training wall-clock, evaluation excluded."])


# ----------------------------------------------------------------------------- cost


def cost_table(cmp: Comparison) -> Table:
    rows = []
    for arm in cmp.arms:
        cells = [c for c in cmp.cells if c.arm == arm]
        trained = finite_mean(c.summary.get("params_trained") for c in cells)
        total = finite_mean(c.summary.get("params_total") for c in cells)
        share = f" ({100 * trained / total:.1f}%)" if is_number(trained) and is_number(total) and total else ""
        secs = [c.summary.get("train_seconds") for c in cells if is_number(c.summary.get("train_seconds"))]
        rows.append([arm, str(len(cells)), fmt_count(trained) + share, fmt_count(total),
                     fmt_count(finite_mean(c.summary.get("items_seen") for c in cells)),
                     fmt_seconds(finite_mean(secs)),
                     fmt_seconds(finite_mean(c.summary.get("seconds_to_best") for c in cells)),
                     fmt_seconds(sum(secs)) if secs else "–"])
    notes = ["Per-cell means over all budgets and seeds; total = summed training wall-clock of the arm's cells."]
    pre = pretrain_cost(cmp.pretrain)
    if pre:
        rows.append(["pretraining (once)", "1", "–", "–", fmt_count(pre["items_seen"]),
                     fmt_seconds(pre["train_seconds"]), "–", fmt_seconds(pre["train_seconds"])])
        notes.append(f"Pretraining ran {fmt_count(pre['steps'])} steps once; every pretrained cell reuses it.")
    return Table(["arm", "cells", "params trained", "params total", "items seen / cell", "train time / cell",
                  "time to best / cell", "total train time"], rows, notes=notes)


# ----------------------------------------------------------------------------- forgetting


def forgetting_table(cmp: Comparison) -> Table | None:
    """Pretraining-objective validation loss before vs after fine-tuning, where cells measured it."""
    rows = []
    for arm in cmp.arms:
        for b in cmp.budgets:
            fs = [c.forgetting for c in cmp.cells_of(arm, b) if c.forgetting]
            fs = [f for f in fs if is_number(f.get("val_loss_before")) and is_number(f.get("val_loss_after"))]
            if not fs:
                continue
            before = finite_mean(f["val_loss_before"] for f in fs)
            after = finite_mean(f["val_loss_after"] for f in fs)
            rel = f" ({100 * (after - before) / before:+.1f}%)" if before else ""
            objectives = ", ".join(sorted({str(f.get("objective", "?")) for f in fs}))
            rows.append([arm, f"{cmp.n_labels_of(b):,}", objectives, fmt_metric(before), fmt_metric(after),
                         fmt_signed(after - before) + rel, str(len(fs))])
    if not rows:
        return None
    return Table(["arm", "labels", "objective", "val loss before", "val loss after", "change", "n"], rows,
                 align="lrlrrrr",
                 notes=["Loss of the pretraining objective on its validation data, before and after fine-tuning "
                        "(mean over seeds). A large increase means fine-tuning overwrote what pretraining learned."])
