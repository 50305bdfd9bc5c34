"""Quiet loading of a local Hugging Face model: transformers' multi-line load report and weight-loading
progress bars stay silent; the workflow says one line of ours (class, params, unexpected/missing keys)."""

from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from warmstart.config.schema import FinetuneConfig
from warmstart.inputs import open_inputs
from warmstart.workflows.common import backbone_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WORDS = ["great", "bad", "movie", "the", "was", "good", "awful", "plot"]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny BERT saved with its pooler (which we do not load: 2 unexpected keys) and a WordPiece tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("hf")
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(str(path))
    BertModel(BertConfig(vocab_size=13, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=32)).save_pretrained(str(path))
    return path


def load_quietly(path, capfd, pretrained_weights=True):
    cfg = FinetuneConfig.model_validate({
        "run": {"name": "x", "out_dir": str(path.parent / "runs")},
        "data": {"kind": "labeled_text", "path": str(FIXTURES / "reviews.csv"), "max_len": 16},
        "model": {"kind": "hf", "path": str(path), "pretrained_weights": pretrained_weights}})
    inputs = open_inputs(cfg.data)
    capfd.readouterr()  # what building the fixture printed is not ours to judge
    backbone, _ = backbone_for(cfg, path.parent, inputs, [], None, say=print)
    out, err = capfd.readouterr()
    return backbone, out, err


def test_loading_says_one_line(hf_dir, capfd):
    backbone, out, err = load_quietly(hf_dir, capfd)
    n = sum(p.numel() for p in backbone.parameters())
    assert err == ""
    assert out == f"model: BertModel from {hf_dir} ({n:,} params); keys: 2 unexpected (not used: " \
                  "pooler.dense.bias, ...), 0 missing\n"


def test_missing_and_unexpected_keys_are_counted(hf_dir, tmp_path, capfd):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(hf_dir, broken)
    weights = load_file(str(broken / "model.safetensors"))
    dropped = sorted(k for k in weights if k.startswith("encoder.layer.0.output."))
    weights = {k: v for k, v in weights.items() if k not in dropped}
    weights["extra.weight"] = weights["embeddings.word_embeddings.weight"].clone()
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})

    _, out, err = load_quietly(broken, capfd)
    assert err == "" and out.count("\n") == 1
    assert f"keys: 3 unexpected (not used: extra.weight, ...), {len(dropped)} missing (randomly initialized: " \
           f"{dropped[0]}, ...)" in out


def test_architecture_only_says_random_weights(hf_dir, capfd):
    _, out, err = load_quietly(hf_dir, capfd, pretrained_weights=False)
    assert err == "" and out.count("\n") == 1 and out.rstrip().endswith("random weights (its architecture only)")


def test_transformers_verbosity_is_restored(hf_dir, capfd):
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    load_quietly(hf_dir, capfd)
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == (level, bars)
