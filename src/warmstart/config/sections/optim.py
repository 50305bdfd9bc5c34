"""Optimizer sections (union Optim) and learning-rate schedule sections (union Schedule)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from warmstart.config.sections.base import Section

# ---------------------------------------------------------------------------------- optimizers


class _Optim(Section):
    decay_1d: bool = Field(False, description="Also apply weight decay to 1-d parameters "
                           "(norm gains, biases); off by default.")


class AdamWOptim(_Optim):
    kind: Literal["adamw"] = "adamw"
    lr: float = Field(5e-4, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="Decoupled weight decay (not applied to norms and biases).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    implementation: Literal["fused", "foreach", "for_loop"] = Field(
        "fused", description="Update kernel: fused (one kernel over all tensors; fastest on CPU), foreach (batched "
        "ops) or for_loop (one tensor at a time). The three agree to float rounding.")


class AdamOptim(_Optim):
    kind: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added to the gradient (coupled, unlike "
                                "adamw; not applied to norms and biases).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")


class SGDOptim(_Optim):
    kind: Literal["sgd"] = "sgd"
    lr: float = Field(0.1, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum (0 = plain SGD).")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0).")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")
    implementation: Literal["fused", "foreach", "for_loop"] = Field(
        "fused", description="Update kernel: fused (one kernel over all tensors; fastest on CPU), foreach (batched "
        "ops) or for_loop (one tensor at a time). The three agree to float rounding.")

    @model_validator(mode="after")
    def _check(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class GDOptim(_Optim):
    """Full-batch gradient descent: every step's gradient is the exact mean over the whole training
    set, accumulated in micro-batches of train.batch_size (so memory stays bounded)."""

    kind: Literal["gd"] = "gd"
    lr: float = Field(0.1, gt=0, description="Learning rate.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Heavy-ball momentum (0 = plain gradient descent).")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


class AdagradOptim(_Optim):
    kind: Literal["adagrad"] = "adagrad"
    lr: float = Field(1e-2, gt=0, description="Learning rate.")
    eps: float = Field(1e-10, gt=0, description="Added to the denominator.")
    initial_accumulator_value: float = Field(0.0, ge=0, description="Starting value of the sum of squared gradients.")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


class RMSPropOptim(_Optim):
    kind: Literal["rmsprop"] = "rmsprop"
    lr: float = Field(1e-3, gt=0, description="Learning rate.")
    alpha: float = Field(0.99, gt=0, lt=1, description="Smoothing constant of the squared-gradient average.")
    eps: float = Field(1e-8, gt=0, description="Added to the denominator.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum.")
    centered: bool = Field(False, description="Normalize by the estimated gradient variance "
                           "instead of the raw second moment.")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


Optim = Annotated[
    AdamWOptim | AdamOptim | SGDOptim | GDOptim | AdagradOptim | RMSPropOptim, Field(discriminator="kind")
]


# ---------------------------------------------------------------------------------- schedules


class _Warmup(Section):
    """Base of the schedules that start with a linear warmup."""

    kind: str  # every schedule narrows it to its Literal; declared here so that it stays the first field
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0.")


class ConstantSchedule(_Warmup):
    kind: Literal["constant"] = "constant"


class WarmupCosineSchedule(_Warmup):
    kind: Literal["warmup_cosine"] = "warmup_cosine"
    # The inherited field with a description of its own (it keeps its place, after kind).
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0 to the peak LR.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final LR as a fraction of the peak.")


class StepSchedule(_Warmup):
    """Multiply the LR by gamma every step_size steps."""

    kind: Literal["step"] = "step"
    step_size: int = Field(100, ge=1, description="Optimizer steps between decays (counted after warmup).")
    gamma: float = Field(0.1, gt=0, le=1, description="Decay factor.")


class ExponentialSchedule(_Warmup):
    """Multiply the LR by gamma after every step."""

    kind: Literal["exponential"] = "exponential"
    gamma: float = Field(0.99, gt=0, le=1, description="Per-step decay factor.")


class OneCycleSchedule(Section):
    """One-cycle (Smith): cosine up from lr/div_factor to lr, then cosine down to lr/(div_factor*final_div_factor)."""

    kind: Literal["one_cycle"] = "one_cycle"
    pct_start: float = Field(0.3, gt=0, lt=1, description="Fraction of max_steps spent increasing the LR.")
    div_factor: float = Field(25.0, ge=1, description="Initial LR = peak / div_factor.")
    final_div_factor: float = Field(1e4, ge=1, description="Final LR = initial / final_div_factor.")


class PlateauSchedule(_Warmup):
    """Reduce the LR by `factor` when the monitored validation metric (train.monitor) stops improving."""

    kind: Literal["plateau"] = "plateau"
    factor: float = Field(0.5, gt=0, lt=1, description="LR multiplier applied on a plateau.")
    patience: int = Field(2, ge=0, description="Evaluations without improvement tolerated before reducing.")
    threshold: float = Field(0.0, ge=0, description="Minimum absolute change that counts as an improvement.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Never reduce below this fraction of the peak LR.")


Schedule = Annotated[
    ConstantSchedule | WarmupCosineSchedule | StepSchedule | ExponentialSchedule | OneCycleSchedule | PlateauSchedule,
    Field(discriminator="kind"),
]

