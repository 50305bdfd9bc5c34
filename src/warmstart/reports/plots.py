"""Report figures as PNG bytes: data efficiency, lift with intervals, convergence (vs step and vs
wall-clock), pretraining curve, and a single run's curves.

Figures are built on matplotlib's object API with the Agg canvas (never pyplot), so nothing
touches a display or global figure state, and the same bytes are embedded in report.html and
written next to report.md.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from warmstart.reports import stats
from warmstart.reports.analysis import Lift, seed_values
from warmstart.reports.collect import Comparison, Run

SCRATCH_COLOR = "#6b6b6b"
COLORS = ["#1f6fb4", "#d0452c", "#2e9a47", "#8a5cc2", "#e08a12", "#8c564b", "#c2508f"]
DPI = 110
MAX_PANELS = 4   # convergence small multiples: at most this many budgets side by side


def arm_colors(cmp: Comparison) -> dict[str, str]:
    """Stable colours: the scratch arm grey, the others from a fixed palette in arm order."""
    others = iter(COLORS * 3)
    return {a: SCRATCH_COLOR if a == cmp.scratch_arm else next(others) for a in cmp.arms}


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" text chunk: the bytes then depend only on the pixels.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _label_axis(ax, ticks: list[int]) -> None:
    """Log x axis ticked at the budgets actually run, written as plain counts."""
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _metric_axis_label(cmp: Comparison, prefix: str) -> str:
    return f"{prefix} {cmp.metric}" + ("" if cmp.higher_is_better else "  (lower is better)")


def efficiency_figure(cmp: Comparison) -> Figure:
    """Test metric vs labels (log x): mean line, ±1 std band, and each seed as a faint dot."""
    fig = new_figure(7.2, 4.2)
    ax = fig.add_subplot()
    colors = arm_colors(cmp)
    for arm in cmp.arms:
        xs, means, stds = [], [], []
        for b in cmp.budgets:
            vals = list(seed_values(cmp, arm, b).values())
            if not vals:
                continue
            mean, std, _ = stats.mean_std(vals)
            n = cmp.n_labels_of(b)
            xs.append(n)
            means.append(mean)
            stds.append(0.0 if math.isnan(std) else std)
            ax.scatter([n] * len(vals), vals, s=12, color=colors[arm], alpha=0.35, linewidths=0)
        xs, means, stds = np.array(xs), np.array(means), np.array(stds)
        ax.plot(xs, means, marker="o", color=colors[arm], label=arm, linewidth=2)
        ax.fill_between(xs, means - stds, means + stds, color=colors[arm], alpha=0.15, linewidth=0)
    _label_axis(ax, [cmp.n_labels_of(b) for b in cmp.budgets])
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(_metric_axis_label(cmp, "test"))
    ax.set_title("Data efficiency: mean over seeds, band = ±1 std, dots = seeds")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def lift_figure(cmp: Comparison, items: list[Lift], confidence: float) -> Figure:
    """arm − scratch per budget with its confidence interval as an error bar; 0 = no difference."""
    fig = new_figure(7.2, 3.4)
    ax = fig.add_subplot()
    colors = arm_colors(cmp)
    arms = list(dict.fromkeys(it.arm for it in items))
    for k, arm in enumerate(arms):
        mine = [it for it in items if it.arm == arm]
        # Nudge arms sideways (multiplicatively, the axis is log) so their error bars do not overlap.
        xs = np.array([it.n_labels for it in mine], dtype=float) * 1.04 ** (k - (len(arms) - 1) / 2)
        d = np.array([it.interval.diff for it in mine])
        lo = np.array([it.interval.low for it in mine])
        hi = np.array([it.interval.high for it in mine])
        err = np.vstack([np.where(np.isnan(lo), 0, d - lo), np.where(np.isnan(hi), 0, hi - d)])
        ax.errorbar(xs, d, yerr=err, marker="o", capsize=4, color=colors[arm], label=arm, linewidth=1.5)
    ax.axhline(0, color=SCRATCH_COLOR, linewidth=1, linestyle="--")
    _label_axis(ax, sorted({it.n_labels for it in items}))
    ax.set_xlabel("labelled training examples (log scale)")
    better = "above" if cmp.higher_is_better else "below"
    ax.set_ylabel(f"Δ test {cmp.metric} vs {cmp.scratch_arm}")
    ax.set_title(f"Lift over {cmp.scratch_arm} with {100 * confidence:g}% CI (better is {better} 0)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def shown_budgets(cmp: Comparison) -> list:
    """The budgets drawn as convergence panels: all of them, or MAX_PANELS spread from smallest to largest."""
    budgets = cmp.budgets
    if len(budgets) <= MAX_PANELS:
        return budgets
    idx = sorted({int(round(i)) for i in np.linspace(0, len(budgets) - 1, MAX_PANELS)})
    return [budgets[i] for i in idx]


def convergence_figure(cmp: Comparison, targets: dict) -> Figure | None:
    """Validation metric (mean over seeds, ±1 std) vs step (top row) and vs training wall-clock
    (bottom row), one column per label budget; dashed line = convergence target."""
    budgets = [b for b in shown_budgets(cmp) if any(c.val for c in _cells_at(cmp, b))]
    if not budgets:
        return None
    fig = new_figure(3.3 * len(budgets) + 0.6, 5.6)
    axes = fig.subplots(2, len(budgets), squeeze=False)
    colors = arm_colors(cmp)
    for j, b in enumerate(budgets):
        top, bottom = axes[0, j], axes[1, j]
        for arm in cmp.arms:
            curves = [c.val for c in cmp.cells_of(arm, b) if c.val]
            if not curves:
                continue
            mc = stats.mean_curve(curves, cmp.metric)
            if not mc.steps.size:
                continue
            for ax, x in ((top, mc.steps), (bottom, mc.seconds)):
                ax.plot(x, mc.mean, color=colors[arm], label=arm, linewidth=1.8)
                ax.fill_between(x, mc.mean - mc.std, mc.mean + mc.std, color=colors[arm], alpha=0.15, linewidth=0)
        if b in targets:
            for ax in (top, bottom):
                ax.axhline(targets[b], color="black", linestyle="--", linewidth=1, alpha=0.6)
        top.set_title(f"{cmp.n_labels_of(b):,} labels")
        top.set_xlabel("step")
        bottom.set_xlabel("training time (s)")
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
        if j == 0:
            top.set_ylabel(_metric_axis_label(cmp, "val"))
            bottom.set_ylabel(_metric_axis_label(cmp, "val"))
            top.legend(fontsize="small")
    return fig


def _cells_at(cmp: Comparison, budget) -> list:
    return [c for arm in cmp.arms for c in cmp.cells_of(arm, budget)]


def _loss_key(points: list[dict]) -> str | None:
    for key in ("loss", "ppl"):
        if any(isinstance(p.get(key), (int, float)) for p in points):
            return key
    return None


def pretrain_figure(run: Run) -> Figure | None:
    """The pretraining run's loss: training (faint) and validation vs step."""
    key = _loss_key(run.val) or _loss_key(run.train)
    if key is None:
        return None
    fig = new_figure(7.2, 3.2)
    ax = fig.add_subplot()
    for points, style, label in ((run.train, dict(alpha=0.35, linewidth=1), "train"),
                                 (run.val, dict(marker="o", markersize=3, linewidth=2), "val")):
        pts = [p for p in points if isinstance(p.get(key), (int, float))]
        if pts:
            ax.plot([p["step"] for p in pts], [p[key] for p in pts], color=COLORS[0], label=f"{label} {key}", **style)
    ax.set_xlabel("step")
    ax.set_ylabel(f"pretraining {key}")
    objective = (run.config.get("objective") or {}).get("kind", "")
    ax.set_title(f"Pretraining {objective}".strip() + f": {run.name}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


SKIP_KEYS = {"step", "split", "elapsed_s", "items", "lr", "grad_norm", "epoch", "loss"}


def run_metric_keys(run: Run) -> list[str]:
    """Numeric validation keys other than bookkeeping and the loss (acc, f1, mse, ppl, ...)."""
    keys = []
    for p in run.val:
        for k, v in p.items():
            if k not in SKIP_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    return keys


def run_figure(run: Run) -> Figure | None:
    """A single run: train and val loss vs step, and each validation metric vs step."""
    keys = run_metric_keys(run)
    if not run.train and not run.val:
        return None
    fig = new_figure(11 if keys else 7.2, 3.6)
    axes = fig.subplots(1, 2 if keys else 1, squeeze=False)[0]
    ax = axes[0]
    for points, color, label in ((run.train, COLORS[0], "train"), (run.val, COLORS[1], "val")):
        pts = [p for p in points if isinstance(p.get("loss"), (int, float))]
        if pts:
            ax.plot([p["step"] for p in pts], [p["loss"] for p in pts], color=color, label=f"{label} loss",
                    marker="o" if label == "val" else None, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if keys:
        ax = axes[1]
        for k, key in enumerate(keys):
            pts = [p for p in run.val if isinstance(p.get(key), (int, float))]
            ax.plot([p["step"] for p in pts], [p[key] for p in pts], marker="o", markersize=3,
                    color=COLORS[(k + 2) % len(COLORS)], label=f"val {key}")
        ax.set_xlabel("step")
        ax.set_title("Validation metrics")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig
