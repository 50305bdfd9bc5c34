"""lr_find: the LR range test - a short training run with the LR growing geometrically, nothing kept but the log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from warmstart.checkpoint.io import write_json_atomic
from warmstart.config.schema import FinetuneConfig, FullStrategy, PretrainConfig
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs
from warmstart.objectives import build_objective
from warmstart.runs import set_threads
from warmstart.training.device import configure, resolve_device
from warmstart.training.distributed import World
from warmstart.training.loop import train
from warmstart.training.monitor import Monitor
from warmstart.workflows.common import backbone_for, evaluator, prepare_training
from warmstart.workflows.finetune import prepare_finetune


def lr_find(cfg: FinetuneConfig | PretrainConfig, min_lr: float = 1e-6, max_lr: float = 1.0, n_steps: int = 100,
            out: str | Path | None = None, say=print) -> dict:
    """LR range test for a pretrain or finetune config: n_steps of training through the one loop
    with the LR growing geometrically from min_lr to max_lr. Writes lr_find.json (lrs, losses,
    suggestion) and lr_find.png into `out` (default <out_dir>/<name>-lr-find) and returns the JSON."""
    from warmstart.training.lr_find import plot_lr_find, suggest_lr, sweep_lrs, sweep_schedule

    if not 0 < min_lr < max_lr:
        raise ConfigError(f"--min-lr {min_lr} / --max-lr {max_lr}: expected 0 < min-lr < max-lr")
    if n_steps < 5:
        raise ConfigError(f"--steps {n_steps}: expected at least 5")
    world = World(device=resolve_device(cfg.train.device))  # one process, on the recipe's train.device
    configure(world.device)
    out = Path(out) if out else Path(cfg.run.out_dir) / f"{cfg.run.name}-lr-find"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)
    if isinstance(cfg, PretrainConfig):
        inputs = open_inputs(cfg.data)
        pool = inputs.read_pretrain(cfg.run.seed)
        backbone, _ = backbone_for(cfg, out, inputs, pool if inputs.modality == "text" else pool.train, None, say)
        train_set, val_set = inputs.pretrain_sets(pool, cfg, say)
        module, strategy_cfg = build_objective(cfg.objective, backbone, inputs.objective_info(pool)), FullStrategy()
    else:
        splits, inputs, module, _ = prepare_finetune(cfg, out, say=say)
        train_set, val_set = (inputs.labeled_set(splits.train, module, train=True),
                              inputs.labeled_set(splits.val, module))
        strategy_cfg = cfg.strategy
    # The sweep is a short training run: every step logged, non-finite steps skipped (divergence is
    # expected at the top of the range), one validation batch at the end, no checkpoints.
    sweep = {"max_steps": n_steps, "log_every": 1, "eval_every": n_steps, "eval_batches": 1, "save_every": None,
             "nan_policy": "skip", "progress": False, "early_stop_patience": None, "monitor": None}
    run = prepare_training(cfg, module, strategy_cfg, train_set, out, None, say,
                           make_schedule=lambda opt: sweep_schedule(opt, cfg.optim.lr, min_lr, max_lr, n_steps),
                           train_overrides=sweep, world=world)
    train(module, run, evaluator(module, val_set, cfg.train, world),
          Monitor.from_config(run.cfg, module.new_metrics().primary), save=None, say=say)
    lrs = sweep_lrs(min_lr, max_lr, n_steps)
    by_step = {r["step"]: r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
               if r["split"] == "train"}
    losses = [by_step.get(i + 1, float("nan")) for i in range(n_steps)]  # skipped (non-finite) steps are NaN
    suggested = suggest_lr(lrs, losses)
    plot_lr_find(out / "lr_find.png", lrs, losses, suggested)
    result = {"lrs": lrs, "losses": [x if x == x else None for x in losses], "suggested_lr": suggested,
              "plot": str(out / "lr_find.png")}
    write_json_atomic(out / "lr_find.json", result)
    say(f"lr-find: suggested optim.lr {suggested:.3g}" if suggested
        else "lr-find: no suggestion (loss never decreased)")
    say(f"lr-find: plot {out / 'lr_find.png'}")
    return result
