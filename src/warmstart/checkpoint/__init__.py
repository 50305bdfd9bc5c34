"""Checkpoints and run-directory files: atomic safetensors + JSON writes, manifest-last, HF export."""

from warmstart.checkpoint.io import (
    flatten_optimizer,
    latest_checkpoint,
    load_tensors,
    read_json,
    resolve_checkpoint,
    save_checkpoint,
    unflatten_optimizer,
    write_json_atomic,
)

__all__ = [
    "flatten_optimizer", "latest_checkpoint", "load_tensors", "read_json", "resolve_checkpoint",
    "save_checkpoint", "unflatten_optimizer", "write_json_atomic",
]
