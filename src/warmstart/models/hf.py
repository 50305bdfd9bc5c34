"""A local Hugging Face model directory (config.json + safetensors) as a Backbone.

Used to continue pretraining or fine-tune an existing checkpoint. Never touches the hub: loading is
`local_files_only=True`, and a missing or incompatible directory is a one-line CheckpointError.
Loading is quiet: instead of transformers' load report and progress bars, the backbone carries one
line of ours (load_summary: class, params, unexpected/missing key counts) for the workflow to say.
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


def load_line(path: Path, model, info: dict | None) -> str:
    """One line about a loaded HF model: its class, folder and size, and how its weights fit it
    (`info`: from_pretrained's loading info; None = the architecture only, random weights)."""
    n = sum(p.numel() for p in model.parameters())
    head = f"model: {type(model).__name__} from {path} ({n:,} params)"
    if info is None:
        return f"{head}, random weights (its architecture only)"

    def counted(key: str, what: str) -> str:  # "2 unexpected (not used: pooler.dense.bias, ...)"
        keys = sorted(info.get(key) or [])
        shown = f" ({what}: {keys[0]}{', ...' if len(keys) > 1 else ''})" if keys else ""
        return f"{len(keys)} {key.split('_')[0]}{shown}"

    parts = [counted("unexpected_keys", "not used"), counted("missing_keys", "randomly initialized")]
    if info.get("mismatched_keys"):
        parts.append(counted("mismatched_keys", "another shape"))
    return f"{head}; keys: " + ", ".join(parts)


class HFBackbone(TransformerBackbone):
    kind = "hf"
    load_summary: str | None = None  # load_line's line; workflows say it (models/ prints nothing)

    @classmethod
    def load(cls, path: str | Path, pretrained_weights: bool = True) -> "HFBackbone":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
        from transformers import AutoConfig, AutoModel

        try:
            with _quiet_transformers():
                config = AutoConfig.from_pretrained(path, local_files_only=True)
                if pretrained_weights:
                    kwargs = {"add_pooling_layer": False} if config.model_type == "bert" else {}
                    model, info = AutoModel.from_pretrained(path, local_files_only=True, output_loading_info=True,
                                                            **kwargs)
                else:
                    model, info = model_from_config(config), None
        except (OSError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{path}: cannot load the model: {first}") from None
        backbone = cls(model)
        backbone.load_summary = load_line(path, model, info)
        return backbone

    @classmethod
    def tiny(cls) -> "HFBackbone":
        return cls(TransformerBackbone.tiny("bert").model)
