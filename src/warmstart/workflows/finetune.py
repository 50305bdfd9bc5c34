"""finetune: a task head (and, per strategy, the backbone) trained on labeled data; the forgetting
check (how much of the pretraining objective fine-tuning undid); a finished run's module."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.checkpoint.run import RunCheckpoints, load_module_weights
from warmstart.config.schema import WORD_VECTOR_KINDS, FinetuneConfig
from warmstart.data.splits import check_classes, check_targets
from warmstart.evaluation import evaluate as run_eval
from warmstart.inputs import open_inputs
from warmstart.models import load_backbone
from warmstart.runs import load_run_config, open_run_dir, run_dir_of, set_threads, split_warning, write_config
from warmstart.strategies import Strategy, build_strategy, count_params
from warmstart.tasks import build_task, head_info
from warmstart.training.distributed import World, joined
from warmstart.training.loop import train
from warmstart.training.monitor import Monitor
from warmstart.workflows.common import (
    backbone_for,
    evaluate_on,
    evaluator,
    metrics_by_group,
    ordered_batches,
    prepare_training,
    quiet,
)
from warmstart.workflows.features import cached_sets, feature_cache_dir
from warmstart.workflows.pretrain import pretrain_objective


def load_finetuned(cfg: FinetuneConfig, ckpt: Path) -> tuple[torch.nn.Module, Strategy]:
    """The task module of a fine-tuning checkpoint, rebuilt exactly as trained (the strategy's
    changes, e.g. LoRA layers, applied so its weights load), and the strategy."""
    info = read_json(ckpt / "head.json")
    module = build_task(cfg.task, load_backbone(ckpt, random_init=True), {k: v for k, v in info.items() if k != "task"})
    strategy = build_strategy(cfg.strategy)
    strategy.prepare(module)
    load_module_weights(ckpt, module, strategy)
    return module, strategy


def prepare_finetune(cfg: FinetuneConfig, run_dir: Path | None = None, resume_ckpt: Path | None = None,
                     module: torch.nn.Module | None = None, say=print):
    """Data, inputs and module for a fine-tune config (shared by finetune, evaluate and lr_find).
    With `module` (a finished run's, from inference.finetuned_module), that module and the run's
    saved preprocessor (evaluate). Returns (splits, inputs, module, lineage)."""
    inputs = open_inputs(cfg.data)
    is_cls = cfg.task.kind == "classification"
    # Stratified by label: classification, and data that says its records have classes (demo_instructions).
    stratify = is_cls or getattr(cfg.data, "stratify", False)
    records, splits = inputs.read_labeled(cfg.run.seed, stratify=stratify)
    if module is not None:  # evaluate: exactly what was trained
        inputs.load(run_dir)
        return splits, inputs, module, None
    source = getattr(cfg.data, "path", None) or f"data.kind={cfg.data.kind}"
    if is_cls and not cfg.task.multilabel:  # one class "trains" to a perfect, meaningless score
        warning = check_classes(splits, source)
        if warning:
            say(warning)
    elif cfg.task.kind == "regression":
        check_targets(records, source)
    if cfg.init is not None and resume_ckpt is None:
        warning = split_warning(cfg.init, cfg.data, stratify=stratify)
        if warning:
            say(warning)
    backbone, lineage = backbone_for(cfg, run_dir, inputs, splits.train, resume_ckpt, say)
    # Classification labels and tag sets come from all records (the class set is known up front);
    # regression statistics from the training split only.
    info = read_json(resume_ckpt / "head.json") if resume_ckpt else head_info(cfg.task, splits.train, records, cfg.data)
    module = build_task(cfg.task, backbone, {k: v for k, v in info.items() if k != "task"})
    return splits, inputs, module, lineage


def finetune(cfg: FinetuneConfig, resume: bool = False, overwrite: bool = False, say=print) -> dict:
    """Fine-tune a task head (and, per strategy, the backbone); returns result.json's contents."""
    with joined(cfg.train) as world:  # the device; under torchrun, this process's rank (DDP)
        return _finetune(cfg, resume, overwrite, say if world.is_main else quiet, world)


def _finetune(cfg: FinetuneConfig, resume: bool, overwrite: bool, say, world: World, distill=None) -> dict:
    """The fine-tune of `cfg`; with `distill` (workflows.distill.DistillPlan) the module trains on the
    teacher's outputs too, through the same loop, checkpoints and evaluation (the run stays a fine-tune)."""
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite, world, say)
    if resume_ckpt is not None and (run_dir / "result.json").exists():
        return read_json(run_dir / "result.json")  # already complete
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    # Every rank prepares the same data, inputs and module (deterministic); only rank 0 writes files.
    splits, inputs, module, lineage = prepare_finetune(cfg, run_dir, resume_ckpt, say=say)
    if distill is not None:  # the teacher fits the student's labels; a student built fresh takes its inputs
        distill.adopt(inputs, module, fresh=resume_ckpt is None)
        lineage = {**(lineage or {}), **distill.lineage()}
    if world.is_main:
        inputs.save(run_dir)
        write_config(run_dir, cfg, "finetune", lineage)
    val_set = inputs.labeled_set(splits.val, module)
    test_set = inputs.labeled_set(splits.test, module)
    say(f"data: {len(splits.train):,} train (of a {splits.n_pool:,} pool) / {len(splits.val):,} val / "
        f"{len(splits.test):,} test")
    # What the loop trains: the task module, or the distillation wrapper around it (its training
    # set adds the unlabeled transfer examples and the teacher's outputs). Validation, the best
    # weights and the test score are always the task module's own. Only the training split is
    # augmented; val and test batches are deterministic.
    if distill is None:
        train_set, trained = inputs.labeled_set(splits.train, module, train=True), module
    else:
        train_set, trained = distill.training(splits, inputs, module, world, say)
    # A frozen backbone in eval mode (linear_probe) is a fixed function of the inputs: compute its
    # pooled features once per split (or read them from the cache compare cells share) and let the
    # loop train the head on them. Checkpoints still hold the backbone: evaluate/predict/export as usual.
    feature_cache = feature_cache_dir(cfg, inputs, world, say) if distill is None else None
    if feature_cache is not None:
        if resume_ckpt is not None:  # features of the checkpoint's backbone, not of the random-init one built
            load_module_weights(resume_ckpt, module)  # for a resume (prepare_training loads the weights later)
        sets, feature_cache_use = cached_sets(module, {"train": train_set, "val": val_set, "test": test_set},
                                              cfg.train, feature_cache, world, say)
        train_set, val_set, test_set = sets["train"], sets["val"], sets["test"]

    run = prepare_training(cfg, trained, cfg.strategy, train_set, run_dir, resume_ckpt, say, world=world)
    evaluate_val = evaluator(module, val_set, cfg.train, world)

    save = RunCheckpoints(run_dir, trained, {"task": cfg.task.kind, **module.info()}, run.strategy, run.optimizer,
                          keep=run.cfg.keep_checkpoints, world=world)
    monitor = Monitor.from_config(run.cfg, module.new_metrics().primary, keep_best=cfg.train.select_best)
    # A task may fit a decision rule on the validation set while it trains (extractive QA's no-answer
    # threshold). The rule lives in the head, so checkpoints carry it; the evaluations after training
    # only read it (the test split is scored with what the selected checkpoint holds).
    fit_on_val = getattr(module, "fit_on_val", None)
    state = train(trained, run, fit_on_val(evaluate_val) if fit_on_val else evaluate_val, monitor, save, say=say)
    world.barrier()  # rank 0 has written checkpoints/best before any rank reads it

    # Test once, with the best validation weights when selecting (the final ones otherwise).
    if cfg.train.select_best and (run_dir / "checkpoints" / "best").exists():
        load_module_weights(run_dir / "checkpoints" / "best", module, run.strategy)
    best_val = evaluate_val(None)
    test = evaluate_on(module, test_set, cfg.train, world)
    run.log.write({"step": state.step, "split": "test", **test, "elapsed_s": round(state.elapsed_s, 3)})
    trainable, total = count_params(module)
    result = {
        "test": test, "best_val": best_val, "best_step": state.best_step, "steps": state.step,
        "train_seconds": round(state.elapsed_s, 3), "seconds_to_best": round(state.best_elapsed_s or 0.0, 3),
        "params_trained": trainable, "params_total": total, "items_seen": state.items_seen,
        "n_labels": len(splits.train), "n_pool": splits.n_pool, "skipped_steps": state.skipped_steps,
        "stopped_early": state.stopped_early, "device": str(world.device), "world_size": world.size,
    }
    if feature_cache is not None:
        result["feature_cache"] = {"dir": str(feature_cache), **feature_cache_use}
    if getattr(cfg.data, "grouped", False):  # the bias check: every test metric per group
        result["test_by_group"] = g = metrics_by_group(module, inputs, splits.test, cfg.train, world)
        say(f"test {g['metric']} by group: worst {g['worst']} {g['groups'][g['worst']][g['metric']]:.4f}, "
            f"best {g['best']} {g['groups'][g['best']][g['metric']]:.4f} (gap {g['gap']:.4f})")
    if distill is not None:
        result["distill"] = distill.result(splits, world)
    # Rank 0 alone reads the backbone's weights: not under FSDP, where they are shards on every rank.
    forgetting = forgetting_check(cfg, module, run.strategy, say) if world.is_main and not world.sharded else None
    if forgetting is not None:
        result["forgetting"] = forgetting
    if world.is_main:
        write_json_atomic(run_dir / "result.json", result)
    primary = module.new_metrics().primary
    say(f"finetune done: test {primary} {test[primary]:.4f} (best val {best_val[primary]:.4f} at step "
        f"{state.best_step}) -> {run_dir}")
    return result


def forgetting_check(cfg: FinetuneConfig, module, strategy: Strategy | None = None, say=print) -> dict | None:
    """How much of the pretraining objective fine-tuning undid: the pretraining run's objective on
    its validation data (capped at its eval_batches), with the backbone it handed over (before)
    and with the fine-tuned backbone (after; a strategy's extra state, e.g. LoRA adapters, merged
    in). Only for runs started from a pretraining run's weights; None otherwise, or when the
    fine-tuned backbone no longer fits the objective."""
    if cfg.init is None or cfg.init_weights != "pretrained":
        return None
    ckpt = resolve_checkpoint(cfg.init, prefer_best=False)
    pre_dir = run_dir_of(ckpt)
    if not (pre_dir / "config.json").is_file():
        return None
    verb, pre_cfg = load_run_config(pre_dir)
    if verb != "pretrain" or pre_cfg.objective.kind in WORD_VECTOR_KINDS:  # word vectors have no val loss
        return None
    objective, val_set = pretrain_objective(pre_cfg, pre_dir, ckpt)
    here = World(device=next(module.parameters()).device)  # where the fine-tuned module is
    objective.to(here.device)

    def val_loss() -> dict[str, float]:
        batches = ordered_batches(val_set, pre_cfg.train.batch_size, pre_cfg.train.eval_batches, here)
        return run_eval(objective, batches, cfg.train.precision)

    before = val_loss()
    fine = module.backbone
    if strategy is not None and strategy.fixed_backbone():
        after = before  # frozen and in eval mode all run (linear_probe): the backbone is unchanged
    else:
        if strategy is not None and strategy.split_state(fine)[1]:  # what fine-tuning produced: base + extra merged
            fine = strategy.merge(copy.deepcopy(fine))
        try:
            objective.backbone.load_state_dict(fine.state_dict())
        except RuntimeError as e:  # e.g. a strategy changed the backbone's structure
            say("forgetting check skipped: the fine-tuned backbone does not load into the pretraining objective "
                f"({str(e).splitlines()[0]})")
            return None
        after = val_loss()
    say(f"forgetting check ({pre_cfg.objective.kind} val loss): {before['loss']:.4f} before, "
        f"{after['loss']:.4f} after fine-tuning")
    return {"objective": pre_cfg.objective.kind, "pretrain_run": str(pre_dir), "checkpoint": str(ckpt),
            "val_loss_before": before["loss"], "val_loss_after": after["loss"], "before": before, "after": after}
