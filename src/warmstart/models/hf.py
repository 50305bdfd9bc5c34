"""A local Hugging Face model directory (config.json + safetensors) as a Backbone.

Used to continue pretraining or fine-tune an existing checkpoint. Never touches the hub: loading is
`local_files_only=True`, and a missing or incompatible directory is a one-line CheckpointError.
"""

from __future__ import annotations

from pathlib import Path

from warmstart.errors import CheckpointError
from warmstart.models.transformer import TransformerBackbone, model_from_config


class HFBackbone(TransformerBackbone):
    kind = "hf"

    @classmethod
    def load(cls, path: str | Path, pretrained_weights: bool = True) -> "HFBackbone":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
        from transformers import AutoConfig, AutoModel

        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            if not pretrained_weights:
                return cls(model_from_config(config))
            kwargs = {"add_pooling_layer": False} if config.model_type == "bert" else {}
            model = AutoModel.from_pretrained(path, local_files_only=True, **kwargs)
        except (OSError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{path}: cannot load the model: {first}") from None
        return cls(model)

    @classmethod
    def tiny(cls) -> "HFBackbone":
        return cls(TransformerBackbone.tiny("bert").model)
