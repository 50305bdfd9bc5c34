"""TrainState: everything besides weights and optimizer moments that an exact resume needs."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field

import torch


@dataclass
class TrainState:
    step: int = 0  # optimizer steps completed
    items_seen: int = 0  # tokens or examples that counted toward the loss
    elapsed_s: float = 0.0  # training wall time, summed across resumes
    best_metric: float | None = None
    best_step: int | None = None
    best_elapsed_s: float | None = None
    skipped_steps: int = 0  # steps skipped for a non-finite loss (nan_policy=skip)
    stale_evals: int = 0  # evaluations since the monitored metric last improved by > early_stop_min_delta
    stopped_early: bool = False
    data: dict = field(default_factory=dict)  # BatchIterator.state_dict()
    schedule: dict = field(default_factory=dict)  # LR scheduler state_dict (JSON-able)
    rng: str = ""  # torch CPU RNG state, base64

    def capture_rng(self) -> None:
        self.rng = base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")

    def restore_rng(self) -> None:
        if self.rng:
            raw = base64.b64decode(self.rng)
            torch.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "TrainState":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
