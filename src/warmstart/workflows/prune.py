"""prune: magnitude pruning of a fine-tuned run into a new run directory that evaluate and predict load.

  none     unstructured: torch.nn.utils.prune.l1_unstructured zeroes the `sparsity` fraction of smallest
           |w| in every Linear/Conv weight of the backbone (embeddings and the task head are kept).
           Same shapes and file size; the zeros only pay off on a sparse kernel or a compressed file.
  heads    structured: per encoder layer, the `sparsity` fraction of attention heads with the smallest
           weight magnitude (L1 of their query/key/value rows and output columns) is removed.
  neurons  structured: per encoder layer, the same fraction of FFN neurons (L1 of the intermediate row
           and output column) is removed.
Structured pruning slices the Linear layers (TransformerBackbone.shrink; BERT-style encoders), so the
model is really smaller and faster; backbone.json records the per-layer shapes.

Optional recovery (--recover-steps N): N steps of the one training loop (full fine-tuning, warmup +
cosine from a tenth of optim.lr or --recover-lr, the source's data and batch size), with the
unstructured masks kept fixed (torch's pruning re-parametrization: weight = weight_orig * mask in every
forward), then made permanent. The recovered weights are kept only if they score better on validation.
The new run holds config.json (strategy full: LoRA adapters are merged first), the tokenizer or
transforms, a checkpoint, metrics.jsonl of the recovery, and result.json: test metrics before
pruning, after pruning and after recovery, the sparsity actually achieved, parameter counts and the
multiply-accumulates per token of the backbone's Linear layers before and after.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from warmstart.checkpoint.io import write_json_atomic
from warmstart.checkpoint.run import save_module_checkpoint
from warmstart.config.sections.optim import WarmupCosineSchedule
from warmstart.config.sections.tasks import FullStrategy
from warmstart.errors import ConfigError
from warmstart.runs import set_threads
from warmstart.strategies import count_params
from warmstart.training.loop import train
from warmstart.training.monitor import Monitor
from warmstart.workflows.common import evaluate_on, evaluator, prepare_training
from warmstart.workflows.finetune import prepare_finetune
from warmstart.workflows.variants import finetune_source, source_module, source_test, start_variant, variant_dir

STRUCTURES = ("none", "heads", "neurons")
RECOVER_LR_FACTOR = 0.1  # recovery's default LR: this fraction of the run's optim.lr
PRUNED_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)


def prunable(backbone: nn.Module) -> list[nn.Module]:
    """The layers whose weights unstructured pruning thins: every Linear and convolution of the backbone."""
    return [m for m in backbone.modules() if isinstance(m, PRUNED_TYPES)]


def prune_unstructured(backbone: nn.Module, sparsity: float) -> list[nn.Module]:
    """Mask the `sparsity` fraction of smallest-|w| weights of each prunable layer (torch's
    re-parametrization: the mask stays fixed while weight_orig trains). Returns the masked layers."""
    layers = prunable(backbone)
    for layer in layers:
        torch_prune.l1_unstructured(layer, "weight", amount=sparsity)
    return layers


def make_permanent(layers: list[nn.Module]) -> None:
    """Fold each mask into its weight (weight = weight_orig * mask) and drop the re-parametrization."""
    for layer in layers:
        torch_prune.remove(layer, "weight")


def _keep(scores: torch.Tensor, sparsity: float) -> list[int]:
    """Sorted indices of the units to keep: all but the round(sparsity * n) lowest scores, at least one."""
    n_keep = max(1, len(scores) - round(sparsity * len(scores)))
    return sorted(torch.topk(scores, n_keep).indices.tolist())


def prune_structured(backbone: nn.Module, sparsity: float, structured: str) -> float:
    """Remove the lowest-magnitude heads or FFN neurons of every encoder layer (backbone.shrink).
    Returns the fraction of heads or neurons actually removed (rounded per layer, at least one kept)."""
    layers = backbone.encoder_layers()
    heads, neurons = [], []
    for block in layers:
        att = block.attention.self
        n_heads, d_head = att.num_attention_heads, att.attention_head_size
        if structured == "heads":
            # A head's magnitude: L1 of its query/key/value output rows and its attention-output input columns.
            qkv = sum(lin.weight.detach().abs().view(n_heads, d_head, -1).sum((1, 2))
                      for lin in (att.query, att.key, att.value))
            out = block.attention.output.dense.weight.detach().abs().view(-1, n_heads, d_head).sum((0, 2))
            heads.append(_keep(qkv + out, sparsity))
        else:
            heads.append(list(range(n_heads)))
        if structured == "neurons":
            # A neuron's magnitude: L1 of its intermediate row and its output column.
            score = (block.intermediate.dense.weight.detach().abs().sum(1)
                     + block.output.dense.weight.detach().abs().sum(0))
            neurons.append(_keep(score, sparsity))
        else:
            neurons.append(list(range(block.intermediate.dense.out_features)))
    before = {"heads": sum(b.attention.self.num_attention_heads for b in layers),
              "neurons": sum(b.intermediate.dense.out_features for b in layers)}[structured]
    backbone.shrink(heads, neurons)
    return 1.0 - sum(len(k) for k in (heads if structured == "heads" else neurons)) / before


def achieved_sparsity(backbone: nn.Module) -> dict:
    """Fraction of exact zeros in the prunable layers' weights and in all backbone parameters."""
    weights = [m.weight.detach() for m in prunable(backbone)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    all_zeros = sum(int((p.detach() == 0).sum()) for p in backbone.parameters())
    all_total = sum(p.numel() for p in backbone.parameters())
    return {"pruned_layers": zeros / max(total, 1), "backbone": all_zeros / max(all_total, 1),
            "pruned_layer_weights": total}


def linear_macs_per_token(backbone: nn.Module) -> int:
    """Multiply-accumulates per token in the backbone's Linear layers (in x out each): what structured
    pruning removes. Attention scores scale with the head count too; benchmarks/deploy.py times the whole."""
    return sum(m.in_features * m.out_features for m in backbone.modules() if isinstance(m, nn.Linear))


def check_prune_args(run_dir: Path, sparsity: float, structured: str, recover_steps: int):
    """The source run's config, or a one-line ConfigError for a bad argument."""
    if not 0.0 < sparsity < 1.0:
        raise ConfigError(f"--sparsity {sparsity}: expected a fraction strictly between 0 and 1")
    if structured not in STRUCTURES:
        raise ConfigError(f"--structured {structured}: expected one of {', '.join(STRUCTURES)}")
    if recover_steps < 0:
        raise ConfigError(f"--recover-steps {recover_steps}: expected 0 (no recovery) or more steps")
    return finetune_source(run_dir, "prune")


def prune(run_dir: str | Path, sparsity: float = 0.5, structured: str = "none", recover_steps: int = 0,
          out: str | Path | None = None, recover_lr: float | None = None, say=print) -> dict:
    """Prune a fine-tuned run into a new run directory (default RUN-pruned-<structured>-<percent> next to
    RUN), optionally recover with a short fine-tune, and return result.json's contents."""
    run_dir = Path(run_dir)
    cfg = check_prune_args(run_dir, sparsity, structured, recover_steps)
    module = source_module(run_dir)
    if structured != "none" and getattr(module.backbone, "encoder_layers", lambda: None)() is None:
        raise ConfigError(f"{run_dir}: --structured {structured} slices BERT-style encoder layers; this run's backbone "
                          f"({cfg.model.kind}{', ' + cfg.model.arch if hasattr(cfg.model, 'arch') else ''}) has none "
                          "(use --structured none)")
    out = variant_dir(run_dir, out, f"pruned-{structured}-{round(100 * sparsity)}")
    set_threads(cfg.train.num_threads)
    torch.manual_seed(cfg.run.seed)

    # The run now trains and loads as a full fine-tune: LoRA adapters are merged into the weights.
    full = FullStrategy()
    start_variant(run_dir, out, "pruned_from", {"strategy": full.model_dump(mode="json")})
    splits, inputs, module, _ = prepare_finetune(cfg, out, module=module)
    test_set = inputs.labeled_set(splits.test, module)
    before = evaluate_on(module, test_set, cfg.train)
    params_before, macs_before = count_params(module)[1], linear_macs_per_token(module.backbone)

    # Prune: masks (unstructured) or smaller layers (structured).
    masked = prune_unstructured(module.backbone, sparsity) if structured == "none" else []
    units_removed = prune_structured(module.backbone, sparsity, structured) if structured != "none" else None
    pruned = evaluate_on(module, test_set, cfg.train)

    # Recovery: the one training loop on the source's training split, masks fixed by the re-parametrization.
    # A fresh optimizer at the fine-tune's peak LR undoes more than pruning did (measured on the demo
    # classifier: 0.614 -> 0.6135 pruned -> 0.5915 after 100 steps at 5e-4), so by default a tenth of it,
    # warmed up; and, like train.select_best, the recovered weights are kept only if validation says so.
    recovered, recovered_val, kept = None, None, "pruned"
    if recover_steps:
        val_set = inputs.labeled_set(splits.val, module)
        pruned_val = evaluate_on(module, val_set, cfg.train)
        snapshot = {k: v.detach().clone() for k, v in module.state_dict().items()}
        rcfg = cfg.model_copy(update={
            "strategy": full,
            "optim": cfg.optim.model_copy(update={"lr": recover_lr or RECOVER_LR_FACTOR * cfg.optim.lr}),
            "schedule": WarmupCosineSchedule(warmup_steps=max(1, recover_steps // 10)),
            "train": cfg.train.model_copy(update={"max_steps": recover_steps, "eval_every": recover_steps,
                                                  "save_every": None, "compile": False}),
        })
        train_set = inputs.labeled_set(splits.train, module, train=True)
        run = prepare_training(rcfg, module, full, train_set, out, say=say)
        monitor = Monitor.from_config(run.cfg, module.new_metrics().primary)
        train(module, run, evaluator(module, val_set, rcfg.train), monitor, None, say=say)
        module.eval()
        recovered, recovered_val = evaluate_on(module, test_set, cfg.train), evaluate_on(module, val_set, cfg.train)
        r_val, p_val = monitor.value(recovered_val), monitor.value(pruned_val)
        if r_val > p_val if monitor.higher else r_val < p_val:
            kept = "recovered"
        else:  # recovery did not help on validation: the pruned weights (same masks) stay
            module.load_state_dict(snapshot)
    make_permanent(masked)

    save_module_checkpoint(out, "step_000000" if not recover_steps else f"step_{recover_steps:06d}", module,
                           {"task": cfg.task.kind, **module.info()})
    primary = module.new_metrics().primary
    final = recovered if kept == "recovered" else pruned
    meta = {
        "source": str(run_dir.resolve()), "structured": structured, "sparsity_target": sparsity,
        "sparsity_achieved": achieved_sparsity(module.backbone), "units_removed": units_removed,
        "recover_steps": recover_steps,
        "recover_lr": (recover_lr or RECOVER_LR_FACTOR * cfg.optim.lr) if recover_steps else None,
        "kept": kept, "val_pruned": pruned_val if recover_steps else None, "val_recovered": recovered_val,
        "params_before": params_before, "params_after": count_params(module)[1],
        "linear_macs_per_token_before": macs_before,
        "linear_macs_per_token_after": linear_macs_per_token(module.backbone),
        "shrunk": getattr(module.backbone, "shrunk", None) or None,
        "test_before": before, "test_pruned": pruned, "test_recovered": recovered,
        "kept_fraction": final[primary] / before[primary] if before[primary] else None,
    }
    result = {"test": final, "source_test": source_test(run_dir), "prune": meta}
    write_json_atomic(out / "result.json", result)
    after = (f", after {recover_steps} recovery steps {recovered[primary]:.4f} (kept: {kept} weights, by validation)"
             if recovered else "")
    achieved = (f"weight sparsity {meta['sparsity_achieved']['pruned_layers']:.3f}" if structured == "none"
                else f"{structured} removed {units_removed:.3f}")
    say(f"prune {structured} {sparsity:.0%} done: test {primary} {before[primary]:.4f} before, {pruned[primary]:.4f} "
        f"pruned{after}; {achieved}, params {params_before:,} -> {meta['params_after']:,} -> {out}")
    return result
