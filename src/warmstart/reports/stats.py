"""The numbers behind a transfer report: means over seeds, labels-to-match interpolation on a
data-efficiency curve, confidence intervals for a lift over seeds, and steps/time to a target.

Pure functions on plain numbers. Lower-is-better metrics (mse, mae, loss) are handled by
*orienting* values, score = value if higher_is_better else -value, so that every comparison below
is "higher score is better" and there is one code path for both directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def orient(value: float, higher_is_better: bool) -> float:
    """Score with "higher is better" semantics (negates lower-is-better metrics)."""
    return value if higher_is_better else -value


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, n). The std uses ddof=1, the unbiased variance over seeds;
    it is nan for a single value rather than a misleading 0."""
    v = np.asarray(values, dtype=float)
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if n > 1 else math.nan, n


# ----------------------------------------------------------------------------- labels to match


@dataclass(frozen=True)
class Match:
    """Labels the baseline needs to reach a target.

    bound is "" for an interpolated value, "<=" when the baseline already reaches the target at
    its smallest budget (we do not extrapolate below it), and ">" when it never reaches it
    (labels is then the largest budget tried).
    """

    labels: float
    bound: str = ""

    @property
    def reached(self) -> bool:
        return self.bound != ">"


def labels_to_match(n_labels: Sequence[float], means: Sequence[float], target: float,
                    higher_is_better: bool = True) -> Match:
    """How many labels a curve (mean metric at each label count) needs to reach `target`.

    Interpolation is linear in log(labels), the axis data-efficiency curves are close to linear on.
    A noisy curve can dip as labels grow; we use its running best (the best value reached with at
    most that many labels), so the answer is "labels needed to first reach the target" and a dip
    never makes the baseline look as if it needs more labels. This errs in the baseline's favour,
    i.e. it understates what pretraining saved. Ties resolve to the smallest label count that
    reaches the target.
    """
    if len(n_labels) != len(means) or not len(n_labels):
        raise ValueError("labels_to_match needs equal-length, non-empty label counts and means")
    order = np.argsort(np.asarray(n_labels, dtype=float), kind="stable")
    n = np.asarray(n_labels, dtype=float)[order]
    score = np.array([orient(m, higher_is_better) for m in np.asarray(means, dtype=float)[order]])
    want = orient(target, higher_is_better)
    best = np.maximum.accumulate(score)          # running best: monotone non-decreasing

    if best[0] >= want:
        return Match(float(n[0]), "<=")
    reached = np.nonzero(best >= want)[0]
    if not reached.size:
        return Match(float(n[-1]), ">")
    i = int(reached[0])                          # best[i-1] < want <= best[i] == score[i]
    frac = (want - best[i - 1]) / (best[i] - best[i - 1])
    log_n = math.log(n[i - 1]) + frac * (math.log(n[i]) - math.log(n[i - 1]))
    return Match(float(math.exp(log_n)))


# ----------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A difference of means with its confidence interval. low/high are nan when n < 2."""

    diff: float
    low: float
    high: float
    n: int              # seed pairs (paired) or the smaller group size (Welch)
    method: str         # "paired t", "Welch t", or why there is no interval

    @property
    def excludes_zero(self) -> bool:
        return not math.isnan(self.low) and (self.low > 0 or self.high < 0)


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile (scipy, which scikit-learn already brings in; imported on first use)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def paired_t_interval(diffs: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of paired differences ± t_{(1+c)/2, n-1} · s_d / sqrt(n)."""
    d = np.asarray(diffs, dtype=float)
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, "n=1: no interval" if n else "no data")
    se = float(d.std(ddof=1)) / math.sqrt(n)
    half = t_quantile((1 + confidence) / 2, n - 1) * se
    return Interval(mean, mean - half, mean + half, n, "paired t")


def welch_t_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """mean(a) - mean(b) with Welch's interval (unequal variances; Welch–Satterthwaite df)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean()) if a.size and b.size else math.nan
    n = int(min(a.size, b.size))
    if a.size < 2 or b.size < 2:
        return Interval(diff, math.nan, math.nan, n, "n=1: no interval" if n else "no data")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:  # every seed identical in both groups: the difference is exact
        return Interval(diff, diff, diff, n, "Welch t")
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = t_quantile((1 + confidence) / 2, df) * se
    return Interval(diff, diff - half, diff + half, n, "Welch t")


def lift_interval(arm: dict, base: dict, confidence: float = 0.95) -> Interval:
    """arm - base, with `arm` and `base` mapping seed -> metric.

    When both ran the same seeds, seed s of the arm and of the baseline share their label subset
    and data order, so the differences are paired and the paired t-interval is the right (and
    tighter) one. Otherwise the groups are independent and we fall back to Welch's interval.
    """
    if arm and set(arm) == set(base) and len(arm) >= 2:
        return paired_t_interval([arm[s] - base[s] for s in sorted(arm, key=str)], confidence)
    return welch_t_interval(list(arm.values()), list(base.values()), confidence)


# ----------------------------------------------------------------------------- convergence


def target_value(best: float, fraction: float, higher_is_better: bool) -> float:
    """The convergence target: `fraction` of the way to the baseline's best.

    For a positive higher-is-better metric this is fraction * best (95% of the best accuracy).
    Written as best ∓ (1 - fraction)·|best| it stays meaningful for metrics that can be negative
    (r2) and mirrors for lower-is-better ones: within 5% above the best mse.
    """
    slack = (1 - fraction) * abs(best)
    return best - slack if higher_is_better else best + slack


def reaches(value: float, target: float, higher_is_better: bool) -> bool:
    return orient(value, higher_is_better) >= orient(target, higher_is_better)


def first_reaching(points: Sequence[dict], key: str, target: float, higher_is_better: bool) -> dict | None:
    """The first validation record (by step) whose `key` reaches the target, or None.

    Evaluations are discrete, so the step found is the first *evaluated* step at or past the
    crossing: an upper bound with the resolution of eval_every.
    """
    for p in sorted(points, key=lambda p: p["step"]):
        v = p.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v) and reaches(v, target, higher_is_better):
            return p
    return None


def best_of(points: Sequence[dict], key: str, higher_is_better: bool) -> float:
    """Best value of `key` over a validation curve (nan when the curve has none)."""
    vals = [p[key] for p in points if isinstance(p.get(key), (int, float)) and math.isfinite(p[key])]
    if not vals:
        return math.nan
    return max(vals) if higher_is_better else min(vals)


@dataclass(frozen=True)
class MeanCurve:
    """A validation curve averaged over seeds at each evaluated step."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray       # 0 where only one seed evaluated that step
    seconds: np.ndarray   # mean training wall-clock at that step
    n: np.ndarray         # seeds contributing at each step


def mean_curve(curves: Sequence[Sequence[dict]], key: str) -> MeanCurve:
    """Average several runs' validation records of `key` step by step.

    Seeds of one cell evaluate at the same steps, but a run may have stopped early or lost its
    tail; each step is averaged over the runs that have it (n says how many).
    """
    by_step: dict[int, list[tuple[float, float]]] = {}
    for points in curves:
        for p in points:
            v = p.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                by_step.setdefault(int(p["step"]), []).append((float(v), float(p.get("elapsed_s", math.nan))))
    steps = np.array(sorted(by_step), dtype=int)
    vals = [np.array(by_step[s]) for s in steps]
    mean = np.array([v[:, 0].mean() for v in vals])
    std = np.array([v[:, 0].std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
    seconds = np.array([np.nanmean(v[:, 1]) if np.isfinite(v[:, 1]).any() else math.nan for v in vals])
    return MeanCurve(steps, mean, std, seconds, np.array([len(v) for v in vals]))
