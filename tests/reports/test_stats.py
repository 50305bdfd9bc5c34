"""The report's numerics on inputs whose answers are known analytically."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from warmstart.reports import stats

N = [10, 100, 1000, 10000]


def log_linear(a: float, b: float):
    return [a + b * math.log(n) for n in N]


# ----------------------------------------------------------------------------- labels to match


@pytest.mark.parametrize("want", [15.0, 40.0, 400.0, 2500.0, 9999.0])
def test_labels_to_match_inverts_a_log_linear_curve_exactly(want):
    # acc = a + b·ln(n) is a straight line in log(n), so interpolating in log(n) is exact:
    # the labels to reach a + b·ln(want) are `want`.
    a, b = 0.3, 0.05
    m = stats.labels_to_match(N, log_linear(a, b), a + b * math.log(want))
    assert m.bound == "" and m.labels == pytest.approx(want, rel=1e-9)


def test_labels_to_match_lower_is_better_mirrors():
    a, b = 2.0, -0.1                      # mse falling with log(labels)
    m = stats.labels_to_match(N, log_linear(a, b), a + b * math.log(400), higher_is_better=False)
    assert m.labels == pytest.approx(400, rel=1e-9)
    # The same curve read as higher-is-better never improves past its first point.
    assert stats.labels_to_match(N, log_linear(a, b), 1.9, higher_is_better=True).bound == ">"


def test_labels_to_match_bounds():
    ys = log_linear(0.3, 0.05)
    above = stats.labels_to_match(N, ys, 0.99)
    assert (above.bound, above.labels, above.reached) == (">", 10000, False)
    below = stats.labels_to_match(N, ys, 0.1)
    assert (below.bound, below.labels, below.reached) == ("<=", 10, True)
    # Exactly the first point: reached there, and we do not extrapolate below it.
    assert stats.labels_to_match(N, ys, ys[0]).bound == "<="
    # Exactly the last point: reached at it (not "> max").
    last = stats.labels_to_match(N, ys, ys[-1])
    assert (last.bound, last.labels) == ("", pytest.approx(10000))


def test_labels_to_match_non_monotone_uses_running_best():
    ys = [0.5, 0.7, 0.6, 0.8]             # a dip at 1,000 labels
    # 0.65 is first reached between 10 and 100: 3/4 of the way in log10 -> 10^1.75.
    assert stats.labels_to_match(N, ys, 0.65).labels == pytest.approx(10 ** 1.75)
    # 0.75: the running best is 0.7 at 1,000 (not the dip's 0.6), so 10^(3 + 0.5).
    assert stats.labels_to_match(N, ys, 0.75).labels == pytest.approx(10 ** 3.5)


def test_labels_to_match_ties_take_the_smallest_count():
    ys = [0.5, 0.7, 0.7, 0.9]             # plateau
    assert stats.labels_to_match(N, ys, 0.7).labels == pytest.approx(100)


def test_labels_to_match_accepts_unsorted_input():
    ys = log_linear(0.3, 0.05)
    order = [2, 0, 3, 1]
    m = stats.labels_to_match([N[i] for i in order], [ys[i] for i in order], 0.3 + 0.05 * math.log(50))
    assert m.labels == pytest.approx(50)


# ----------------------------------------------------------------------------- intervals


def test_paired_t_interval_known_values():
    # diffs 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t_{0.975, 2} = 4.302652729911275.
    iv = stats.paired_t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert (iv.diff, iv.n, iv.method) == (2.0, 3, "paired t")
    assert iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)


def test_lift_interval_pairs_by_seed_and_matches_scipy():
    arm = {0: 0.60, 1: 0.66, 2: 0.61, 3: 0.70}
    base = {0: 0.50, 1: 0.58, 2: 0.49, 3: 0.55}
    iv = stats.lift_interval(arm, base)
    ref = sps.ttest_rel([arm[s] for s in range(4)], [base[s] for s in range(4)]).confidence_interval(0.95)
    assert iv.method == "paired t" and iv.n == 4
    assert (iv.low, iv.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert iv.excludes_zero


def test_lift_interval_falls_back_to_welch_when_seeds_differ():
    arm = {0: 0.60, 1: 0.66, 2: 0.61}
    base = {3: 0.50, 4: 0.58, 5: 0.49, 6: 0.52}
    iv = stats.lift_interval(arm, base)
    ref = sps.ttest_ind(list(arm.values()), list(base.values()), equal_var=False).confidence_interval(0.95)
    assert iv.method == "Welch t" and iv.n == 3
    assert iv.diff == pytest.approx(np.mean(list(arm.values())) - np.mean(list(base.values())))
    assert (iv.low, iv.high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_lift_interval_single_seed_has_no_interval():
    iv = stats.lift_interval({0: 0.7}, {0: 0.6})
    assert iv.diff == pytest.approx(0.1) and math.isnan(iv.low) and iv.n == 1
    assert not iv.excludes_zero


def test_interval_that_contains_zero():
    iv = stats.paired_t_interval([0.01, -0.02, 0.015])
    assert iv.low < 0 < iv.high and not iv.excludes_zero


# ----------------------------------------------------------------------------- convergence


def test_target_value_both_directions_and_signs():
    assert stats.target_value(0.8, 0.95, True) == pytest.approx(0.76)       # 95% of the best accuracy
    assert stats.target_value(0.2, 0.95, False) == pytest.approx(0.21)      # within 5% above the best mse
    assert stats.target_value(-0.5, 0.95, True) == pytest.approx(-0.525)    # negative r2: still below the best


def test_first_reaching():
    pts = [{"step": s, "acc": v, "elapsed_s": s / 10} for s, v in [(30, 0.7), (10, 0.2), (20, 0.5), (40, 0.9)]]
    assert stats.first_reaching(pts, "acc", 0.6, True)["step"] == 30
    assert stats.first_reaching(pts, "acc", 0.95, True) is None
    mse = [{"step": s, "mse": v} for s, v in [(10, 2.0), (20, 1.2), (30, 1.05)]]
    assert stats.first_reaching(mse, "mse", 1.1, False)["step"] == 30


def test_mean_curve_averages_step_by_step_over_available_seeds():
    a = [{"step": 10, "acc": 0.2, "elapsed_s": 1.0}, {"step": 20, "acc": 0.4, "elapsed_s": 2.0}]
    b = [{"step": 10, "acc": 0.4, "elapsed_s": 3.0}]                       # stopped early
    mc = stats.mean_curve([a, b], "acc")
    assert mc.steps.tolist() == [10, 20]
    assert mc.mean.tolist() == pytest.approx([0.3, 0.4])
    assert mc.seconds.tolist() == pytest.approx([2.0, 2.0])
    assert mc.n.tolist() == [2, 1]
    assert mc.std[1] == 0.0 and mc.std[0] == pytest.approx(math.sqrt(0.02))


def test_mean_std_uses_sample_std():
    mean, std, n = stats.mean_std([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3)
    assert math.isnan(stats.mean_std([1.0])[1])
