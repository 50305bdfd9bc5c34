"""TrainSection: run length, batching, evaluation, checkpointing, precision and early stopping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from warmstart.config.sections.base import Section

DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"  # train.device and --device


class TrainSection(Section):
    max_steps: int = Field(200, ge=1, description="Optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Examples (or blocks) per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step (gradients "
                            "averaged over all items).")
    eval_every: int = Field(50, ge=1, description="Evaluate on the validation split every N steps (and at the end).")
    eval_batches: int | None = Field(None, ge=1, description="Validation batches per evaluation "
                                     "(null = the whole split).")
    save_every: int | None = Field(None, ge=1, description="Checkpoint every N steps (null = only at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="Most recent step checkpoints to keep on disk.")
    log_every: int = Field(10, ge=1, description="Write a train metrics line every N steps.")
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "fp32", description="bf16 = bfloat16 autocast (weights stay fp32); fp16 = float16 autocast with a "
        "GradScaler (CUDA only); auto = on CUDA bf16 where the GPU supports it, else fp16; on a CPU bf16 where it "
        "has native bf16 instructions (AVX512-BF16/AMX), else fp32.")
    device: str = Field("auto", pattern=DEVICE_PATTERN,
                        description="Where to train: auto (cuda if available, else mps, else cpu), cpu, cuda, "
                        "cuda:N or mps. Under torchrun, cuda means each process's own GPU (cuda:LOCAL_RANK). "
                        "Checkpoints are device-free either way.")
    parallel: Literal["ddp", "fsdp"] = Field(
        "ddp", description="Under torchrun: ddp = every rank holds the whole model (DistributedDataParallel); fsdp = "
        "parameters, gradients and optimizer state sharded across ranks (FSDP2 fully_shard per transformer block and "
        "the whole module; train.precision sets its mixed-precision policy), step checkpoints saved sharded through "
        "torch.distributed.checkpoint plus consolidated weights. One process: no effect.")
    activation_checkpointing: bool = Field(
        False, description="Recompute each transformer block's activations in backward instead of keeping them "
        "(less memory, ~30% more compute; HF gradient checkpointing). Transformer backbones only.")
    grad_clip: float | None = Field(1.0, gt=0, description="Clip the global gradient norm (null = off).")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (null = the cores available).")
    compile: bool = Field(False, description="torch.compile the module (costs tens of seconds up front).")
    dropout_rng: Literal["hash", "torch"] = Field("hash", description="Compiled runs only: where dropout masks come "
                                                  "from. hash = a counter-based hash fused into the compiled kernels "
                                                  "(several times faster on CPU, same keep probability); torch = "
                                                  "torch's own Bernoulli draws, as in eager runs.")
    nan_policy: Literal["stop", "skip"] = Field("stop", description="On a non-finite loss: stop with "
                                                "an error, or skip the step.")
    select_best: bool = Field(True, description="Fine-tuning: restore the weights with "
                              "the best validation metric at the end.")
    monitor: str | None = Field(None, description="Validation metric that picks the best checkpoint, drives early "
                                "stopping and the plateau schedule (null = the task's primary metric).")
    monitor_mode: Literal["max", "min"] | None = Field(None, description="Whether higher or lower monitor is better "
                                                       "(null = the metric's own direction: min for "
                                                       "loss/ppl/mse/mae/rmse, else max).")
    early_stop_patience: int | None = Field(None, ge=1, description="Stop after this many evaluations without an "
                                            "improvement of the monitor by more than early_stop_min_delta "
                                            "(null = off).")
    early_stop_min_delta: float = Field(0.0, ge=0, description="Smallest change of the monitored metric that "
                                        "counts as an improvement for early stopping.")
    progress: bool = Field(True, description="Show a progress bar on a terminal.")

