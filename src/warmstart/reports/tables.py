"""The transfer report's tables and headline sentences, computed from a Comparison.

Each builder returns a Table of already-formatted strings (render.py turns the same Table into
HTML and Markdown, so the two reports cannot disagree). The numbers come from stats.py; this
module decides what is compared with what: every non-scratch arm against the scratch arm, at
every label budget, over seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from warmstart.reports import stats
from warmstart.reports.collect import Comparison, Run, find_run, is_number, read_json


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


# ----------------------------------------------------------------------------- shared pieces


def seed_values(cmp: Comparison, arm: str, budget, key: str | None = None) -> dict:
    """seed -> test metric of one arm at one budget."""
    key = key or cmp.metric
    return {c.seed if c.seed is not None else i: c.test[key]
            for i, c in enumerate(cmp.cells_of(arm, budget)) if is_number(c.test.get(key))}


def arm_curve(cmp: Comparison, arm: str) -> tuple[list[int], list[float]]:
    """(label counts, mean test metric) of an arm's data-efficiency curve."""
    xs, ys = [], []
    for b in cmp.budgets:
        vals = list(seed_values(cmp, arm, b).values())
        if vals:
            xs.append(cmp.n_labels_of(b))
            ys.append(stats.mean_std(vals)[0])
    return xs, ys


def other_arms(cmp: Comparison) -> list[str]:
    return [a for a in cmp.arms if a != cmp.scratch_arm]


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


@dataclass(frozen=True)
class Saving:
    arm: str
    n_labels: int
    arm_mean: float
    match: stats.Match

    @property
    def ratio(self) -> float:
        return self.match.labels / self.n_labels

    def sentence(self, scratch: str, n_min: int, n_max: int) -> str:
        m = self.match
        if m.bound == ">":
            return (f"{self.arm} with {self.n_labels:,} labels beats {scratch} at every budget tried "
                    f"(up to {n_max:,} labels)")
        if m.bound == "<=":
            return (f"{self.arm} with {self.n_labels:,} labels ≈ {scratch} with ≤ {n_min:,} "
                    f"({scratch} already matches it at its smallest budget)")
        return f"{self.arm} with {self.n_labels:,} labels ≈ {scratch} with {approx_count(m.labels)} ({self.ratio:.1f}× the labels)"


def labels_saved(cmp: Comparison) -> list[Saving]:
    """For each non-scratch arm and budget: labels scratch needs to match that arm's mean metric,
    interpolated on scratch's mean data-efficiency curve (see stats.labels_to_match)."""
    scratch = cmp.scratch_arm
    if scratch is None:
        return []
    sx, sy = arm_curve(cmp, scratch)
    if not sx:
        return []
    out = []
    for arm in other_arms(cmp):
        for n, mean in zip(*arm_curve(cmp, arm)):
            out.append(Saving(arm, n, mean, stats.labels_to_match(sx, sy, mean, cmp.higher_is_better)))
    return out


def labels_saved_table(cmp: Comparison, savings: list[Saving]) -> Table:
    scratch = cmp.scratch_arm
    sx, sy = arm_curve(cmp, scratch)
    at = dict(zip(sx, sy))
    rows = [[s.arm, f"{s.n_labels:,}", fmt_metric(s.arm_mean), fmt_metric(at.get(s.n_labels, math.nan)),
             fmt_match(s.match), {"": "", "<=": "≤ ", ">": "> "}[s.match.bound] + f"{s.ratio:.1f}×"] for s in savings]
    return Table(["arm", "labels", f"arm test {cmp.metric}", f"{scratch} at same labels",
                  f"{scratch} labels to match", "label multiplier"], rows,
                 notes=[f"Interpolated linearly in log(labels) on {scratch}'s mean curve, using its running best "
                        "(a dip at more labels never counts against it). “> N”: never reached up to the largest "
                        "budget N; “≤ N”: already reached at the smallest budget N (no extrapolation)."])


# ----------------------------------------------------------------------------- lift


@dataclass(frozen=True)
class Lift:
    arm: str
    n_labels: int
    arm_mean: float
    scratch_mean: float
    interval: stats.Interval

    def verdict(self, higher_is_better: bool) -> str:
        iv = self.interval
        if math.isnan(iv.low):
            return "no interval (1 seed)" if iv.n == 1 else "–"
        if not iv.excludes_zero:
            return "within noise"
        return "better" if (iv.diff > 0) == higher_is_better else "worse"


def lifts(cmp: Comparison, confidence: float = 0.95) -> list[Lift]:
    """arm − scratch on the test metric at each budget, with a t-interval over seeds."""
    scratch = cmp.scratch_arm
    if scratch is None:
        return []
    out = []
    for arm in other_arms(cmp):
        for b in cmp.budgets:
            a, s = seed_values(cmp, arm, b), seed_values(cmp, scratch, b)
            if a and s:
                out.append(Lift(arm, cmp.n_labels_of(b), stats.mean_std(list(a.values()))[0],
                                stats.mean_std(list(s.values()))[0], stats.lift_interval(a, s, confidence)))
    return out


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


# ----------------------------------------------------------------------------- convergence


@dataclass(frozen=True)
class Convergence:
    arm: str
    budget: object
    n_labels: int
    target: float                    # nan without a scratch arm
    n_runs: int                      # cells with a validation curve
    n_reached: int
    steps_to_target: float           # means over the seeds that reached it
    seconds_to_target: float
    best_val: float                  # mean over seeds of each run's best validation metric
    best_step: float
    seconds_to_best: float


def scratch_targets(cmp: Comparison, fraction: float) -> dict:
    """budget -> convergence target: `fraction` of the scratch arm's best validation metric
    (each scratch seed's best over its curve, averaged over seeds; see stats.target_value)."""
    scratch = cmp.scratch_arm
    if scratch is None:
        return {}
    out = {}
    for b in cmp.budgets:
        bests = [_best_val(c, cmp) for c in cmp.cells_of(scratch, b)]
        bests = [v for v in bests if is_number(v)]
        if bests:
            out[b] = stats.target_value(sum(bests) / len(bests), fraction, cmp.higher_is_better)
    return out


def _best_val(cell, cmp: Comparison) -> float:
    best = stats.best_of(cell.val, cmp.metric, cmp.higher_is_better)
    if math.isnan(best):
        best = (cell.summary.get("best_val") or {}).get(cmp.metric, math.nan)
    return best


def _mean(values) -> float:
    vals = [v for v in values if is_number(v)]
    return sum(vals) / len(vals) if vals else math.nan


def convergence(cmp: Comparison, fraction: float = 0.95) -> list[Convergence]:
    targets = scratch_targets(cmp, fraction)
    out = []
    for b in cmp.budgets:
        target = targets.get(b, math.nan)
        for arm in cmp.arms:
            cells = cmp.cells_of(arm, b)
            if not cells:
                continue
            with_curve = [c for c in cells if c.val]
            hits = [] if math.isnan(target) else [
                stats.first_reaching(c.val, cmp.metric, target, cmp.higher_is_better) for c in with_curve]
            hits = [h for h in hits if h is not None]
            out.append(Convergence(
                arm=arm, budget=b, n_labels=cmp.n_labels_of(b), target=target, n_runs=len(with_curve),
                n_reached=len(hits), steps_to_target=_mean(h["step"] for h in hits),
                seconds_to_target=_mean(h.get("elapsed_s") for h in hits),
                best_val=_mean(_best_val(c, cmp) for c in cells),
                best_step=_mean(c.summary.get("best_step") for c in cells),
                seconds_to_best=_mean(c.summary.get("seconds_to_best") for c in cells)))
    return out


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


def pretrain_cost(run: Run | None) -> dict | None:
    """steps, items seen and wall time of the pretraining run (result.json, else its log)."""
    if run is None:
        return None
    res = run.result or {}
    last = (run.train or run.val or [{}])[-1]
    cost = {"steps": res.get("steps", last.get("step")), "items_seen": res.get("items_seen", last.get("items")),
            "train_seconds": res.get("train_seconds", last.get("elapsed_s"))}
    return cost if any(is_number(v) for v in cost.values()) else None


def cost_table(cmp: Comparison) -> Table:
    rows = []
    for arm in cmp.arms:
        cells = [c for c in cmp.cells if c.arm == arm]
        trained = _mean(c.summary.get("params_trained") for c in cells)
        total = _mean(c.summary.get("params_total") for c in cells)
        share = f" ({100 * trained / total:.1f}%)" if is_number(trained) and is_number(total) and total else ""
        secs = [c.summary.get("train_seconds") for c in cells if is_number(c.summary.get("train_seconds"))]
        rows.append([arm, str(len(cells)), fmt_count(trained) + share, fmt_count(total),
                     fmt_count(_mean(c.summary.get("items_seen") for c in cells)),
                     fmt_seconds(_mean(secs)), fmt_seconds(_mean(c.summary.get("seconds_to_best") for c in cells)),
                     fmt_seconds(sum(secs)) if secs else "–"])
    notes = ["Per-cell means over all budgets and seeds; total = summed training wall-clock of the arm's cells."]
    pre = pretrain_cost(cmp.pretrain)
    if pre:
        rows.append(["pretraining (once)", "1", "–", "–", fmt_count(pre["items_seen"]), fmt_seconds(pre["train_seconds"]),
                     "–", fmt_seconds(pre["train_seconds"])])
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
            before = _mean(f["val_loss_before"] for f in fs)
            after = _mean(f["val_loss_after"] for f in fs)
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


# ----------------------------------------------------------------------------- lineage


def summarize_section(section) -> str:
    """One line for a config section: `kind (key=value, ...)`, scalars only, at most 6 of them."""
    if not isinstance(section, dict):
        return "–" if section is None else str(section)
    kind = section.get("kind")
    items = [f"{k}={v}" for k, v in section.items()
             if k != "kind" and v is not None and not isinstance(v, (dict, list)) and v is not False]
    shown = ", ".join(items[:6]) + (", …" if len(items) > 6 else "")
    if kind is None:
        return shown or "–"
    return f"{kind} ({shown})" if shown else str(kind)


class _Configs:
    """Pretraining-run configs looked up by the path cells name in `init` (cached)."""

    def __init__(self, cmp: Comparison):
        self.cmp = cmp
        self.cache: dict[str, dict | None] = {}
        if cmp.pretrain is not None and cmp.pretrained_ref:
            self.cache[str(cmp.pretrained_ref)] = cmp.pretrain.config

    def get(self, ref: str) -> dict | None:
        if ref not in self.cache:
            found = find_run(ref, self.cmp.path, self.cmp.path.parent)
            self.cache[ref] = read_json(found / "config.json") if found and (found / "config.json").is_file() else None
        return self.cache[ref]


def lineage_table(cmp: Comparison) -> Table:
    """Per arm: how it was initialised, and the pretraining run, corpus, tokenizer and model behind it."""
    configs = _Configs(cmp)
    rows = []
    for arm in cmp.arms:
        cells = [c for c in cmp.cells if c.arm == arm]
        run_cfgs = [c.run.config for c in cells if c.run and c.run.config]
        weights = sorted({str(cfg.get("init_weights")) for cfg in run_cfgs if cfg.get("init_weights")})
        refs = sorted({str(cfg["init"]) for cfg in run_cfgs if cfg.get("init")})
        if not run_cfgs and cmp.pretrained_ref:   # no cell configs left: compare.json's reference
            refs = [str(cmp.pretrained_ref)]
        how = {"pretrained": "pretrained weights", "random": "random weights (same architecture)"}
        init_text = ", ".join(how.get(w, w) for w in weights) if weights else cells[0].init
        strategies = ", ".join(sorted({c.strategy for c in cells if c.strategy})) or "–"
        if refs:
            for ref in refs:
                pre = configs.get(ref) or {}
                rows.append([arm, init_text, strategies, ref, summarize_section(pre.get("objective")),
                             summarize_section(pre.get("data")), summarize_section(pre.get("tokenizer")),
                             summarize_section(pre.get("model"))])
        else:   # a run with its own architecture and tokenizer and no pretraining run behind it
            own = run_cfgs[0] if run_cfgs else {}
            rows.append([arm, init_text, strategies, "none", "–", "–", summarize_section(own.get("tokenizer")),
                         summarize_section(own.get("model"))])
    return Table(["arm", "init", "strategy", "pretraining run", "objective", "corpus", "tokenizer", "model"], rows,
                 align="llllllll",
                 notes=["Scratch arms built from a pretraining run reuse its tokenizer and architecture with fresh "
                        "weights, so the comparison isolates the weights."])


def finetune_setup(cmp: Comparison) -> str:
    """One sentence on the fine-tuning side: task, data, labelled pool."""
    cfg = next((c.run.config for c in cmp.cells if c.run and c.run.config), {})
    parts = [f"task: {summarize_section(cfg.get('task')) if cfg.get('task') else cmp.task or '–'}"]
    if cfg.get("data"):   # the label budget varies by cell; the rest of the data section is shared
        data = {k: v for k, v in cfg["data"].items() if k != "label_budget"}
        parts.append(f"fine-tune data: {summarize_section(data)}")
    if is_number(cmp.n_train_pool):
        parts.append(f"labelled pool: {cmp.n_train_pool:,} examples")
    seeds = sorted({str(c.seed) for c in cmp.cells})
    parts.append(f"seeds: {', '.join(seeds)}")
    return "; ".join(parts) + "."
