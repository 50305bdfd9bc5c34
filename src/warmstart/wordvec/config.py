"""Config sections for word-vector pretraining (word2vec, fastText, GloVe) and for the embedding-table
backbone that fine-tuning builds on top of such vectors.

Like config/schema.py this module imports no torch and no gensim, so validation stays instant. The
integrator adds the three objective sections to the `Objective` union and `EmbeddingModel` to the
`Model` union; the Literal kinds equal the keys of `warmstart.wordvec.TRAINERS` and the backbone key
`embedding`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from warmstart.config.schema import Section


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


WORDVEC_KINDS: tuple[str, ...] = ("word2vec", "fasttext", "glove")
WordVecObjective = Word2VecObjective | FastTextObjective | GloVeObjective


class EmbeddingModel(Section):
    """A text classifier backbone on a token-embedding table: mean of the embeddings (bag of words),
    or a small CNN or BiLSTM over them; the table can start from a word-vector run."""

    kind: Literal["embedding"] = "embedding"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    encoder: Literal["mean", "cnn", "bilstm"] = Field("mean", description="mean = bag of embeddings; cnn = 1-d convolutions + max over time; bilstm = BiLSTM + max over time.")
    vectors: str | None = Field(None, description="A word-vector run directory (or .txt/.bin word2vec file) whose vectors initialize the table (null = random).")
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
