"""pretrain: a backbone trained with a self-supervised (or source-supervised) objective."""

from __future__ import annotations

from pathlib import Path

import torch

from warmstart.checkpoint.io import write_json_atomic
from warmstart.checkpoint.run import RunCheckpoints, load_module_weights
from warmstart.config.schema import WORD_VECTOR_KINDS, FullStrategy, PretrainConfig
from warmstart.data.cache import FREQUENCY_ONLY_RATIO
from warmstart.inputs import Examples, open_inputs
from warmstart.models import load_backbone
from warmstart.objectives import build_objective
from warmstart.runs import open_run_dir, set_threads, write_config
from warmstart.training.distributed import World, joined
from warmstart.training.loop import train
from warmstart.training.monitor import Monitor
from warmstart.workflows.common import backbone_for, evaluator, prepare_training, quiet, shown


def pretrain(cfg: PretrainConfig, resume: bool = False, overwrite: bool = False, say=print) -> Path:
    """Pretrain a backbone with a self-supervised (or source-supervised) objective; returns the run dir."""
    if cfg.objective.kind in WORD_VECTOR_KINDS:  # gensim / GloVe fit the vectors themselves, outside the loop
        from warmstart.wordvec.pretrain import pretrain as pretrain_word_vectors

        return pretrain_word_vectors(cfg, resume, overwrite, say)
    with joined(cfg.train) as world:  # the device; under torchrun, this process's rank (DDP)
        return _pretrain(cfg, resume, overwrite, say if world.is_main else quiet, world)


def _pretrain(cfg: PretrainConfig, resume: bool, overwrite: bool, say, world: World, distill=None) -> Path:
    """The pretraining of `cfg`; with `distill` (workflows.distill_lm.LMDistillPlan) the student objective
    trains inside the distillation wrapper, against a frozen teacher LM."""
    run_dir, resume_ckpt = open_run_dir(cfg, resume, overwrite, world, say)
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    # Inputs: text documents, or the training pool of an image/vector set (its val split is held
    # out for the validation loss; its test split is never read), plus the preprocessor for them.
    # Every rank prepares the same inputs (deterministic); only rank 0 writes files.
    inputs = open_inputs(cfg.data)
    pool = inputs.read_pretrain(cfg.run.seed)
    fit_on = pool if inputs.modality == "text" else pool.train
    backbone, lineage = backbone_for(cfg, run_dir, inputs, fit_on, resume_ckpt, say)
    if distill is not None:
        lineage = {**(lineage or {}), **distill.lineage()}
    if world.is_main:
        inputs.save(run_dir)
        write_config(run_dir, cfg, "pretrain", lineage)
    train_set, val_set = inputs.pretrain_sets(pool, cfg, say)

    module = build_objective(cfg.objective, backbone, inputs.objective_info(pool))
    # What the loop trains: the objective, or the LM-distillation wrapper around it (validation scores the student).
    trained = module if distill is None else distill.training(module, inputs, world, say)
    unit = "blocks" if inputs.modality == "text" else "examples"
    run = prepare_training(cfg, trained, FullStrategy(), train_set, run_dir, resume_ckpt, say, unit, world=world)
    evaluate_val = evaluator(module, val_set, cfg.train, world)

    # The objective head's facts (e.g. the supervised objective's source labels) go with each checkpoint.
    head_meta = {"objective": cfg.objective.kind, **(module.info() if hasattr(module, "info") else {})}
    save = RunCheckpoints(run_dir, trained, head_meta, run.strategy, run.optimizer, keep=run.cfg.keep_checkpoints,
                          world=world)
    monitor = Monitor.from_config(run.cfg, module.new_metrics().primary)
    state = train(trained, run, evaluate_val, monitor, save, say=say)
    final = evaluate_val(None)
    tokens_per_s = state.items_seen / max(state.elapsed_s, 1e-9) if cfg.objective.kind == "causal_lm" else None
    result = {"val": final, "steps": state.step, "train_seconds": state.elapsed_s, "items_seen": state.items_seen,
              "tokens_per_s": tokens_per_s,
              "device": str(world.device), "world_size": world.size}
    corpus = getattr(inputs, "corpus", None)
    if corpus is not None:  # text: what the report's advice weighs (corpus size, tokens seen, vs unigram)
        result["corpus"] = corpus
        result["tokens_seen"] = state.step * run.batches.examples_per_step(run.cfg.grad_accum) * corpus["block_len"]
    if distill is not None:
        result["distill"] = distill.result(val_set, cfg.train, world)
    unigram = getattr(inputs, "unigram_ppl", None)
    if unigram is not None and "ppl" in final:
        result["unigram_ppl"] = unigram
        result["unigram_ratio"] = final["ppl"] / unigram
    if world.is_main:
        write_json_atomic(run_dir / "result.json", result)
    if unigram is not None and "ppl" in final:
        say(frequency_note(final["ppl"], unigram, continued=getattr(cfg.model, "kind", None) == "hf"))
    say(f"pretrain done: val {shown(final)} after {state.step} steps, {state.elapsed_s:.1f}s -> {run_dir}")
    return run_dir


def frequency_note(ppl: float, unigram: float, continued: bool = False) -> str:
    """One line comparing the final val perplexity with the context-blind (unigram) perplexity. `continued`:
    the run continued a Hugging Face checkpoint, whose encoder is pretrained but whose LM head may be fresh."""
    line = f"val ppl {ppl:.1f} vs {unigram:.1f} for token frequencies alone (unigram; ratio {ppl / unigram:.2f})"
    if ppl > FREQUENCY_ONLY_RATIO * unigram and continued:
        line += (": the LM head still predicts little beyond token frequencies (a checkpoint without an LM head "
                 "starts with a fresh one), so this run is too short to judge; train longer before relying on it")
    elif ppl > FREQUENCY_ONLY_RATIO * unigram:
        line += (": the model has learned little beyond token frequencies, and such an encoder can transfer worse "
                 "than a random init; train longer or on more text before fine-tuning from it")
    return line


def pretrain_objective(pre_cfg: PretrainConfig, pre_dir: Path, ckpt: Path) -> tuple[torch.nn.Module, Examples]:
    """A pretraining run's objective module with checkpoint `ckpt`'s weights, and its validation set."""
    inputs = open_inputs(pre_cfg.data)
    pool = inputs.read_pretrain(pre_cfg.run.seed)
    inputs.load(pre_dir)
    module = build_objective(pre_cfg.objective, load_backbone(ckpt), inputs.objective_info(pool))
    load_module_weights(ckpt, module)
    _, val_set = inputs.pretrain_sets(pool, pre_cfg, lambda *_: None)
    return module, val_set
