"""Save and restore whole training checkpoints of a module (backbone + head + optimizer + state).

Files: backbone.safetensors + backbone.json (what pretraining hands to fine-tuning),
head.safetensors + head.json (objective or task head and its facts, e.g. the label list),
optimizer.safetensors + optimizer.json, state.json (TrainState), and adapter.safetensors for a
LoRA run (backbone.safetensors then keeps the base weights under their original names), and
aux.safetensors for a distillation run's feature projection.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from warmstart.checkpoint import sharded
from warmstart.checkpoint.io import (
    flatten_optimizer,
    load_tensors,
    prepare_tmp,
    read_json,
    save_checkpoint,
    unflatten_optimizer,
)
from warmstart.errors import CheckpointError, TrainingError

EXTRA_STATE = "adapter"  # file name of a strategy's extra state (adapter.safetensors)
# A training wrapper's own trained parts (`module.aux`, e.g. distillation's feature projection): saved
# in aux.safetensors so a resume restores them; the run's model (backbone + head) does not need them.
AUX = "aux"


def save_module_checkpoint(run_dir: Path, name: str, module: nn.Module, head_meta: dict, *, strategy=None,
                           optimizer=None, state=None, keep: int | None = None, point_latest: bool = True) -> Path:
    """Write checkpoint `name` of `module` under run_dir/checkpoints. `strategy` (None = plain
    weights) splits off the extra state it added to the backbone, e.g. LoRA adapters."""
    from warmstart.models import backbone_json

    base, extra = strategy.split_state(module.backbone) if strategy is not None else (module.backbone.state_dict(), {})
    tensors = {"backbone": base, "head": module.head.state_dict()}
    if extra:
        tensors[EXTRA_STATE] = extra
    aux = getattr(module, "aux", None)  # what a training wrapper trains besides the model (distillation)
    if aux is not None:
        tensors[AUX] = aux.state_dict()
    jsons = {"backbone": backbone_json(module.backbone), "head": head_meta}
    if optimizer is not None:
        opt_tensors, opt_meta = flatten_optimizer(optimizer.state_dict())
        tensors["optimizer"] = opt_tensors
        jsons["optimizer"] = opt_meta
    if state is not None:
        jsons["state"] = state.to_json()
    return save_checkpoint(Path(run_dir) / "checkpoints", name, tensors, jsons, keep=keep, point_latest=point_latest)


class RunCheckpoints:
    """The training loop's `save` callback for a run directory: resumable step checkpoints
    (weights, optimizer, TrainState; the newest `keep` are kept, `latest` points at the newest) and
    the best weights so far (checkpoints/best, weights only). head_meta goes into head.json.

    Called on every rank; only rank 0 writes, except that under FSDP (a sharded module) every rank
    writes its shards of a step checkpoint (checkpoint.sharded) and takes part in gathering the
    full weights for rank 0."""

    def __init__(self, run_dir: Path, module: nn.Module, head_meta: dict, strategy=None, optimizer=None,
                 keep: int | None = None, world=None):
        self.run_dir, self.module, self.head_meta = run_dir, module, head_meta
        self.strategy, self.optimizer, self.keep = strategy, optimizer, keep
        self.is_main = world is None or world.is_main

    def __call__(self, state, best: bool) -> None:
        name = "best" if best else f"step_{state.step:06d}"
        if sharded.is_sharded(self.module):
            return self._save_sharded(state, name, best)
        if not self.is_main:
            return
        _check_finite(self.module.parameters(), state.step, name)
        if best:
            save_module_checkpoint(self.run_dir, name, self.module, self.head_meta, strategy=self.strategy,
                                   point_latest=False)
        else:
            save_module_checkpoint(self.run_dir, name, self.module, self.head_meta, strategy=self.strategy,
                                   optimizer=self.optimizer, state=state, keep=self.keep)

    def _save_sharded(self, state, name: str, best: bool) -> None:
        import torch.distributed as dist

        from warmstart.models import backbone_json

        root = Path(self.run_dir) / "checkpoints"
        if self.is_main:
            prepare_tmp(root, name)
        dist.barrier()  # the empty name.tmp/ exists before any rank writes into it
        opt_meta = None if best else sharded.save_sharded(root / f"{name}.tmp", self.module, self.optimizer)
        full = sharded.full_weights(self.module)  # every rank takes part; rank 0 receives the tensors
        if not self.is_main:
            return
        _check_finite(full.values(), state.step, name)
        parts = {part: {k[len(part) + 1:]: v for k, v in full.items() if k.startswith(part + ".")}
                 for part in ("backbone", "head")}
        jsons = {"backbone": backbone_json(self.module.backbone), "head": self.head_meta}
        if not best:
            jsons["optimizer"], jsons["state"] = opt_meta, state.to_json()
        save_checkpoint(root, name, parts, jsons, keep=None if best else self.keep, point_latest=not best,
                        prepared=True)


def _check_finite(tensors, step: int, name: str) -> None:
    # A finite loss and gradient can still produce non-finite weights (an LR far too large):
    # such weights are never written, so every checkpoint on disk stays usable.
    if not all(bool(torch.isfinite(sharded.local(p)).all()) for p in tensors):
        raise TrainingError(f"non-finite weights after step {step}; not writing checkpoint {name} "
                            "(lower optim.lr or set train.grad_clip)")


def load_module_weights(ckpt: Path, module: nn.Module, strategy=None) -> None:
    """Strictly load backbone and head weights into `module` (same architecture). A checkpoint
    with extra state (LoRA adapters) loads into a module that `strategy` has already prepared."""
    has_extra = (Path(ckpt) / f"{EXTRA_STATE}.safetensors").is_file()
    wants_extra = strategy is not None and bool(strategy.split_state(module.backbone)[1])
    if has_extra != wants_extra:
        raise CheckpointError(f"{ckpt}: LoRA adapters {'present' if has_extra else 'missing'} in the checkpoint "
                              f"but {'not ' if has_extra else ''}in the module (strategy.kind must match the run's)")
    if sharded.is_sharded(module):  # FSDP: every rank reads the full weights and keeps its shards
        sd = {f"{part}.{k}": v for part in ("backbone", "head") for k, v in load_tensors(ckpt, part).items()}
        sharded.load_full_weights(module, sd)
        return
    for part in ("backbone", "head"):
        sd = load_tensors(ckpt, part)
        if part == "backbone" and has_extra:
            sd = strategy.join_state(module.backbone, sd, load_tensors(ckpt, EXTRA_STATE))
        missing, unexpected = getattr(module, part).load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{ckpt}/{part}.safetensors: incompatible with this run's {part} "
                f"(missing {missing[:2]}, unexpected {unexpected[:2]})")
    aux = getattr(module, "aux", None)
    if aux is not None:
        aux.load_state_dict(load_tensors(ckpt, AUX))


def load_training_state(ckpt: Path, module: nn.Module, optimizer, strategy=None) -> None:
    """Weights and optimizer state of a step checkpoint, for a resume: from its shards (an FSDP run's
    checkpoint, onto any world size) or from its whole files. A plain checkpoint cannot resume an
    FSDP run (its optimizer state is not keyed by parameter name)."""
    meta = read_json(Path(ckpt) / "optimizer.json")
    if (Path(ckpt) / sharded.SHARDED).is_dir():
        sharded.load_sharded(ckpt, module, optimizer, meta)
        return
    if sharded.is_sharded(module):
        raise CheckpointError(f"{ckpt}: a checkpoint of a train.parallel=ddp (or one-process) run cannot resume "
                              "a train.parallel=fsdp run; resume it with train.parallel=ddp")
    load_module_weights(ckpt, module, strategy)
    optimizer.load_state_dict(unflatten_optimizer(load_tensors(ckpt, "optimizer"), meta))
