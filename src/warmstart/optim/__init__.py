"""Optimizers and LR schedules."""

from warmstart.optim.optimizers import build_optimizer
from warmstart.optim.schedules import build_schedule

__all__ = ["build_optimizer", "build_schedule"]
