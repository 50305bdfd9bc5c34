"""The lifecycle verbs as library functions: pretrain, finetune, evaluate, predict, export.

Each reads top to bottom like a script, one concept module per line; the CLI is a thin wrapper.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from warmstart import data, tokenizers
from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.checkpoint.run import load_module_weights, load_optimizer
from warmstart.config.schema import FinetuneConfig, FullStrategy, HFTokenizer, PretrainConfig
from warmstart.data.loaders import BatchIterator, block_examples, sequential_batches, text_examples
from warmstart.errors import ConfigError, DataError
from warmstart.evaluation import evaluate as run_eval
from warmstart.models import build_backbone, load_backbone
from warmstart.objectives import build_objective
from warmstart.optim import build_optimizer, build_schedule
from warmstart.runs import load_run_config, open_run_dir, run_dir_of, set_threads, write_config
from warmstart.strategies import build_strategy, count_params
from warmstart.tasks import build_task, head_info
from warmstart.training.loop import MetricsLog, train
from warmstart.training.state import TrainState


def _backbone_and_tokenizer(cfg, run_dir: Path, texts: list[str], resume_ckpt: Path | None, max_len: int):
    """Where the backbone and tokenizer come from: a resumed checkpoint, `init` (a warmstart run),
    a local HF model directory, or fresh (train a tokenizer on `texts`, random weights).
    Returns (backbone, tokenizer, lineage)."""
    if resume_ckpt is not None:  # the run's own saved tokenizer and architecture: bit-identical resume
        return load_backbone(resume_ckpt, random_init=True), tokenizers.load_tokenizer(run_dir / "tokenizer"), None
    if cfg.init is not None:
        ckpt = resolve_checkpoint(cfg.init, prefer_best=False)
        random = getattr(cfg, "init_weights", "pretrained") == "random"
        backbone = load_backbone(ckpt, random_init=random)
        tok = tokenizers.load_tokenizer(run_dir_of(ckpt) / "tokenizer")
        return backbone, tok, {"init": str(cfg.init), "checkpoint": str(ckpt), "init_weights": "random" if random else "pretrained"}
    tok_cfg = cfg.tokenizer or HFTokenizer(path=cfg.model.path)
    tok = tokenizers.build_tokenizer(tok_cfg, texts)
    special = tokenizers.special_ids(tok)
    backbone = build_backbone(cfg.model, len(tok), special, max_len)
    lineage = {"model": cfg.model.kind, "path": getattr(cfg.model, "path", None)}
    return backbone, tok, lineage


def _check_len(backbone, max_len: int, field: str) -> None:
    if max_len > getattr(backbone, "max_len", max_len):
        raise ConfigError(f"{field} ({max_len}) exceeds the model's maximum positions ({backbone.max_len})")


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
        f"{batches.batch_size * cfg.grad_accum} {unit}/step | {batches.steps_per_epoch} steps/epoch | "
        f"{cfg.max_steps} steps | precision {cfg.precision}")


# ------------------------------------------------------------------------------------- pretrain


def pretrain(cfg: PretrainConfig, resume: bool = False, overwrite: bool = False, say=print) -> Path:
    """Pretrain a backbone with a self-supervised objective; returns the run directory."""
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite)
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    texts = data.load_corpus(cfg.data)
    backbone, tok, lineage = _backbone_and_tokenizer(cfg, run_dir, texts, resume_ckpt, cfg.data.max_len)
    _check_len(backbone, cfg.data.max_len, "data.max_len")
    tok.save_pretrained(str(run_dir / "tokenizer"))
    write_config(run_dir, cfg, "pretrain", lineage)

    # Tokenize once into a memory-mapped cache, then cut fixed-length blocks (no padding).
    cache_dir = cfg.data.cache_dir or Path(cfg.run.out_dir) / ".cache" / "tokens"
    ids = data.token_ids(texts, tok, cache_dir)
    train_blocks, val_blocks = data.split_blocks(ids, cfg.data.max_len, cfg.data.val_frac)
    say(f"corpus: {len(texts):,} documents, {len(ids):,} tokens -> {len(train_blocks):,} train / {len(val_blocks):,} val blocks of {cfg.data.max_len}")

    special = tokenizers.special_ids(tok)
    module = build_objective(cfg.objective, backbone, special)
    strategy = build_strategy(FullStrategy())
    optimizer = build_optimizer(strategy.param_groups(module, cfg.optim.lr), cfg.optim)
    schedule = build_schedule(optimizer, cfg.schedule, cfg.train.max_steps)
    batches = BatchIterator(len(train_blocks), block_examples(train_blocks), cfg.train.batch_size, cfg.run.seed)
    state, log = _start(run_dir, module, optimizer, schedule, batches, resume_ckpt, say)
    _describe(say, module, batches, cfg.train, "blocks")

    def evaluate_val(max_batches):
        return run_eval(module, sequential_batches(len(val_blocks), block_examples(val_blocks), cfg.train.batch_size, max_batches), cfg.train.precision)

    head_meta = {"objective": cfg.objective.kind}
    state = train(module, batches, optimizer, schedule, strategy, cfg.train, run_dir, state, log, evaluate_val, head_meta, say=say)
    final = evaluate_val(None)
    result = {"val": final, "steps": state.step, "train_seconds": state.elapsed_s, "items_seen": state.items_seen,
              "tokens_per_s": state.items_seen / max(state.elapsed_s, 1e-9) if cfg.objective.kind == "causal_lm" else None}
    write_json_atomic(run_dir / "result.json", result)
    say(f"pretrain done: val loss {final['loss']:.4f} (ppl {final['ppl']:.1f}) after {state.step} steps, {state.elapsed_s:.1f}s -> {run_dir}")
    return run_dir


# ------------------------------------------------------------------------------------- finetune


def _encode_split(module, tok, records: list[dict], max_len: int, source: str):
    encoded = tokenizers.encode(tok, [r["text"] for r in records], max_len)
    try:
        targets = module.encode_targets([r["label"] for r in records])
    except (ValueError, KeyError) as e:
        raise DataError(f"{source}: label {e} cannot be used by this task (check data.label_field and task.kind)") from None
    return encoded, targets


def prepare_finetune(cfg: FinetuneConfig, run_dir: Path | None = None, resume_ckpt: Path | None = None,
                     ckpt_for_weights: Path | None = None):
    """Data, tokenizer and module for a fine-tune config (shared by finetune, evaluate and predict)."""
    records = data.load_labeled(cfg.data)
    is_cls = cfg.task.kind == "classification"
    splits = data.split_records(records, cfg.data, cfg.run.seed, stratify=is_cls)
    if ckpt_for_weights is not None:  # evaluate/predict: rebuild exactly what was trained
        backbone = load_backbone(ckpt_for_weights, random_init=True)
        tok = tokenizers.load_tokenizer(run_dir / "tokenizer")
        info, lineage = read_json(ckpt_for_weights / "head.json"), None
    else:
        backbone, tok, lineage = _backbone_and_tokenizer(cfg, run_dir, [r["text"] for r in splits.train], resume_ckpt, cfg.data.max_len)
        # Classification labels come from all records (the class set is known up front); regression
        # statistics from the training split only.
        info = read_json(resume_ckpt / "head.json") if resume_ckpt else head_info(cfg.task, records if is_cls else splits.train)
    _check_len(backbone, cfg.data.max_len, "data.max_len")
    module = build_task(cfg.task, backbone, {k: v for k, v in info.items() if k != "task"})
    if ckpt_for_weights is not None:
        load_module_weights(ckpt_for_weights, module)
    return splits, tok, module, info, lineage


def finetune(cfg: FinetuneConfig, resume: bool = False, overwrite: bool = False, say=print) -> dict:
    """Fine-tune a task head (and, per strategy, the backbone); returns result.json's contents."""
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite)
    if resume_ckpt is not None and (run_dir / "result.json").exists():
        return read_json(run_dir / "result.json")  # already complete
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    splits, tok, module, info, lineage = prepare_finetune(cfg, run_dir, resume_ckpt)
    tok.save_pretrained(str(run_dir / "tokenizer"))
    write_config(run_dir, cfg, "finetune", lineage)
    src = f"data ({cfg.data.kind})"
    train_x, train_y = _encode_split(module, tok, splits.train, cfg.data.max_len, src)
    val_x, val_y = _encode_split(module, tok, splits.val, cfg.data.max_len, src)
    test_x, test_y = _encode_split(module, tok, splits.test, cfg.data.max_len, src)
    pad = tokenizers.special_ids(tok)["pad"]
    say(f"data: {len(splits.train):,} train (of a {splits.n_pool:,} pool) / {len(splits.val):,} val / {len(splits.test):,} test")

    strategy = build_strategy(cfg.strategy)
    strategy.prepare(module)
    optimizer = build_optimizer(strategy.param_groups(module, cfg.optim.lr), cfg.optim)
    schedule = build_schedule(optimizer, cfg.schedule, cfg.train.max_steps)
    batches = BatchIterator(len(train_x), text_examples(train_x, train_y, pad), cfg.train.batch_size, cfg.run.seed)
    state, log = _start(run_dir, module, optimizer, schedule, batches, resume_ckpt, say)
    _describe(say, module, batches, cfg.train, "examples")

    def batches_of(x, y, max_batches=None):
        return sequential_batches(len(x), text_examples(x, y, pad), cfg.train.batch_size, max_batches)

    def evaluate_val(max_batches):
        return run_eval(module, batches_of(val_x, val_y, max_batches), cfg.train.precision)

    head_meta = {"task": cfg.task.kind, **module.info()}
    state = train(module, batches, optimizer, schedule, strategy, cfg.train, run_dir, state, log, evaluate_val,
                  head_meta, select_best=cfg.train.select_best, say=say)

    # Test once, with the best validation weights when selecting (the final ones otherwise).
    if cfg.train.select_best and (run_dir / "checkpoints" / "best").exists():
        load_module_weights(run_dir / "checkpoints" / "best", module)
    best_val = evaluate_val(None)
    test = run_eval(module, batches_of(test_x, test_y), cfg.train.precision)
    log.write({"step": state.step, "split": "test", **test, "elapsed_s": round(state.elapsed_s, 3)})
    trainable, total = count_params(module)
    result = {
        "test": test, "best_val": best_val, "best_step": state.best_step, "steps": state.step,
        "train_seconds": round(state.elapsed_s, 3), "seconds_to_best": round(state.best_elapsed_s or 0.0, 3),
        "params_trained": trainable, "params_total": total, "items_seen": state.items_seen,
        "n_labels": len(splits.train), "n_pool": splits.n_pool, "skipped_steps": state.skipped_steps,
    }
    write_json_atomic(run_dir / "result.json", result)
    primary = module.new_metrics().primary
    say(f"finetune done: test {primary} {test[primary]:.4f} (best val {best_val[primary]:.4f} at step {state.best_step}) -> {run_dir}")
    return result


# ------------------------------------------------------------------------- evaluate / predict


def evaluate(run_dir: str | Path, split: str = "test") -> dict[str, float]:
    """Re-evaluate a finished run on a split (fine-tune: val/test/train; pretrain: val)."""
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    set_threads(cfg.train.num_threads)
    if verb == "pretrain":
        if split != "val":
            raise ConfigError(f"--split {split}: a pretraining run has only a 'val' split")
        tok = tokenizers.load_tokenizer(run_dir / "tokenizer")
        module = build_objective(cfg.objective, load_backbone(ckpt), tokenizers.special_ids(tok))
        load_module_weights(ckpt, module)
        ids = data.token_ids(data.load_corpus(cfg.data), tok, cfg.data.cache_dir or Path(cfg.run.out_dir) / ".cache" / "tokens")
        _, val_blocks = data.split_blocks(ids, cfg.data.max_len, cfg.data.val_frac)
        return run_eval(module, sequential_batches(len(val_blocks), block_examples(val_blocks), cfg.train.batch_size), cfg.train.precision)
    splits, tok, module, _, _ = prepare_finetune(cfg, run_dir, ckpt_for_weights=ckpt)
    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split {split}: expected one of train, val, test")
    x, y = _encode_split(module, tok, getattr(splits, split), cfg.data.max_len, f"data ({cfg.data.kind})")
    pad = tokenizers.special_ids(tok)["pad"]
    return run_eval(module, sequential_batches(len(x), text_examples(x, y, pad), cfg.train.batch_size), cfg.train.precision)


def load_predictor(run_dir: str | Path):
    """(module, tokenizer, cfg) of a fine-tuned run, ready for inference."""
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune":
        raise ConfigError(f"{run_dir}: predict needs a fine-tuning run (this one is a {verb} run)")
    ckpt = resolve_checkpoint(run_dir)
    tok = tokenizers.load_tokenizer(run_dir / "tokenizer")
    info = read_json(ckpt / "head.json")
    module = build_task(cfg.task, load_backbone(ckpt, random_init=True), {k: v for k, v in info.items() if k != "task"})
    load_module_weights(ckpt, module)
    module.eval()
    return module, tok, cfg


@torch.no_grad()
def predict(run_dir: str | Path, texts: list[str], batch_size: int = 64) -> list[dict]:
    """Predictions for raw texts: {"label"} (+ "probs" per class) or {"value"} for regression."""
    module, tok, cfg = load_predictor(run_dir)
    pad = tokenizers.special_ids(tok)["pad"]
    encoded = tokenizers.encode(tok, texts, cfg.data.max_len)
    out = []
    for batch in sequential_batches(len(encoded), text_examples(encoded, None, pad), batch_size):
        z = module.head(_pooled(module, batch))
        if cfg.task.kind == "classification":
            probs = z.float().softmax(-1)
            for row in probs:
                out.append({"label": module.labels[int(row.argmax())],
                            "probs": {str(lab): round(float(p), 5) for lab, p in zip(module.labels, row)}})
        else:
            for v in (z.squeeze(-1).float() * module.std + module.mean).tolist():
                out.append({"value": v})
    return out


def _pooled(module, batch):
    from warmstart.heads import pool

    return pool(module.backbone(batch), module.pooling)


# ------------------------------------------------------------------------------------- export


def export(run_dir: str | Path, fmt: str = "hf", out: str | Path | None = None) -> Path:
    """Write an HF-format directory (config.json, model.safetensors, tokenizer files) that
    transformers.AutoModel / AutoTokenizer load offline; the warmstart head rides along."""
    if fmt != "hf":
        raise ConfigError(f"--format {fmt}: expected 'hf'")
    run_dir = Path(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    backbone = load_backbone(ckpt)
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    backbone.model.save_pretrained(str(out), safe_serialization=True)
    tokenizers.load_tokenizer(run_dir / "tokenizer").save_pretrained(str(out))
    # The task/objective head stays in warmstart's own files next to the HF ones.
    shutil.copy(ckpt / "head.safetensors", out / "warmstart_head.safetensors")
    (out / "warmstart_head.json").write_text(json.dumps(read_json(ckpt / "head.json"), indent=2), encoding="utf-8")
    return out

