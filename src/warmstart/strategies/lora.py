"""LoRA via peft: adapters on the backbone's linear layers, base frozen; adapters and head train.

peft wraps each target layer as `<name>.base_layer` + `<name>.lora_A/lora_B`. Checkpoints hide
that wrapping: backbone.safetensors holds the base weights under their ORIGINAL names (so it
loads strictly into a plain backbone of the same architecture), and adapter.safetensors holds the
adapter weights on their own. Layers are found by module type (peft's LoraLayer) and weights are
split by module ownership, never by parameter-name substrings. `merge_lora` folds the adapters
into the base weights for export.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from warmstart.strategies.base import Strategy

if TYPE_CHECKING:
    from warmstart.config.schema import LoRAStrategy


def attach_lora(backbone: nn.Module, cfg: LoRAStrategy) -> None:
    """Inject LoRA layers into `backbone` in place and freeze everything but the adapters."""
    from peft import LoraConfig, inject_adapter_in_model

    backbone.requires_grad_(False)
    target = cfg.target_modules if isinstance(cfg.target_modules, str) else list(cfg.target_modules)
    config = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=target)
    with warnings.catch_warnings():
        # GPT-2's Conv1D stores weights transposed; peft detects it and says so.
        warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
        try:
            inject_adapter_in_model(config, backbone)
        except ValueError as e:  # e.g. no module matches target_modules
            from warmstart.errors import ConfigError

            raise ConfigError(f"strategy.target_modules: {str(e).splitlines()[0]}") from None
    if not lora_layers(backbone):
        from warmstart.errors import ConfigError

        raise ConfigError(f"strategy.target_modules={cfg.target_modules!r}: no layer of this backbone matched")


def lora_layers(backbone: nn.Module) -> dict[str, nn.Module]:
    """name -> peft LoRA layer inside `backbone` ({} when there are none)."""
    if "peft" not in sys.modules:  # nothing can have been injected, and peft is slow to import
        return {}
    from peft.tuners.lora import LoraLayer

    return {name: m for name, m in backbone.named_modules() if isinstance(m, LoraLayer)}


def adapter_params(backbone: nn.Module) -> list[nn.Parameter]:
    """The adapter parameters: those of LoRA layers that their wrapped base layer does not own."""
    out = []
    for layer in lora_layers(backbone).values():
        base = {id(p) for p in layer.get_base_layer().parameters()}
        out.extend(p for p in layer.parameters() if id(p) not in base)
    return out


def _renames(backbone: nn.Module) -> dict[str, str]:
    """Wrapped key of each base tensor -> its original key (`x.base_layer.weight` -> `x.weight`)."""
    out = {}
    for name, layer in lora_layers(backbone).items():
        wrapped = next(child for child, m in layer.named_children() if m is layer.get_base_layer())
        for key in layer.get_base_layer().state_dict():
            out[f"{name}.{wrapped}.{key}"] = f"{name}.{key}"
    return out


def split_state(backbone: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(base state under the original names, adapter state) of a backbone with or without LoRA."""
    sd = backbone.state_dict()
    layers = lora_layers(backbone)
    if not layers:
        return sd, {}
    renames = _renames(backbone)
    inside = tuple(f"{name}." for name in layers)
    base, adapter = {}, {}
    for key, value in sd.items():
        if key in renames:
            base[renames[key]] = value
        elif key.startswith(inside):  # owned by a LoRA layer but not by its base layer
            adapter[key] = value
        else:
            base[key] = value
    return base, adapter


def join_state(backbone: nn.Module, base: dict[str, torch.Tensor],
               adapter: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of split_state: a state dict that loads strictly into the LoRA-wrapped backbone."""
    original = {v: k for k, v in _renames(backbone).items()}
    return {**{original.get(k, k): v for k, v in base.items()}, **adapter}


@torch.no_grad()
def merge_lora(backbone: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight (W += scale * B @ A) and put the plain base layer
    back, so the backbone has its original structure and names again."""
    for name, layer in lora_layers(backbone).items():
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(backbone.get_submodule(parent_name) if parent_name else backbone, child, layer.get_base_layer())
    return backbone


def norm_params(backbone: nn.Module) -> list[nn.Parameter]:
    """The parameters of the backbone's normalization layers (LayerNorm, and RMSNorm-style layers such as
    T5's, recognised by class name), in module order."""
    out = []
    for m in backbone.modules():
        if isinstance(m, nn.LayerNorm | nn.RMSNorm) or type(m).__name__.endswith(("LayerNorm", "RMSNorm")):
            out.extend(m.parameters(recurse=False))
    return out


class LoRA(Strategy):
    def prepare(self, module: nn.Module) -> None:
        attach_lora(module.backbone, self.cfg)
        if self.cfg.train_norms:  # trained in place: they stay in the base state the checkpoint saves
            for p in norm_params(module.backbone):
                p.requires_grad_(True)

    def split_state(self, backbone: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return split_state(backbone)

    def join_state(self, backbone: nn.Module, base: dict[str, torch.Tensor],
                   extra: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return join_state(backbone, base, extra)

    def merge(self, backbone: nn.Module) -> nn.Module:
        return merge_lora(backbone)

    def param_groups(self, module: nn.Module, lr: float) -> list[dict]:
        groups = [{"name": "adapters", "params": adapter_params(module.backbone), "lr": lr}]
        if self.cfg.train_norms:
            groups.append({"name": "norms", "params": norm_params(module.backbone), "lr": lr})
        return [*groups, {"name": "head", "params": list(module.head.parameters()), "lr": self.cfg.head_lr or lr}]
