"""train(...): the one training loop, shared by every objective, task and strategy.

In: a module (backbone + head -> StepOutput), a `Training` (resumable batches, optimizer, LR
schedule, strategy, train config, state, metrics log, and the `World`: device and data-parallel
rank), a validation function, a `Monitor` (best metric, early stopping, plateau schedule) and a
`save` callback. Out: the final TrainState; along the way metrics.jsonl lines and calls to `save`.
The loop knows training, not storage: where and how checkpoints are written is the caller's
(checkpoint.run.RunCheckpoints). The same loop runs on one process or as one rank of many (DDP):
the only differences are the wrapped forward (DDP; FSDP shards the module in place), no gradient
sync on all but the last micro-batch, and one all-reduce of the step's item count and loss sum.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from warmstart.errors import TrainingError
from warmstart.training.distributed import World, data_parallel, grad_sync, whole
from warmstart.training.dropout import use_fast_dropout
from warmstart.training.monitor import Monitor
from warmstart.training.precision import autocast, grad_scaler
from warmstart.training.state import TrainState

if TYPE_CHECKING:
    from warmstart.config.schema import TrainSection

# save(state, best): write a checkpoint of the module at state.step - the best weights so far
# (best=True) or a resumable step checkpoint (best=False).
SaveFn = Callable[[TrainState, bool], None]


def _step_of(line: str) -> float:
    """The step of a metrics.jsonl line; inf (dropped on resume) for a blank or torn line. A line is
    torn only by a crash while it was written, which is before the checkpoint of its step, so a
    resume always restarts from an earlier step and drops it anyway."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


class MetricsLog:
    """Append-only metrics.jsonl. On resume, lines past the checkpoint's step are dropped, so the
    log of a resumed run equals the log of an uninterrupted one. `enabled=False` (data-parallel
    ranks other than 0) writes nothing."""

    def __init__(self, path: Path, resume_step: int | None = None, enabled: bool = True):
        self.path, self.enabled = path, enabled
        if enabled and resume_step is not None and path.exists():
            # The test line comes after training: a run killed after writing it rewrites it on resume.
            keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                    if _step_of(ln) <= resume_step and '"split": "test"' not in ln]
            path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


@dataclass
class Training:
    """Everything the loop steps besides the module: built once by workflows.prepare_training."""

    strategy: Any  # strategies.Strategy
    optimizer: torch.optim.Optimizer
    schedule: Any  # optim.schedules: LambdaLR-like with observe()
    batches: Any  # data.loaders.BatchIterator (resumable)
    cfg: Any  # config TrainSection, with batch settings resolved by train_batches
    state: TrainState
    log: MetricsLog
    world: World = field(default_factory=World)  # device, and rank/size under torchrun (batches already sharded)


def _compiled(module: torch.nn.Module, cfg: TrainSection):
    if cfg.dropout_rng == "torch":
        return torch.compile(module)
    use_fast_dropout(module)  # no parameter, buffer or saved config changes: checkpoints are unaffected
    # fallback_random: the hash's two keys per call come from one eager draw; Inductor's own random
    # ops would recompute them inside the kernel for every vector of elements (measured 6x slower).
    return torch.compile(module, options={"fallback_random": True})


def train(module: torch.nn.Module, run: Training, evaluate_val: Callable[[int | None], dict], monitor: Monitor,
          save: SaveFn | None = None, say: Callable[[str], None] = print) -> TrainState:
    """Run optimizer steps from `run.state.step` to `run.cfg.max_steps`.

    evaluate_val(max_batches) returns validation metrics. `save` (None = keep nothing) is called
    with a resumable step checkpoint every save_every steps and at the end, and with the best
    weights whenever the monitored metric improves if monitor.keep_best.
    """
    cfg, state, batches, optimizer, schedule, strategy, log, world = (
        run.cfg, run.state, run.batches, run.optimizer, run.schedule, run.strategy, run.log, run.world)
    device = world.device
    net = data_parallel(module, world)  # DDP under torchrun, `module` itself otherwise
    step_fn = _compiled(net, cfg) if cfg.compile else net  # checkpoints always save `module` itself
    params = [p for g in optimizer.param_groups for p in g["params"]]
    scaler = grad_scaler(cfg.precision, device.type)  # enabled for fp16 only
    if state.scaler:
        scaler.load_state_dict(state.scaler)

    # Fail fast (litgpt's "verifying settings"): a 2-batch evaluation catches shape, vocabulary and
    # label problems before any time is spent training.
    if state.step == 0:
        monitor.value(evaluate_val(2))

    def checkpoint(best: bool) -> None:
        # Every rank's RNG states go into rank 0's checkpoint: a collective, so all ranks take part.
        state.capture_rng(world.gather if world.distributed else None)
        if save is None:
            return
        state.data, state.schedule, state.scaler = batches.state_dict(), schedule.state_dict(), scaler.state_dict()
        save(state, best)

    bar = _progress(cfg, state.step) if world.is_main else None
    epoch = None  # so on_epoch_start also runs once on resume (it is idempotent)
    t_start = time.perf_counter() - state.elapsed_s
    while state.step < cfg.max_steps and not state.stopped_early:
        if batches.next_epoch != epoch:  # the epoch this step's first batch comes from
            epoch = batches.next_epoch
            strategy.on_epoch_start(epoch, optimizer)
        strategy.on_step_start(state.step)
        module.train()
        strategy.train_mode(module)

        # ---- forward/backward over grad_accum micro-batches ----
        # Each micro-batch backpropagates its loss SUM (mean * n_items); after the last one we divide
        # the gradients by the step's total items. This is the exact mean over every counted token or
        # example of the step, however unevenly they fall into micro-batches (padding, MLM masks).
        # Under DDP the gradients are summed across ranks during the last backward (earlier ones run
        # under no_sync) and the item count is summed too, so the mean is over the global step.
        items, loss_sum, finite, grad_norm = 0, torch.zeros((), device=device), True, torch.tensor(0.0)
        for micro in range(cfg.grad_accum):
            final = micro == cfg.grad_accum - 1
            with grad_sync(net, world, final):
                with autocast(cfg.precision, device.type):
                    out = step_fn(next(batches))
                # One process stops at the first bad micro-batch; ranks must all run the same backward
                # passes (their all-reduces pair up), so there a bad loss is caught after the sum below.
                if not world.distributed and not torch.isfinite(out.loss):
                    finite = False
                    break
                scaler.scale(out.loss * out.n_items).backward()
            items += out.n_items
            loss_sum += out.loss.detach().float() * out.n_items
        if world.distributed:
            items, total = world.sum([items, float(loss_sum)])  # one all-reduce per step
            items, loss_sum, finite = int(items), torch.tensor(total), math.isfinite(total)
        if finite and items > 0:
            scaler.unscale_(optimizer)  # fp16 only: gradients back to their true scale before dividing
            for p in params:
                if p.grad is not None:
                    p.grad.div_(items)
            grad_norm = whole(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip or float("inf")))
            # fp16: an overflowing gradient is the GradScaler's to handle (it skips the step and lowers its scale).
            finite = scaler.is_enabled() or bool(torch.isfinite(grad_norm))

        if not finite:
            # Never step on (or checkpoint) non-finite values: either stop with the step number or skip.
            # A skipped step still counts, and still reaches the evaluation and checkpoint below, so a run
            # whose last step is skipped ends with its final evaluation and checkpoint like any other.
            optimizer.zero_grad(set_to_none=True)
            if cfg.nan_policy == "stop":
                raise TrainingError(f"non-finite loss or gradient at step {state.step + 1}; lower optim.lr, "
                                    "use train.precision=fp32, or set train.nan_policy=skip")
            state.skipped_steps += 1
            state.step += 1
            schedule.step()
            if bar:
                bar.update(float("nan"))
        else:
            lrs = [g["lr"] for g in optimizer.param_groups]
            scaler.step(optimizer)  # optimizer.step(), unless fp16 gradients overflowed
            scaler.update()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.items_seen += items
            state.elapsed_s = time.perf_counter() - t_start
            logging = state.step % cfg.log_every == 0 or state.step == cfg.max_steps
            if bar or logging:  # reading the loss waits for the device: only when it is shown
                loss = float(loss_sum) / items
            if bar:
                bar.update(loss)

            if logging:
                log.write({"step": state.step, "split": "train", "loss": loss, "lr": lrs[0],
                           "grad_norm": float(grad_norm), "items": state.items_seen, "epoch": batches.epoch,
                           "elapsed_s": round(state.elapsed_s, 3)})

        # ---- evaluate; keep the best ----
        if state.step % cfg.eval_every == 0 or state.step == cfg.max_steps:
            val = evaluate_val(cfg.eval_batches)
            log.write({"step": state.step, "split": "val", **val, "items": state.items_seen,
                       "elapsed_s": round(state.elapsed_s, 3)})
            value, improved = monitor.observe(val, state)
            schedule.observe(value, monitor.higher)
            if improved and monitor.keep_best:
                checkpoint(best=True)
            if monitor.patience_spent(state) and state.step < cfg.max_steps:
                state.stopped_early = True
                say(f"early stopping at step {state.step}: val {monitor.metric} did not improve by more than "
                    f"{monitor.min_delta} in {state.stale_evals} evaluations "
                    f"(best {state.best_metric:.4g} at step {state.best_step})")
            if bar:
                bar.note(f"val {monitor.metric} {value:.4g}")
            # Evaluation time is not training time: restart the clock where training left off.
            t_start = time.perf_counter() - state.elapsed_s

        # ---- checkpoint ----
        if (cfg.save_every and state.step % cfg.save_every == 0) or state.step == cfg.max_steps or state.stopped_early:
            checkpoint(best=False)
            t_start = time.perf_counter() - state.elapsed_s
    if bar:
        bar.close()
    return state


class _Bar:
    """A one-line progress bar on a terminal (rich); silent when output is not a TTY."""

    def __init__(self, total: int, done: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[info]}"), transient=True)
        self.task = self.progress.add_task("train", total=total, completed=done, info="")
        self.extra = ""
        self.progress.start()

    def update(self, loss: float) -> None:
        info = f"loss {loss:.4g}" if math.isfinite(loss) else "loss nan"
        self.progress.update(self.task, advance=1, info=f"{info} {self.extra}")

    def note(self, text: str) -> None:
        self.extra = text

    def close(self) -> None:
        self.progress.stop()


def _progress(cfg: TrainSection, done: int) -> _Bar | None:
    if not cfg.progress or not sys.stdout.isatty():
        return None
    return _Bar(cfg.max_steps, done)
