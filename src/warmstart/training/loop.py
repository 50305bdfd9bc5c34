"""train(...): the one training loop, shared by every objective, task and strategy.

In: a module (backbone + head -> StepOutput), a resumable BatchIterator, optimizer, LR schedule,
strategy, the train config and the run directory. Out: the final TrainState; along the way
metrics.jsonl lines, step checkpoints, and (when selecting) the best checkpoint.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from warmstart.checkpoint.run import save_module_checkpoint
from warmstart.errors import ConfigError, TrainingError
from warmstart.training.dropout import use_fast_dropout
from warmstart.training.precision import autocast
from warmstart.training.state import TrainState


class MetricsLog:
    """Append-only metrics.jsonl. On resume, lines past the checkpoint's step are dropped, so the
    log of a resumed run equals the log of an uninterrupted one."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.exists():
            keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["step"] <= resume_step]
            path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def write(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _improved(value: float, best: float | None, higher_is_better: bool) -> bool:
    return best is None or (value > best if higher_is_better else value < best)


LOWER_IS_BETTER = {"loss", "ppl", "mse", "mae", "rmse"}


def _monitor(cfg, probe) -> tuple[str, bool]:
    """(validation metric name, higher is better) that picks the best checkpoint, drives early
    stopping and the plateau schedule: train.monitor, else the task's primary metric."""
    name = cfg.monitor or probe.primary
    if cfg.monitor_mode is not None:
        return name, cfg.monitor_mode == "max"
    if name == probe.primary:
        return name, probe.higher_is_better
    return name, name not in LOWER_IS_BETTER


def _monitored(val: dict, name: str) -> float:
    if name not in val:
        raise ConfigError(f"train.monitor: {name!r} is not a validation metric here (expected one of {sorted(val)})")
    return val[name]


def _compiled(module: torch.nn.Module, cfg):
    if cfg.dropout_rng == "torch":
        return torch.compile(module)
    use_fast_dropout(module)  # no parameter, buffer or saved config changes: checkpoints are unaffected
    # fallback_random: the hash's two keys per call come from one eager draw; Inductor's own random
    # ops would recompute them inside the kernel for every vector of elements (measured 6x slower).
    return torch.compile(module, options={"fallback_random": True})


def train(module: torch.nn.Module, batches, optimizer: torch.optim.Optimizer, schedule, strategy, cfg,
          run_dir: Path, state: TrainState, log: MetricsLog, evaluate_val: Callable[[int | None], dict],
          head_meta: dict, select_best: bool = False, say: Callable[[str], None] = print) -> TrainState:
    """Run optimizer steps from `state.step` to `cfg.max_steps`.

    evaluate_val(max_batches) returns validation metrics; head_meta goes into each checkpoint's
    head.json. With select_best, the checkpoint with the best primary validation metric is kept as
    checkpoints/best.
    """
    probe = module.new_metrics()
    # `primary` is the monitored metric: best checkpoint, early stopping and the plateau schedule.
    primary, higher = _monitor(cfg, probe)
    step_fn = _compiled(module, cfg) if cfg.compile else module  # checkpoints always save `module` itself
    params = [p for g in optimizer.param_groups for p in g["params"]]

    # Fail fast (litgpt's "verifying settings"): a 2-batch evaluation catches shape, vocabulary and
    # label problems before any time is spent training.
    if state.step == 0:
        _monitored(evaluate_val(2), primary)

    def save(name: str, **kw) -> None:
        # A finite loss and gradient can still produce non-finite weights (an LR far too large):
        # such weights are never written, so every checkpoint on disk stays usable.
        if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
            raise TrainingError(f"non-finite weights after step {state.step}; not writing checkpoint {name} "
                                "(lower optim.lr or set train.grad_clip)")
        state.data, state.schedule = batches.state_dict(), schedule.state_dict()
        state.capture_rng()
        save_module_checkpoint(run_dir, name, module, head_meta, **kw)

    bar = _progress(cfg, state.step)
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
        items, loss_sum, finite, grad_norm = 0, 0.0, True, torch.tensor(0.0)
        for _ in range(cfg.grad_accum):
            with autocast(cfg.precision):
                out = step_fn(next(batches))
            if not torch.isfinite(out.loss):
                finite = False
                break
            (out.loss * out.n_items).backward()
            items += out.n_items
            loss_sum += float(out.loss.detach()) * out.n_items
        if finite and items > 0:
            for p in params:
                if p.grad is not None:
                    p.grad.div_(items)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip or float("inf"))
            finite = bool(torch.isfinite(grad_norm))

        if not finite:
            # Never step on (or checkpoint) non-finite values: either stop with the step number or skip.
            optimizer.zero_grad(set_to_none=True)
            if cfg.nan_policy == "stop":
                raise TrainingError(f"non-finite loss or gradient at step {state.step + 1}; lower optim.lr, "
                                    "use train.precision=fp32, or set train.nan_policy=skip")
            state.skipped_steps += 1
            state.step += 1
            schedule.step()
            continue

        lrs = [g["lr"] for g in optimizer.param_groups]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.items_seen += items
        state.elapsed_s = time.perf_counter() - t_start
        loss = loss_sum / items
        if bar:
            bar.update(loss)

        if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
            log.write({"step": state.step, "split": "train", "loss": loss, "lr": lrs[0], "grad_norm": float(grad_norm),
                       "items": state.items_seen, "epoch": batches.epoch, "elapsed_s": round(state.elapsed_s, 3)})

        # ---- evaluate; keep the best ----
        if state.step % cfg.eval_every == 0 or state.step == cfg.max_steps:
            val = evaluate_val(cfg.eval_batches)
            log.write({"step": state.step, "split": "val", **val, "items": state.items_seen,
                       "elapsed_s": round(state.elapsed_s, 3)})
            value, prev_best = _monitored(val, primary), state.best_metric
            schedule.observe(value, higher)
            if _improved(value, prev_best, higher):
                state.best_metric, state.best_step, state.best_elapsed_s = value, state.step, state.elapsed_s
                if select_best:
                    save("best", point_latest=False)
            if cfg.early_stop_patience:
                # Early stopping counts evaluations since the last improvement larger than min_delta.
                gain = math.inf if prev_best is None else (value - prev_best if higher else prev_best - value)
                state.stale_evals = 0 if gain > cfg.early_stop_min_delta else state.stale_evals + 1
                if state.stale_evals >= cfg.early_stop_patience and state.step < cfg.max_steps:
                    state.stopped_early = True
                    say(f"early stopping at step {state.step}: val {primary} did not improve by more than "
                        f"{cfg.early_stop_min_delta} in {state.stale_evals} evaluations (best {state.best_metric:.4g} at step {state.best_step})")
            if bar:
                bar.note(f"val {primary} {value:.4g}")
            # Evaluation time is not training time: restart the clock where training left off.
            t_start = time.perf_counter() - state.elapsed_s

        # ---- checkpoint ----
        if (cfg.save_every and state.step % cfg.save_every == 0) or state.step == cfg.max_steps or state.stopped_early:
            save(f"step_{state.step:06d}", optimizer=optimizer, state=state, keep=cfg.keep_checkpoints)
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


def _progress(cfg, done: int) -> _Bar | None:
    if not cfg.progress or not sys.stdout.isatty():
        return None
    return _Bar(cfg.max_steps, done)
