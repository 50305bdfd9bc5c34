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
    scaler: dict = field(default_factory=dict)  # fp16 GradScaler state_dict (empty unless fp16)
    rng: str = ""  # torch CPU RNG state, base64
    cuda_rng: str = ""  # the current CUDA device's RNG state, base64 (empty when CUDA is not in use)
    # Under DDP, every rank's (rng, cuda_rng), rank order: ranks draw different amounts (dropout on
    # differently padded slices, MLM masks), so each resumes from its own. Empty on one process.
    rank_rng: list[list[str]] = field(default_factory=list)

    def capture_rng(self, gather=None) -> None:
        """This process's RNG states; `gather` (under DDP: World.gather) collects every rank's."""
        self.rng = _b64(torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self.cuda_rng = _b64(torch.cuda.get_rng_state())
        self.rank_rng = gather([self.rng, self.cuda_rng]) if gather is not None else []

    def restore_rng(self, rank: int = 0, size: int = 1) -> None:
        """Restore rank `rank`'s RNG states. A checkpoint from another world size (or from one process)
        gives every rank rank 0's states: the run continues, but draws differ from an uninterrupted one."""
        rng, cuda_rng = self.rank_rng[rank] if len(self.rank_rng) == size > 1 else (self.rng, self.cuda_rng)
        if rng:
            torch.set_rng_state(_unb64(rng))
        if cuda_rng and torch.cuda.is_available():  # a GPU run resumed on a CPU-only machine skips this
            torch.cuda.set_rng_state(_unb64(cuda_rng))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "TrainState":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _b64(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
