"""Objective sections: the pretraining objectives of the training loop (union Objective) and the
word-vector objectives, trained outside it (union WordVecObjective)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from warmstart.config.sections.base import Section
from warmstart.config.sections.data import Augment

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


def _nsp_mode(v):
    # YAML and --set give booleans (or their spellings) for the plain switch; true means BERT's task.
    if v is True or (isinstance(v, str) and v.lower() in ("true", "yes", "on")):
        return "next"
    if v is False or v is None or (isinstance(v, str) and v.lower() in ("false", "no")):
        return "off"
    return v


NSPMode = Annotated[Literal["off", "next", "sentence_order"], BeforeValidator(_nsp_mode)]


class CausalLMObjective(Section):
    kind: Literal["causal_lm"] = "causal_lm"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    loss_chunk: LossChunk = Field("auto", description=_LOSS_CHUNK)


class MaskedLMObjective(Section):
    kind: Literal["masked_lm"] = "masked_lm"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    mask_prob: float = Field(0.15, gt=0, lt=1, description="Fraction of real tokens selected for prediction.")
    mask_token_frac: float = Field(0.8, ge=0, le=1, description="Of selected tokens, fraction replaced by [MASK].")
    random_token_frac: float = Field(0.1, ge=0, le=1, description="Of selected tokens, fraction "
                                     "replaced by a random token.")
    loss_chunk: LossChunk = Field("auto", description=_LOSS_CHUNK)
    nsp: NSPMode = Field("off", description="A second, sentence-pair loss (BERT's next-sentence prediction): "
                         "inputs become [CLS] A [SEP] B [SEP] pairs of segments of (max_len - 3) // 2 tokens, B "
                         "with segment id 1, and a binary head on [CLS] (dense + tanh + linear) learns the pair's "
                         "label; loss = MLM + NSP. true/next = B is A's true continuation half the time, else a "
                         "random segment of another document (BERT); sentence_order = B follows A, or A and B are "
                         "swapped (ALBERT's SOP); off/false = plain MLM on packed blocks. Needs documents of at least "
                         "two segments (data.documents=runs for hebrew_corpus). The head is pretraining-only.")

    @model_validator(mode="after")
    def _check(self):
        if self.mask_token_frac + self.random_token_frac > 1:
            raise ValueError("mask_token_frac + random_token_frac must be <= 1")
        return self


class SpanCorruptionObjective(Section):
    """T5's span corruption for encoder-decoders: random spans of the input (noise_density of its tokens,
    spans of mean_noise_span_length on average) are each replaced by one sentinel token; the decoder
    predicts the sentinels followed by the dropped spans."""

    kind: Literal["span_corruption"] = "span_corruption"
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    noise_density: float = Field(0.15, gt=0, lt=1, description="Fraction of each block's tokens that are dropped "
                                 "(rounded; at least 1, and at least 1 kept).")
    mean_noise_span_length: float = Field(3.0, ge=1, description="Mean length of a dropped span, in tokens: a block "
                                          "of n tokens has round(n * noise_density / mean_noise_span_length) spans "
                                          "(at least 1).")


class DenoisingObjective(Section):
    """Denoising autoencoder: corrupt the input, reconstruct the clean input from the pooled features (MSE)."""

    kind: Literal["denoising"] = "denoising"
    modalities: ClassVar[tuple[str, ...]] = ("image", "vector")
    noise_std: float = Field(0.5, ge=0, description="Std of Gaussian noise added to the normalized input.")
    mask_prob: float = Field(0.25, ge=0, lt=1, description="Fraction of input values (pixels or "
                             "features) zeroed before encoding.")
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
    views: Augment | None = Field(None, description="Augmentation that makes each of the two views (null = the "
                                  "default for the data: shift 1, rotate 10 deg, zoom 0.9-1.1, erasing 0.5, noise "
                                  "0.1 for images; noise 0.1 and drop 0.2 for vectors).")


class SupervisedObjective(Section):
    """Supervised pretraining: a classification head on the source labels (the head is dropped when fine-tuning)."""

    kind: Literal["supervised"] = "supervised"
    modalities: ClassVar[tuple[str, ...]] = ("image", "vector")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout before the linear head.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")


Objective = Annotated[
    CausalLMObjective | MaskedLMObjective | DenoisingObjective | ContrastiveObjective | SupervisedObjective
    | SpanCorruptionObjective,
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
    max_vocab: int | None = Field(None, ge=1, description="Keep at most this many of the most "
                                  "frequent words (null = no cap).")
    lowercase: bool = Field(True, description="Lowercase text before splitting it into words.")
    epochs: int = Field(5, ge=1, description="Passes over the corpus.")
    workers: int = Field(2, ge=1, description="Worker threads: gensim's workers, or GloVe's lock-free "
                         "(Hogwild) training threads; 1 = reproducible.")
    seed: int | None = Field(None, ge=0, description="Seed of the initial vectors and sampling (null = run.seed).")
    analogy_vocab: int = Field(30000, ge=1, description="Analogy evaluation searches (and accepts questions "
                               "from) only this many most frequent words.")
    evaluate: bool = Field(True, description="Score the final vectors on WordSim353, SimLex-999 "
                           "and the Google analogies (eval.json).")


class _Gensim(_WordVectors):
    """Fields of the two gensim-trained objectives (negative sampling, linearly decaying LR)."""

    arch: Literal["skipgram", "cbow"] = Field("skipgram", description="skipgram predicts the context from the word; "
                                              "cbow the word from its averaged context.")
    negative: int = Field(5, ge=1, description="Negative samples per positive (context) pair.")
    ns_exponent: float = Field(0.75, description="Negatives are drawn from unigram counts ** ns_exponent.")
    sample: float = Field(1e-3, ge=0, description="Downsampling threshold for frequent words (0 = off).")
    lr: float = Field(0.025, gt=0, description="Initial learning rate (gensim's alpha); "
                      "decays linearly to min_lr over the run.")
    min_lr: float = Field(1e-4, ge=0, description="Final learning rate (gensim's min_alpha).")

    @model_validator(mode="after")
    def _check_lr(self):
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= lr ({self.lr})")
        return self


class Word2VecObjective(_Gensim):
    """word2vec (skip-gram or CBOW with negative sampling), trained by gensim."""

    kind: Literal["word2vec"] = "word2vec"
    compute_loss: bool = Field(True, description="Track the training loss per epoch (a few percent "
                               "slower); false = loss is null in metrics.jsonl.")


class FastTextObjective(_Gensim):
    """fastText: word2vec whose word vectors are sums of character n-gram vectors, trained by gensim.

    gensim computes no training loss for fastText, so metrics.jsonl reports loss as null."""

    kind: Literal["fasttext"] = "fasttext"
    min_n: int = Field(3, ge=1, description="Shortest character n-gram (words are wrapped in < and >).")
    max_n: int = Field(6, ge=0, description="Longest character n-gram (0 or < min_n = no n-grams: plain word2vec).")
    bucket: int = Field(200_000, ge=1, description="Hash buckets for n-gram vectors (gensim's default "
                        "2,000,000 takes 800 MB at d_model=100).")


class GloVeObjective(_WordVectors):
    """GloVe (Pennington et al. 2014), implemented with PyTorch: count distance-weighted co-occurrences,
    then fit w_i . w~_j + b_i + b~_j = log X_ij by weighted least squares with AdaGrad."""

    kind: Literal["glove"] = "glove"
    window: int = Field(10, ge=1, description="Context words on each side; a pair d words apart counts 1/d.")
    epochs: int = Field(20, ge=1, description="Passes over the non-zero co-occurrence cells.")
    symmetric: bool = Field(True, description="Count context on both sides (false = left "
                            "context only, as GloVe's -symmetric 0).")
    x_max: float = Field(10.0, gt=0, description="Weighting f(x) = (x / x_max) ** alpha, capped at 1 for x >= x_max. "
                         "The paper used 100 on billions of words; 10 (GloVe's demo.sh) suits corpora of millions "
                         "of words, whose counts are small.")
    alpha: float = Field(0.75, gt=0, description="Exponent of the weighting function.")
    lr: float = Field(0.05, gt=0, description="AdaGrad initial learning rate (GloVe's eta).")
    batch_size: int = Field(4096, ge=1, description="Co-occurrence cells per AdaGrad step.")


WordVecObjective = Annotated[Word2VecObjective | FastTextObjective | GloVeObjective, Field(discriminator="kind")]
