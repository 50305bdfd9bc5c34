"""What every training verb shares: where the backbone comes from, and `prepare_training()` -
strategy -> optimizer -> schedule -> batches -> state (fresh or restored for an exact resume)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from warmstart.checkpoint.io import read_json, resolve_checkpoint
from warmstart.checkpoint.run import load_training_state
from warmstart.data.loaders import sequential_batches, train_batches
from warmstart.data.packaged import hf_model_dir
from warmstart.errors import ConfigError
from warmstart.evaluation import evaluate as run_eval
from warmstart.evaluation.metrics import ClassificationMetrics, group_summary
from warmstart.inputs import Examples
from warmstart.models import build_backbone, load_backbone
from warmstart.optim import build_optimizer, build_schedule
from warmstart.runs import run_dir_of
from warmstart.strategies import build_strategy, count_params
from warmstart.training.device import placed
from warmstart.training.distributed import World, checkpoint_activations, shard
from warmstart.training.loop import MetricsLog, Training
from warmstart.training.precision import emulation_warning, resolve
from warmstart.training.state import TrainState

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneConfig, PretrainConfig, Strategy, TrainSection


def backbone_for(cfg: PretrainConfig | FinetuneConfig, run_dir: Path, inputs, fit_on, resume_ckpt: Path | None,
                 say=print):
    """Where the backbone and the inputs' preprocessor (tokenizer or normalizer) come from: a
    resumed checkpoint, `init` (a warmstart run: its weights, or its architecture with fresh
    weights), or fresh (fit the preprocessor on `fit_on`, the training examples; random weights,
    or a local HF model's: one line says what was loaded). Returns (backbone, lineage)."""
    if resume_ckpt is not None:  # the run's own preprocessor and architecture: bit-identical resume
        inputs.load(run_dir)
        backbone, lineage = load_backbone(resume_ckpt, random_init=True), None
    elif cfg.init is not None:
        ckpt = resolve_checkpoint(cfg.init, prefer_best=False)
        random = getattr(cfg, "init_weights", "pretrained") == "random"
        inputs.load(run_dir_of(ckpt))  # the backbone was trained on inputs scaled like this
        backbone = load_backbone(ckpt, random_init=random)
        lineage = {"init": str(cfg.init), "checkpoint": str(ckpt), "init_weights": "random" if random else "pretrained"}
    else:
        if cfg.model.kind == "hf":  # a path, or `minilm`: the installed package's model folder
            path = hf_model_dir(cfg.model.path, "model.path")
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": path})})
        inputs.fit(cfg, fit_on)
        backbone = build_backbone(cfg.model, **inputs.backbone_args())
        if getattr(backbone, "load_summary", None):
            say(backbone.load_summary)
        lineage = {"model": cfg.model.kind, "path": getattr(cfg.model, "path", None)}
    inputs.check(backbone)
    return backbone, lineage


def prepare_training(cfg: PretrainConfig | FinetuneConfig, module, strategy_cfg: Strategy, train_set: Examples,
                     log_dir: Path, resume_ckpt: Path | None = None, say=print, unit: str = "examples",
                     make_schedule=None, train_overrides: dict | None = None,
                     world: World | None = None) -> Training:
    """The strategy (applied to `module`), optimizer, LR schedule, resumable training batches and
    state for a run config, restored from `resume_ckpt` for an exact resume. make_schedule(optimizer)
    replaces the config's schedule and train_overrides the train section's fields (lr_find's sweep).
    `world` (default: one CPU process): `module` moves to its device before the optimizer is built,
    batches land there, and under DDP each rank gets its slice of every batch and only rank 0 logs."""
    world = world or World()
    if world.distributed and strategy_cfg.kind == "gradual_unfreeze":
        raise ConfigError("strategy.kind=gradual_unfreeze is not supported under torchrun yet: DDP fixes the set of "
                          "trained parameters when it wraps the module (use discriminative, or one process)")
    if world.sharded and strategy_cfg.kind in ("lora", "gradual_unfreeze"):
        raise ConfigError(f"strategy.kind={strategy_cfg.kind} is not supported with train.parallel=fsdp (use "
                          "train.parallel=ddp)")
    strategy = build_strategy(strategy_cfg)
    strategy.prepare(module)
    module.to(world.device)  # after the strategy's surgery (LoRA layers), before the optimizer sees the parameters
    if cfg.train.activation_checkpointing:
        checkpoint_activations(module)
    if world.sharded:  # FSDP2: parameters become DTensor shards, so before the optimizer is built
        shard(module, world, cfg.train.precision)
    groups = strategy.param_groups(module, cfg.optim.lr)
    aux = getattr(module, "aux", None)  # a training wrapper's own parts (distillation's projection): head LR
    if aux is not None:
        groups.append({"name": "aux", "params": list(aux.parameters()),
                       "lr": getattr(strategy_cfg, "head_lr", None) or cfg.optim.lr})
    optimizer = build_optimizer(groups, cfg.optim, sharded=world.sharded)
    schedule = (make_schedule(optimizer) if make_schedule
                else build_schedule(optimizer, cfg.schedule, cfg.train.max_steps))
    make_batch = placed(train_set.make_batch, world.device, world.shard if world.distributed else None)
    batches, train_cfg = train_batches(train_set.n, make_batch, cfg.train, cfg.optim, cfg.run.seed)
    if train_overrides:
        train_cfg = train_cfg.model_copy(update=train_overrides)
    if resume_ckpt is None:
        state, log = TrainState(), MetricsLog(log_dir / "metrics.jsonl", resume_step=0, enabled=world.is_main)
    else:
        load_training_state(resume_ckpt, module, optimizer, strategy)
        state = TrainState.from_json(read_json(resume_ckpt / "state.json"))
        schedule.load_state_dict(state.schedule)
        batches.load_state_dict(state.data)
        state.restore_rng(world.rank, world.size)  # each rank its own (DDP)
        say(f"resuming {log_dir} from step {state.step}")
        log = MetricsLog(log_dir / "metrics.jsonl", resume_step=state.step, enabled=world.is_main)
    trainable, total = count_params(module)
    say(f"params: {trainable:,} trained / {total:,} total ({100 * trainable / max(total, 1):.1f}%) | "
        f"{batches.examples_per_step(train_cfg.grad_accum)} {unit}/step | {batches.steps_per_epoch} steps/epoch | "
        f"{train_cfg.max_steps} steps | precision {resolve(train_cfg.precision, world.device.type)} | "
        f"device {world.device}" + (f" x {world.size} processes ({world.parallel.upper()})" if world.distributed
                                    else ""))
    slow = emulation_warning(train_cfg.precision, world.device.type)
    if slow:
        say(slow)
    return Training(strategy, optimizer, schedule, batches, train_cfg, state, log, world)


def ordered_batches(examples: Examples, batch_size: int, max_batches: int | None = None, world: World | None = None):
    """One ordered pass over a split (evaluation), on `world`'s device; under DDP, this rank's slices
    (under FSDP every rank runs every batch whole: a sharded forward needs all ranks)."""
    world = world or World()
    return sequential_batches(examples.n, placed(examples.make_batch, world.device), batch_size, max_batches,
                              shard=world.eval_shard)


def evaluate_on(module, examples: Examples, train_cfg: TrainSection, world: World | None = None,
                max_batches: int | None = None, metrics=None) -> dict[str, float]:
    """Metrics of `module` on a split (first max_batches batches; None = all), reduced over ranks under DDP;
    `metrics`: the accumulator to fill (evaluation.evaluate)."""
    world = world or World()
    return run_eval(module, ordered_batches(examples, train_cfg.batch_size, max_batches, world), train_cfg.precision,
                    sum_over_ranks=world.sum if world.eval_shard else None, metrics=metrics)


def evaluator(module, examples: Examples, train_cfg: TrainSection,
              world: World | None = None) -> Callable[[int | None], dict[str, float]]:
    """evaluate_val(max_batches) for the loop: metrics over the first max_batches batches of a split (None = all)."""
    return lambda max_batches=None: evaluate_on(module, examples, train_cfg, world, max_batches)


def quiet(*_args, **_kwargs) -> None:
    """`say` for data-parallel ranks other than 0: they print nothing."""


def metrics_by_group(module, inputs, records: list[dict], train_cfg: TrainSection, world: World | None = None) -> dict:
    """Per-group metrics of `records` (each has a "group": data.group_field), the bias check.

    Returns {"groups": {group: {"n": examples, **metrics}}, "worst": group, "best": group, "gap": |best -
    worst|} on the task's primary metric (its own direction decides which group is worst). For
    single-label classification, each group also gets "recall" (per class; None where the group has
    no example of it), and the result "recall_gap" (per class: highest minus lowest group recall)
    and "max_recall_gap" (the largest of those): equalized-odds style differences."""
    groups = {}
    for group in sorted({r["group"] for r in records}):
        part = [r for r in records if r["group"] == group]
        acc = module.new_metrics()
        groups[group] = {"n": len(part), **evaluate_on(module, inputs.labeled_set(part, module), train_cfg, world,
                                                       metrics=acc)}
        if isinstance(acc, ClassificationMetrics):
            groups[group]["recall"] = acc.recall_by_class(module.labels)
    return group_summary(groups, module.new_metrics().primary)


def shown(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
