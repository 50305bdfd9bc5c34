"""A local Hugging Face model directory (config.json + safetensors) as a Backbone.

Used to continue pretraining or fine-tune an existing checkpoint. Never touches the hub: loading is
`local_files_only=True`, and a missing or incompatible directory is a one-line CheckpointError.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from warmstart.errors import CheckpointError
from warmstart.models.transformer import TransformerBackbone, model_from_config


@contextmanager
def _quiet_transformers():
    """Silence transformers' multi-line load report and weight-loading progress bars while loading:
    unexpected keys such as BERT's unused pooler are expected here (we load without the pooler)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


class HFBackbone(TransformerBackbone):
    kind = "hf"

    @classmethod
    def load(cls, path: str | Path, pretrained_weights: bool = True) -> "HFBackbone":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
        from transformers import AutoConfig, AutoModel

        try:
            with _quiet_transformers():
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
