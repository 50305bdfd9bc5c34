"""The transfer report's computations on a Comparison: what is compared with what, as numbers.

Every arm is compared against the reference arm (compare.json's `reference`, by default the
scratch arm; `Comparison.scratch_arm` names it), at every label budget, over seeds: per-seed test
metrics and mean curves (seed_values, arm_curve), labels saved (labels_saved -> Saving), lift with
a confidence interval (lifts -> Lift), convergence to a target set by the reference
(scratch_targets, convergence -> Convergence), the pretraining run's cost (pretrain_cost), and
the ranking of all arms per budget (ranking -> Rank).
The statistics themselves come from stats.py; turning these results into formatted Tables is
tables.py's job, so nothing here formats a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from warmstart.reports import stats
from warmstart.reports.collect import Comparison, Run, is_number

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


def finite_mean(values) -> float:
    """Mean of the numeric values among `values` (None and nan skipped); nan if there are none."""
    vals = [v for v in values if is_number(v)]
    return sum(vals) / len(vals) if vals else math.nan


# ----------------------------------------------------------------------------- labels saved


@dataclass(frozen=True)
class Saving:
    arm: str
    n_labels: int
    arm_mean: float
    match: stats.Match

    @property
    def ratio(self) -> float:
        return self.match.labels / self.n_labels


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
        for n, mean in zip(*arm_curve(cmp, arm), strict=True):
            out.append(Saving(arm, n, mean, stats.labels_to_match(sx, sy, mean, cmp.higher_is_better)))
    return out


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
                n_reached=len(hits), steps_to_target=finite_mean(h["step"] for h in hits),
                seconds_to_target=finite_mean(h.get("elapsed_s") for h in hits),
                best_val=finite_mean(_best_val(c, cmp) for c in cells),
                best_step=finite_mean(c.summary.get("best_step") for c in cells),
                seconds_to_best=finite_mean(c.summary.get("seconds_to_best") for c in cells)))
    return out


# ----------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Rank:
    """The arms at one budget, best first, with the best arm's mean interval and its margin over the runner-up."""

    n_labels: int
    order: list[tuple[str, float]]   # (arm, mean test metric), best first
    best_interval: stats.Interval    # the best arm's mean with its t-interval over seeds
    margin: stats.Interval | None    # best − runner-up (paired over seeds when they share them); None with one arm

    def verdict(self, higher_is_better: bool) -> str:
        if self.margin is None:
            return "only arm"
        if math.isnan(self.margin.low):
            return "no interval (1 seed)" if self.margin.n == 1 else "–"
        return "clear" if self.margin.excludes_zero else "tied within noise"


def ranking(cmp: Comparison, confidence: float = 0.95) -> list[Rank]:
    """Per budget: the arms ordered by mean test metric (best first, in the metric's direction)."""
    out = []
    for b in cmp.budgets:
        values = {arm: seed_values(cmp, arm, b) for arm in cmp.arms}
        means = {arm: stats.mean_std(list(v.values()))[0] for arm, v in values.items() if v}
        if not means:
            continue
        order = sorted(means.items(), key=lambda kv: -stats.orient(kv[1], cmp.higher_is_better))
        best = order[0][0]
        best_iv = stats.paired_t_interval(list(values[best].values()), confidence)   # mean ± t·s/√n
        margin = None
        if len(order) > 1:
            margin = stats.lift_interval(values[best], values[order[1][0]], confidence)
            if not cmp.higher_is_better:   # report the margin as a positive "how much better"
                margin = stats.Interval(-margin.diff, -margin.high, -margin.low, margin.n, margin.method)
        out.append(Rank(cmp.n_labels_of(b), order, best_iv, margin))
    return out


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
