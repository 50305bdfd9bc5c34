"""Monitor: which validation metric counts as "better", and what the loop does about it - remember
the best value, count stale evaluations for early stopping, feed the plateau schedule.

The metric's direction (higher or lower is better) comes from the metric classes
(`evaluation.metrics.higher_is_better`), the one source the loop, compare and the report share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import higher_is_better
from warmstart.training.state import TrainState

if TYPE_CHECKING:
    from warmstart.config.schema import TrainSection


@dataclass(frozen=True)
class Monitor:
    metric: str  # validation metric that picks the best checkpoint, drives early stopping and the plateau schedule
    higher: bool  # higher is better
    keep_best: bool = False  # the caller keeps a checkpoint of the best weights
    patience: int | None = None  # early stopping: evaluations without improvement (None = never stop)
    min_delta: float = 0.0  # an improvement must exceed this to reset the patience count

    @classmethod
    def from_config(cls, cfg: TrainSection, primary: str, keep_best: bool = False) -> Monitor:
        """train.monitor (else the task's `primary` metric), its direction (train.monitor_mode, else
        the metric's own), early stopping settings from the train section."""
        name = cfg.monitor or primary
        higher = cfg.monitor_mode == "max" if cfg.monitor_mode is not None else higher_is_better(name)
        return cls(name, higher, keep_best, cfg.early_stop_patience, cfg.early_stop_min_delta)

    def value(self, val: dict[str, float]) -> float:
        if self.metric not in val:
            raise ConfigError(f"train.monitor: {self.metric!r} is not a validation metric here "
                              f"(expected one of {sorted(val)})")
        return val[self.metric]

    def observe(self, val: dict[str, float], state: TrainState) -> tuple[float, bool]:
        """Record one evaluation in `state` (best metric/step/time, evaluations without improvement).
        Returns (monitored value, whether it is a new best)."""
        value, prev = self.value(val), state.best_metric
        improved = prev is None or (value > prev if self.higher else value < prev)
        if improved:
            state.best_metric, state.best_step, state.best_elapsed_s = value, state.step, state.elapsed_s
        if self.patience:
            # Early stopping counts evaluations since the last improvement larger than min_delta.
            gain = math.inf if prev is None else (value - prev if self.higher else prev - value)
            state.stale_evals = 0 if gain > self.min_delta else state.stale_evals + 1
        return value, improved

    def patience_spent(self, state: TrainState) -> bool:
        """Early stopping is due: `patience` evaluations in a row without improvement."""
        return bool(self.patience) and state.stale_evals >= self.patience
