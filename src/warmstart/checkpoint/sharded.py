"""Sharded checkpoints of an FSDP run, through torch.distributed.checkpoint (DCP).

A step checkpoint of a train.parallel=fsdp run holds, besides the usual files:
  sharded/shard-0000R-model-00001-of-00001.safetensors  - rank R's shards of every parameter and of
      the optimizer state (DCP's Hugging Face storage: safetensors, offsets in each file's header,
      so nothing is pickled), written by all ranks at once; a resume on any world size (one
      process included) reshards them on load;
  backbone.safetensors / head.safetensors - the consolidated (full) weights, gathered to rank 0,
      so evaluate, predict, export and fine-tuning read an FSDP run like any other;
  optimizer.json - the optimizer's param_groups and non-tensor state (its tensors are in sharded/).
Rank 0 writes the manifest last over all of them, so the atomicity rules of checkpoint.io hold.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from warmstart.checkpoint.io import flatten_optimizer, unflatten_optimizer

SHARDED = "sharded"
_MODEL, _OPTIM = "model/", "optim/"


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kw)


def _storage(t: torch.Tensor) -> int:
    return local(t).untyped_storage().data_ptr()


def _dedup(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`sd` with each storage once (tied parameters, e.g. an LM head sharing the token embeddings)."""
    out, seen = {}, set()
    for k, v in sd.items():
        if _storage(v) not in seen:
            seen.add(_storage(v))
            out[k] = v
    return out


def _flat(module: nn.Module, optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Model and optimizer state as one flat dict of (sharded) tensors for DCP, plus the optimizer's
    JSON-able rest. Tied parameters (GPT-2's LM head = its token embeddings) are stored once."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    msd, osd = get_state_dict(module, optimizer)  # fills an empty optimizer's state (a zero-LR step) to load into
    tensors, meta = flatten_optimizer(osd, prefix=_OPTIM, sep="/")  # parameter names contain dots
    return {**{_MODEL + k: v for k, v in _dedup(msd).items()}, **tensors}, meta


def save_sharded(ckpt: Path, module: nn.Module, optimizer) -> dict:
    """Every rank writes its shards of the model and optimizer state under ckpt/sharded (a collective).
    Returns the optimizer's JSON-able part (param_groups, non-tensor state) for optimizer.json."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageWriter

    flat, meta = _flat(module, optimizer)
    dcp.save(flat, storage_writer=HuggingFaceStorageWriter(str(Path(ckpt) / SHARDED), save_distributed=True))
    return meta


def load_sharded(ckpt: Path, module: nn.Module, optimizer=None, meta: dict | None = None) -> None:
    """Restore the weights (and, with `optimizer` and its optimizer.json `meta`, the optimizer state) of a
    sharded checkpoint onto this world: any size, one process included (DCP reshards on load)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import HuggingFaceStorageReader
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    if optimizer is None:
        flat = {_MODEL + k: v for k, v in _dedup(module.state_dict()).items()}
    else:
        flat, _ = _flat(module, optimizer)
    with warnings.catch_warnings():  # one process without a process group is a case we mean, not a mistake
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(flat, storage_reader=HuggingFaceStorageReader(str(Path(ckpt) / SHARDED)))
    msd = {k[len(_MODEL):]: v for k, v in flat.items() if k.startswith(_MODEL)}
    if optimizer is None:
        set_model_state_dict(module, msd, options=_options(strict=False))
        return
    set_state_dict(module, optimizer, model_state_dict=msd,
                   optim_state_dict=unflatten_optimizer(flat, meta, prefix=_OPTIM, sep="/"),
                   options=_options(strict=False))


def full_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """The whole module's unsharded state dict on rank 0's CPU ({} on other ranks); a collective."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(module, options=_options(full_state_dict=True, cpu_offload=True))


def load_full_weights(module: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Load a whole-module state dict (full tensors, read by every rank) into a sharded module."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(module, sd, options=_options(full_state_dict=True, strict=True))


def local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor (a parameter shard), anything else as it is."""
    return t.to_local() if hasattr(t, "to_local") else t


def is_sharded(module: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)
