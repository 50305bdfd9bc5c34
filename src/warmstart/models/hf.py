"""A local Hugging Face model directory (config.json + safetensors) as a Backbone.

Used to continue pretraining or fine-tune an existing checkpoint. Never touches the hub: loading is
`local_files_only=True`, and a missing or incompatible directory is a one-line CheckpointError.
Loading is quiet: instead of transformers' load report and progress bars, the backbone carries one
line of ours (load_summary: class, params, unexpected/missing key counts) for the workflow to say.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from torch import nn

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


def _bare_encoder_decoder(path: Path, config):
    """(bare model, its pretrained output weights (V, D) as encdec.output_init takes them, loading
    info) of a local encoder-decoder LM directory (T5, BART): loaded as AutoModelForSeq2SeqLM, whose
    bare model (embeddings, encoder, decoder) becomes the backbone and whose lm_head (times T5's
    output scale when tied) starts a seq2seq task's output layer."""
    from transformers import AutoModelForSeq2SeqLM

    from warmstart.encdec import output_scale

    lm, info = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True, output_loading_info=True)
    weight = lm.get_output_embeddings().weight.detach().clone() * output_scale(lm.config)
    inner = getattr(lm, lm.base_model_prefix, None)
    if isinstance(inner, nn.Module) and inner is not lm:  # BART: lm.model
        return inner, weight, info
    bare = model_from_config(lm.config)  # T5: shared/encoder/decoder at the top level of the LM
    state = {k: v for k, v in lm.state_dict().items() if not k.startswith("lm_head.")}
    bare.load_state_dict(state, strict=True)
    return bare, weight, info


class HFBackbone(TransformerBackbone):
    kind = "hf"
    load_summary: str | None = None  # load_line's line; workflows say it (models/ prints nothing)
    output_weight = None  # an encoder-decoder's pretrained output layer (V, D), for a seq2seq task's head

    @classmethod
    def load(cls, path: str | Path, pretrained_weights: bool = True) -> "HFBackbone":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
        from transformers import AutoConfig, AutoModel

        try:
            with _quiet_transformers():
                config = AutoConfig.from_pretrained(path, local_files_only=True)
                output_weight = None
                if pretrained_weights and getattr(config, "is_encoder_decoder", False):
                    model, output_weight, info = _bare_encoder_decoder(path, config)
                elif pretrained_weights:
                    kwargs = {"add_pooling_layer": False} if config.model_type == "bert" else {}
                    model, info = AutoModel.from_pretrained(path, local_files_only=True, output_loading_info=True,
                                                            **kwargs)
                else:
                    model, info = model_from_config(config), None
        except (OSError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{path}: cannot load the model: {first}") from None
        backbone = cls(model)
        backbone.output_weight = output_weight
        backbone.load_summary = load_line(path, model, info)
        return backbone

    @classmethod
    def tiny(cls) -> "HFBackbone":
        return cls(TransformerBackbone.tiny("bert").model)
