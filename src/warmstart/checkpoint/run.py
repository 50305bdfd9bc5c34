"""Save and restore whole training checkpoints of a module (backbone + head + optimizer + state).

Files: backbone.safetensors + backbone.json (what pretraining hands to fine-tuning),
head.safetensors + head.json (objective or task head and its facts, e.g. the label list),
optimizer.safetensors + optimizer.json, state.json (TrainState), and adapter.safetensors for a
LoRA run (backbone.safetensors then keeps the base weights under their original names).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from warmstart.checkpoint.io import (
    flatten_optimizer,
    load_tensors,
    read_json,
    save_checkpoint,
    unflatten_optimizer,
)
from warmstart.errors import CheckpointError


def save_module_checkpoint(run_dir: Path, name: str, module: nn.Module, head_meta: dict, *,
                           optimizer=None, state=None, keep: int | None = None, point_latest: bool = True) -> Path:
    from warmstart.models import backbone_json
    from warmstart.strategies.lora import split_state

    base, adapter = split_state(module.backbone)
    tensors = {"backbone": base, "head": module.head.state_dict()}
    if adapter:
        tensors["adapter"] = adapter
    jsons = {"backbone": backbone_json(module.backbone), "head": head_meta}
    if optimizer is not None:
        opt_tensors, opt_meta = flatten_optimizer(optimizer.state_dict())
        tensors["optimizer"] = opt_tensors
        jsons["optimizer"] = opt_meta
    if state is not None:
        jsons["state"] = state.to_json()
    return save_checkpoint(Path(run_dir) / "checkpoints", name, tensors, jsons, keep=keep, point_latest=point_latest)


def load_module_weights(ckpt: Path, module: nn.Module) -> None:
    """Strictly load backbone and head weights into `module` (same architecture). A LoRA
    checkpoint's adapters load into a module whose backbone already has the LoRA layers."""
    from warmstart.strategies.lora import join_state, lora_layers

    has_adapter = (Path(ckpt) / "adapter.safetensors").is_file()
    if has_adapter != bool(lora_layers(module.backbone)):
        raise CheckpointError(f"{ckpt}: LoRA adapters {'present' if has_adapter else 'missing'} in the checkpoint "
                              f"but {'not ' if has_adapter else ''}in the module (strategy.kind must match the run's)")
    for part in ("backbone", "head"):
        sd = load_tensors(ckpt, part)
        if part == "backbone" and has_adapter:
            sd = join_state(module.backbone, sd, load_tensors(ckpt, "adapter"))
        missing, unexpected = getattr(module, part).load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{ckpt}/{part}.safetensors: incompatible with this run's {part} "
                f"(missing {missing[:2]}, unexpected {unexpected[:2]})")


def load_optimizer(ckpt: Path, optimizer) -> None:
    optimizer.load_state_dict(unflatten_optimizer(load_tensors(ckpt, "optimizer"), read_json(Path(ckpt) / "optimizer.json")))
