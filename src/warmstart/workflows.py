"""The lifecycle verbs as library functions: pretrain, finetune, evaluate, predict, export.

Each reads top to bottom like a script, one concept module per line; the CLI is a thin wrapper.
Text, images and feature vectors take the same path: `inputs.open_inputs(cfg.data)` picks the
modality's Inputs object (tokenizer or normalizer, and batch makers), and everything after it -
backbone, objective or task, strategy, loop, checkpoints - does not care which it was.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.checkpoint.run import load_module_weights, load_optimizer
from warmstart.config.schema import WORD_VECTOR_KINDS, FinetuneConfig, FullStrategy, PretrainConfig
from warmstart.data.loaders import sequential_batches, train_batches
from warmstart.errors import ConfigError, DataError
from warmstart.evaluation import evaluate as run_eval
from warmstart.inputs import Examples, open_inputs
from warmstart.models import build_backbone, load_backbone
from warmstart.objectives import build_objective
from warmstart.optim import build_optimizer, build_schedule
from warmstart.runs import load_run_config, open_run_dir, run_dir_of, set_threads, write_config
from warmstart.strategies import build_strategy, count_params
from warmstart.strategies.lora import lora_layers, merge_lora
from warmstart.tasks import build_task, head_info
from warmstart.training.loop import MetricsLog, train
from warmstart.training.state import TrainState


def _backbone(cfg, run_dir: Path, inputs, fit_on, resume_ckpt: Path | None):
    """Where the backbone and the inputs' preprocessor (tokenizer or normalizer) come from: a
    resumed checkpoint, `init` (a warmstart run: its weights, or its architecture with fresh
    weights), or fresh (fit the preprocessor on `fit_on`, the training examples; random weights).
    Returns (backbone, lineage)."""
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
        inputs.fit(cfg, fit_on)
        backbone = build_backbone(cfg.model, **inputs.backbone_args())
        lineage = {"model": cfg.model.kind, "path": getattr(cfg.model, "path", None)}
    inputs.check(backbone)
    return backbone, lineage


def _start(run_dir: Path, module, optimizer, schedule, batches, resume_ckpt: Path | None, say) -> tuple[TrainState, MetricsLog]:
    """Fresh state, or everything restored from the checkpoint for an exact resume."""
    if resume_ckpt is None:
        return TrainState(), MetricsLog(run_dir / "metrics.jsonl", resume_step=0)
    load_module_weights(resume_ckpt, module)
    load_optimizer(resume_ckpt, optimizer)
    state = TrainState.from_json(read_json(resume_ckpt / "state.json"))
    schedule.load_state_dict(state.schedule)
    batches.load_state_dict(state.data)
    state.restore_rng()
    say(f"resuming {run_dir} from step {state.step}")
    return state, MetricsLog(run_dir / "metrics.jsonl", resume_step=state.step)


def _describe(say, module, batches, cfg, unit: str) -> None:
    trainable, total = count_params(module)
    say(f"params: {trainable:,} trained / {total:,} total ({100 * trainable / max(total, 1):.1f}%) | "
        f"{batches.examples_per_step(cfg.grad_accum)} {unit}/step | {batches.steps_per_epoch} steps/epoch | "
        f"{cfg.max_steps} steps | precision {cfg.precision}")


def _batches(examples: Examples, batch_size: int, max_batches: int | None = None):
    """One ordered pass over a split (evaluation)."""
    return sequential_batches(examples.n, examples.make_batch, batch_size, max_batches)


def _evaluator(module, examples: Examples, train_cfg) -> Callable[[int | None], dict[str, float]]:
    """evaluate_val(max_batches) for the loop: metrics over the first max_batches batches of a split (None = all)."""
    return lambda max_batches=None: run_eval(module, _batches(examples, train_cfg.batch_size, max_batches), train_cfg.precision)


def _shown(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())


# ------------------------------------------------------------------------------------- pretrain


def pretrain(cfg: PretrainConfig, resume: bool = False, overwrite: bool = False, say=print) -> Path:
    """Pretrain a backbone with a self-supervised (or source-supervised) objective; returns the run dir."""
    if cfg.objective.kind in WORD_VECTOR_KINDS:  # gensim / GloVe fit the vectors themselves, outside the loop
        from warmstart.wordvec.pretrain import pretrain as pretrain_word_vectors

        return pretrain_word_vectors(cfg, resume, overwrite, say)
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite)
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    # Inputs: text documents, or the training pool of an image/vector set (its val split is held
    # out for the validation loss; its test split is never read), plus the preprocessor for them.
    inputs = open_inputs(cfg.data)
    pool = inputs.read_pretrain(cfg.run.seed)
    backbone, lineage = _backbone(cfg, run_dir, inputs, pool if inputs.modality == "text" else pool.train, resume_ckpt)
    inputs.save(run_dir)
    write_config(run_dir, cfg, "pretrain", lineage)
    train_set, val_set = inputs.pretrain_sets(pool, cfg, say)

    module = build_objective(cfg.objective, backbone, inputs.objective_info(pool))
    strategy = build_strategy(FullStrategy())
    optimizer = build_optimizer(strategy.param_groups(module, cfg.optim.lr), cfg.optim)
    schedule = build_schedule(optimizer, cfg.schedule, cfg.train.max_steps)
    batches, train_cfg = train_batches(train_set.n, train_set.make_batch, cfg.train, cfg.optim, cfg.run.seed)
    state, log = _start(run_dir, module, optimizer, schedule, batches, resume_ckpt, say)
    _describe(say, module, batches, train_cfg, "blocks" if inputs.modality == "text" else "examples")

    evaluate_val = _evaluator(module, val_set, cfg.train)

    # The objective head's facts (e.g. the supervised objective's source labels) go with each checkpoint.
    head_meta = {"objective": cfg.objective.kind, **(module.info() if hasattr(module, "info") else {})}
    state = train(module, batches, optimizer, schedule, strategy, train_cfg, run_dir, state, log, evaluate_val, head_meta, say=say)
    final = evaluate_val(None)
    result = {"val": final, "steps": state.step, "train_seconds": state.elapsed_s, "items_seen": state.items_seen,
              "tokens_per_s": state.items_seen / max(state.elapsed_s, 1e-9) if cfg.objective.kind == "causal_lm" else None}
    write_json_atomic(run_dir / "result.json", result)
    say(f"pretrain done: val {_shown(final)} after {state.step} steps, {state.elapsed_s:.1f}s -> {run_dir}")
    return run_dir


# ------------------------------------------------------------------------------------- finetune


def prepare_finetune(cfg: FinetuneConfig, run_dir: Path | None = None, resume_ckpt: Path | None = None,
                     ckpt_for_weights: Path | None = None):
    """Data, inputs and module for a fine-tune config (shared by finetune and evaluate).
    Returns (splits, inputs, module, lineage)."""
    inputs = open_inputs(cfg.data)
    is_cls = cfg.task.kind == "classification"
    records, splits = inputs.read_labeled(cfg.run.seed, stratify=is_cls)
    if ckpt_for_weights is not None:  # evaluate: rebuild exactly what was trained
        inputs.load(run_dir)
        backbone, lineage = load_backbone(ckpt_for_weights, random_init=True), None
        info = read_json(ckpt_for_weights / "head.json")
    else:
        backbone, lineage = _backbone(cfg, run_dir, inputs, splits.train, resume_ckpt)
        # Classification labels come from all records (the class set is known up front); regression
        # statistics from the training split only.
        info = read_json(resume_ckpt / "head.json") if resume_ckpt else head_info(cfg.task, splits.train, records)
    module = build_task(cfg.task, backbone, {k: v for k, v in info.items() if k != "task"})
    if ckpt_for_weights is not None:
        build_strategy(cfg.strategy).prepare(module)  # e.g. LoRA layers, so the adapters load
        load_module_weights(ckpt_for_weights, module)
    return splits, inputs, module, lineage


def finetune(cfg: FinetuneConfig, resume: bool = False, overwrite: bool = False, say=print) -> dict:
    """Fine-tune a task head (and, per strategy, the backbone); returns result.json's contents."""
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite)
    if resume_ckpt is not None and (run_dir / "result.json").exists():
        return read_json(run_dir / "result.json")  # already complete
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    splits, inputs, module, lineage = prepare_finetune(cfg, run_dir, resume_ckpt)
    inputs.save(run_dir)
    write_config(run_dir, cfg, "finetune", lineage)
    # Only the training split is augmented; val and test batches are deterministic.
    train_set = inputs.labeled_set(splits.train, module, train=True)
    val_set = inputs.labeled_set(splits.val, module)
    test_set = inputs.labeled_set(splits.test, module)
    say(f"data: {len(splits.train):,} train (of a {splits.n_pool:,} pool) / {len(splits.val):,} val / {len(splits.test):,} test")

    strategy = build_strategy(cfg.strategy)
    strategy.prepare(module)
    optimizer = build_optimizer(strategy.param_groups(module, cfg.optim.lr), cfg.optim)
    schedule = build_schedule(optimizer, cfg.schedule, cfg.train.max_steps)
    batches, train_cfg = train_batches(train_set.n, train_set.make_batch, cfg.train, cfg.optim, cfg.run.seed)
    state, log = _start(run_dir, module, optimizer, schedule, batches, resume_ckpt, say)
    _describe(say, module, batches, train_cfg, "examples")

    evaluate_val = _evaluator(module, val_set, cfg.train)

    head_meta = {"task": cfg.task.kind, **module.info()}
    state = train(module, batches, optimizer, schedule, strategy, train_cfg, run_dir, state, log, evaluate_val,
                  head_meta, select_best=cfg.train.select_best, say=say)

    # Test once, with the best validation weights when selecting (the final ones otherwise).
    if cfg.train.select_best and (run_dir / "checkpoints" / "best").exists():
        load_module_weights(run_dir / "checkpoints" / "best", module)
    best_val = evaluate_val(None)
    test = run_eval(module, _batches(test_set, cfg.train.batch_size), cfg.train.precision)
    log.write({"step": state.step, "split": "test", **test, "elapsed_s": round(state.elapsed_s, 3)})
    trainable, total = count_params(module)
    result = {
        "test": test, "best_val": best_val, "best_step": state.best_step, "steps": state.step,
        "train_seconds": round(state.elapsed_s, 3), "seconds_to_best": round(state.best_elapsed_s or 0.0, 3),
        "params_trained": trainable, "params_total": total, "items_seen": state.items_seen,
        "n_labels": len(splits.train), "n_pool": splits.n_pool, "skipped_steps": state.skipped_steps,
        "stopped_early": state.stopped_early,
    }
    forgetting = forgetting_check(cfg, module, say)
    if forgetting is not None:
        result["forgetting"] = forgetting
    write_json_atomic(run_dir / "result.json", result)
    primary = module.new_metrics().primary
    say(f"finetune done: test {primary} {test[primary]:.4f} (best val {best_val[primary]:.4f} at step {state.best_step}) -> {run_dir}")
    return result


def _pretrain_objective(pre_cfg: PretrainConfig, pre_dir: Path, ckpt: Path):
    """A pretraining run's objective module with checkpoint `ckpt`'s weights, and its validation set."""
    inputs = open_inputs(pre_cfg.data)
    pool = inputs.read_pretrain(pre_cfg.run.seed)
    inputs.load(pre_dir)
    module = build_objective(pre_cfg.objective, load_backbone(ckpt), inputs.objective_info(pool))
    load_module_weights(ckpt, module)
    _, val_set = inputs.pretrain_sets(pool, pre_cfg, lambda *_: None)
    return module, val_set


def forgetting_check(cfg: FinetuneConfig, module, say=print) -> dict | None:
    """How much of the pretraining objective fine-tuning undid: the pretraining run's objective on
    its validation data (capped at its eval_batches), with the backbone it handed over (before)
    and with the fine-tuned backbone (after). Only for runs started from a pretraining run's
    weights; None otherwise, or when the fine-tuned backbone no longer fits the objective."""
    if cfg.init is None or cfg.init_weights != "pretrained":
        return None
    ckpt = resolve_checkpoint(cfg.init, prefer_best=False)
    pre_dir = run_dir_of(ckpt)
    if not (pre_dir / "config.json").is_file():
        return None
    verb, pre_cfg = load_run_config(pre_dir)
    if verb != "pretrain" or pre_cfg.objective.kind in WORD_VECTOR_KINDS:  # word vectors have no val loss
        return None
    objective, val_set = _pretrain_objective(pre_cfg, pre_dir, ckpt)

    def val_loss() -> dict[str, float]:
        batches = _batches(val_set, pre_cfg.train.batch_size, pre_cfg.train.eval_batches)
        return run_eval(objective, batches, cfg.train.precision)

    before = val_loss()
    fine = module.backbone
    if lora_layers(fine):  # LoRA: what fine-tuning produced is the base with the adapters merged in
        fine = merge_lora(copy.deepcopy(fine))
    try:
        objective.backbone.load_state_dict(fine.state_dict())
    except RuntimeError as e:  # e.g. a strategy changed the backbone's structure
        say(f"forgetting check skipped: the fine-tuned backbone does not load into the pretraining objective ({str(e).splitlines()[0]})")
        return None
    after = val_loss()
    say(f"forgetting check ({pre_cfg.objective.kind} val loss): {before['loss']:.4f} before, {after['loss']:.4f} after fine-tuning")
    return {"objective": pre_cfg.objective.kind, "pretrain_run": str(pre_dir), "checkpoint": str(ckpt),
            "val_loss_before": before["loss"], "val_loss_after": after["loss"], "before": before, "after": after}


# ------------------------------------------------------------------------- evaluate / predict


def evaluate(run_dir: str | Path, split: str = "test") -> dict[str, float]:
    """Re-evaluate a finished run on a split (fine-tune: val/test/train; pretrain: val)."""
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb == "pretrain" and cfg.objective.kind in WORD_VECTOR_KINDS:
        from warmstart.wordvec.pretrain import evaluate_run

        if split != "val":
            raise ConfigError(f"--split {split}: word vectors are scored on WordSim353, SimLex-999 and analogies, not on a split")
        return evaluate_run(run_dir, cfg.objective.analogy_vocab)
    ckpt = resolve_checkpoint(run_dir)
    set_threads(cfg.train.num_threads)
    if verb == "pretrain":
        if split != "val":
            raise ConfigError(f"--split {split}: a pretraining run has only a 'val' split")
        module, val_set = _pretrain_objective(cfg, run_dir, ckpt)
        return run_eval(module, _batches(val_set, cfg.train.batch_size), cfg.train.precision)
    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split {split}: expected one of train, val, test")
    splits, inputs, module, _ = prepare_finetune(cfg, run_dir, ckpt_for_weights=ckpt)
    examples = inputs.labeled_set(getattr(splits, split), module)
    return run_eval(module, _batches(examples, cfg.train.batch_size), cfg.train.precision)


def load_predictor(run_dir: str | Path):
    """(module, inputs, cfg) of a fine-tuned run, ready for inference."""
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune":
        raise ConfigError(f"{run_dir}: predict needs a fine-tuning run (this one is a {verb} run)")
    ckpt = resolve_checkpoint(run_dir)
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    info = read_json(ckpt / "head.json")
    module = build_task(cfg.task, load_backbone(ckpt, random_init=True), {k: v for k, v in info.items() if k != "task"})
    build_strategy(cfg.strategy).prepare(module)
    load_module_weights(ckpt, module)
    module.eval()
    return module, inputs, cfg


@torch.no_grad()
def predict(run_dir: str | Path, items, batch_size: int = 64) -> list[dict]:
    """Predictions for raw inputs: {"label"} (+ "probs" per class) or {"value"} for regression.

    `items`: a list of texts (text runs), an array (N, C, H, W) of images scaled to [0, 1] (image
    runs), or an array (N, F) of raw features (vector runs); `predict_file` reads them from disk.
    """
    module, inputs, cfg = load_predictor(run_dir)
    examples = inputs.predict_set(items)
    out = []
    for batch in _batches(examples, batch_size):
        z = module.head(_pooled(module, batch))
        if getattr(cfg.task, "multilabel", False):  # a sigmoid per label; predicted when p > 0.5
            for row in z.float().sigmoid():
                out.append({"labels": [module.labels[i] for i in (row > 0.5).nonzero().flatten().tolist()],
                            "probs": {str(lab): round(float(p), 5) for lab, p in zip(module.labels, row)}})
        elif cfg.task.kind == "classification":
            probs = z.float().softmax(-1)
            for row in probs:
                out.append({"label": module.labels[int(row.argmax())],
                            "probs": {str(lab): round(float(p), 5) for lab, p in zip(module.labels, row)}})
        else:
            for v in (z.squeeze(-1).float() * module.std + module.mean).tolist():
                out.append({"value": v})
    return out


def predict_file(run_dir: str | Path, path: str | Path) -> list[dict]:
    """Predictions for a file in the run's modality: a text file (one text per line), an image
    file, a folder of images or an .npz (image runs), a CSV with the feature columns (vector runs).
    Each result carries the "input" it belongs to (the text, file name, or file:line)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input file not found")
    _, cfg = load_run_config(Path(run_dir))
    inputs = open_inputs(cfg.data)
    inputs.load(Path(run_dir))
    names, items = inputs.read_predict_file(path)
    if len(names) == 0:
        raise DataError(f"{path}: nothing to predict")
    return [{"input": name, **pred} for name, pred in zip(names, predict(run_dir, items))]


def run_modality(run_dir: str | Path) -> str:
    """"text", "image" or "vector": what a run's data is."""
    return load_run_config(Path(run_dir))[1].data.modality


def _pooled(module, batch):
    from warmstart.heads import pool

    return pool(module.backbone(batch), module.pooling)


# ------------------------------------------------------------------------------------- export


WORD_VECTOR_FORMATS = ("word2vec", "word2vec-binary", "safetensors")


def merged_lora_backbone(ckpt: Path, backbone, lora_cfg):
    """The backbone of a LoRA checkpoint with its adapters merged into the base weights: plain
    module structure and names, the same outputs as the unmerged model."""
    from warmstart.checkpoint.io import load_tensors
    from warmstart.strategies.lora import attach_lora, join_state, merge_lora

    attach_lora(backbone, lora_cfg)
    backbone.load_state_dict(join_state(backbone, load_tensors(ckpt, "backbone"), load_tensors(ckpt, "adapter")))
    merge_lora(backbone)
    return backbone.requires_grad_(True)


def export(run_dir: str | Path, fmt: str = "hf", out: str | Path | None = None) -> Path:
    """Write an HF-format directory (config.json, model.safetensors, tokenizer or transforms.json)
    that transformers.AutoModel loads offline; the warmstart head rides along. Backbones that
    wrap a transformers model (transformer, hf, vit) only: a resnet or mlp has no HF format.
    Word vectors (a word-vector run, or any run whose backbone is an embedding table) export as
    --format word2vec, word2vec-binary or safetensors (wordvec/export.py)."""
    if fmt in WORD_VECTOR_FORMATS:
        from warmstart.wordvec.export import export_run

        return export_run(run_dir, fmt, out)
    if fmt != "hf":
        raise ConfigError(f"--format {fmt}: expected one of hf, {', '.join(WORD_VECTOR_FORMATS)}")
    run_dir = Path(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    _, cfg = load_run_config(run_dir)
    backbone = load_backbone(ckpt)
    if (ckpt / "adapter.safetensors").is_file():  # a LoRA run: fold the adapters into the base weights
        backbone = merged_lora_backbone(ckpt, backbone, cfg.strategy)
    if not hasattr(getattr(backbone, "model", None), "save_pretrained"):
        raise ConfigError(f"--format hf: the {backbone.kind} backbone has no Hugging Face format; "
                          f"its weights are {ckpt / 'backbone.safetensors'} (spec in backbone.json)")
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    backbone.model.save_pretrained(str(out), safe_serialization=True)
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.export(out)  # the tokenizer files, or transforms.json (normalization statistics)
    # The task/objective head stays in warmstart's own files next to the HF ones.
    shutil.copy(ckpt / "head.safetensors", out / "warmstart_head.safetensors")
    (out / "warmstart_head.json").write_text(json.dumps(read_json(ckpt / "head.json"), indent=2), encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------- lr-find


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
    out = Path(out) if out else Path(cfg.run.out_dir) / f"{cfg.run.name}-lr-find"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)
    if isinstance(cfg, PretrainConfig):
        inputs = open_inputs(cfg.data)
        pool = inputs.read_pretrain(cfg.run.seed)
        backbone, _ = _backbone(cfg, out, inputs, pool if inputs.modality == "text" else pool.train, None)
        train_set, val_set = inputs.pretrain_sets(pool, cfg, say)
        module, strategy = build_objective(cfg.objective, backbone, inputs.objective_info(pool)), build_strategy(FullStrategy())
    else:
        splits, inputs, module, _ = prepare_finetune(cfg, out)
        train_set, val_set = inputs.labeled_set(splits.train, module, train=True), inputs.labeled_set(splits.val, module)
        strategy = build_strategy(cfg.strategy)
    strategy.prepare(module)
    optimizer = build_optimizer(strategy.param_groups(module, cfg.optim.lr), cfg.optim)
    schedule = sweep_schedule(optimizer, cfg.optim.lr, min_lr, max_lr, n_steps)
    batches, train_cfg = train_batches(train_set.n, train_set.make_batch, cfg.train, cfg.optim, cfg.run.seed)
    # The sweep is a short training run: every step logged, non-finite steps skipped (divergence is
    # expected at the top of the range), one validation batch at the end, nothing kept but the log.
    train_cfg = train_cfg.model_copy(update={"max_steps": n_steps, "log_every": 1, "eval_every": n_steps, "eval_batches": 1,
                                             "save_every": None, "nan_policy": "skip", "progress": False,
                                             "early_stop_patience": None, "monitor": None})
    log = MetricsLog(out / "metrics.jsonl")
    _describe(say, module, batches, train_cfg, "examples")

    evaluate_val = _evaluator(module, val_set, cfg.train)

    train(module, batches, optimizer, schedule, strategy, train_cfg, out, TrainState(), log, evaluate_val, {}, say=say)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # the swept weights are of no use
    lrs = sweep_lrs(min_lr, max_lr, n_steps)
    by_step = {r["step"]: r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["split"] == "train"}
    losses = [by_step.get(i + 1, float("nan")) for i in range(n_steps)]  # skipped (non-finite) steps are NaN
    suggested = suggest_lr(lrs, losses)
    plot_lr_find(out / "lr_find.png", lrs, losses, suggested)
    result = {"lrs": lrs, "losses": [x if x == x else None for x in losses], "suggested_lr": suggested,
              "plot": str(out / "lr_find.png")}
    write_json_atomic(out / "lr_find.json", result)
    say(f"lr-find: suggested optim.lr {suggested:.3g}" if suggested else "lr-find: no suggestion (loss never decreased)")
    say(f"lr-find: plot {out / 'lr_find.png'}")
    return result
