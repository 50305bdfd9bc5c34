"""Fine-tuning sections: the tasks (union Task: the head and its loss) and the strategies (union Strategy:
which parameters train, at which learning rates)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from warmstart.config.sections.base import Section

# --------------------------------------------------------------------------------------- tasks

Pooling = Literal["mean", "cls", "last", "native"]


class ClassificationTask(Section):
    kind: Literal["classification"] = "classification"
    pooling: Pooling | None = Field(None, description="How to pool tokens: mean, cls (first) or last; "
                                    "default: mean for encoders, last for decoders. native: the architecture's "
                                    "own head (bert: [CLS] -> tanh pooler -> linear; gpt2: last token -> linear, "
                                    "no bias or dropout), so `export --format hf` writes a transformers classifier.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the linear head.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")
    class_weights: dict[str, float] | Literal["balanced"] | None = Field(
        None, description="Per-class loss weights: {label: weight} (unlisted labels weigh 1), 'balanced' "
        "(n / (n_classes * count) over the training split), or null = unweighted.")
    multilabel: bool = Field(False, description="Each example has a set of labels (binary cross-entropy "
                             "per label, sigmoid outputs).")
    label_sep: str = Field("|", min_length=1, description="Multi-label only: separator between the labels "
                           "of one example, e.g. 'sports|politics'.")

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
    huber_delta: float = Field(1.0, gt=0, description="Huber loss: quadratic below this error, linear "
                               "above (in z-scored units when standardize).")
    standardize: bool = Field(True, description="Train on z-scored targets (statistics from the "
                              "training split); metrics are in original units.")


class TokenClassificationTask(Section):
    """A tag per word (NER, POS): token features -> linear head -> cross-entropy on each word's first
    subword; scored on entities (seqeval strict mode) and on words."""

    kind: Literal["token_classification"] = "token_classification"
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the linear head.")
    label_all_subtokens: bool = Field(False, description="Train on every subword of a word, not just the first "
                                      "(later subwords of a B- word get I-); scoring always reads first subwords.")


class ExtractiveQATask(Section):
    """Extractive QA (SQuAD): token features -> a start and an end logit per position; the answer is the
    best-scoring context span, or "no answer" (data with unanswerable questions) when [CLS] beats it by more
    than the threshold. Scored with SQuAD exact match and F1."""

    kind: Literal["extractive_qa"] = "extractive_qa"
    n_best: int = Field(20, ge=1, description="Start and end candidates per window that are paired into spans "
                        "(and the length of the n-best list).")
    max_answer_len: int = Field(30, ge=1, description="Longest answer, in tokens.")
    no_answer_threshold: float = Field(0.0, description="Answer \"no answer\" when the null score ([CLS] start + "
                                       "end logit) exceeds the best span's score by more than this (data with "
                                       "unanswerable questions only).")
    tune_threshold: bool = Field(True, description="Fit no_answer_threshold on the validation set at every "
                                 "evaluation (the SQuAD v2 script's best-F1 threshold); the checkpoint keeps it.")


class SFTTask(Section):
    """Instruction tuning of a causal LM: next-token loss on the completion (and EOS) only; evaluate and
    predict generate completions (greedy) and score them against the references."""

    kind: Literal["sft"] = "sft"
    template: Literal["auto", "chat", "plain"] = Field(
        "auto", description="How records become text: chat = the tokenizer's chat template (apply_chat_template); "
        "plain = warmstart's plain template (README); auto = chat when the tokenizer has a template, else plain for "
        "prompt/completion records (chat `messages` then need template: plain).")
    train_on_prompt: bool = Field(False, description="Also train on the prompt tokens (default: loss on the "
                                  "completion and its EOS only).")
    max_new_tokens: int = Field(32, ge=1, description="Most tokens generated per completion (evaluate, predict).")
    metric: Literal["exact_match", "chrf", "rouge_l"] = Field(
        "chrf", description="Headline metric of generated completions: exact_match for short answers (labels, "
        "numbers), chrf (character F-score, 0-100) for free text; rouge_l is reported too.")


class Seq2SeqGeneration(Section):
    """How a seq2seq task generates (evaluate, predict, and its validation during training)."""

    num_beams: int = Field(1, ge=1, description="1 = greedy decoding; more = beam search with this many beams.")
    max_new_tokens: int = Field(64, ge=1, description="Longest output, in tokens (the end-of-sequence token "
                                "stops it earlier).")


class Seq2SeqTask(Section):
    """Text-to-text with an encoder-decoder (T5, BART): teacher-forced cross-entropy on the target tokens; the
    output layer is the task head (started from the model's output embeddings); evaluated on generated text
    (exact match, chrF, ROUGE-L)."""

    kind: Literal["seq2seq"] = "seq2seq"
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing on target tokens.")
    generation: Seq2SeqGeneration = Field(Seq2SeqGeneration(), description="Decoding settings.")


Task = Annotated[ClassificationTask | RegressionTask | TokenClassificationTask | ExtractiveQATask | Seq2SeqTask
                 | SFTTask, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------- strategies

# The head_lr field every strategy has. A shared type, not a shared base class: pydantic puts inherited
# fields first, and head_lr comes after the strategy's own fields in most strategies (an order that shows
# in `warmstart config explain`, in saved configs and in the order of validation errors).
_HeadLR = Annotated[float | None, Field(gt=0, description="LR of the head (default: optim.lr).")]


class FullStrategy(Section):
    kind: Literal["full"] = "full"
    head_lr: _HeadLR = None


class LinearProbeStrategy(Section):
    kind: Literal["linear_probe"] = "linear_probe"
    head_lr: _HeadLR = None
    freeze_norm_stats: bool = Field(True, description="Keep the frozen backbone in eval mode "
                                    "(no dropout, fixed norm statistics).")
    cache_features: bool = Field(True, description="Compute the frozen backbone's pooled features once per "
                                 "split and train the head on them (cached in <run.out_dir>/.cache/features, "
                                 "shared by the cells of a compare); needs freeze_norm_stats, a classification "
                                 "or regression task and no augmentation. Same metrics as false.")


class PartialStrategy(Section):
    """The top k layer groups of the backbone and the head train; the rest is frozen."""

    kind: Literal["partial"] = "partial"
    n_groups: int = Field(1, ge=0, description="How many layer groups, counted from the top (output side), train.")
    head_lr: _HeadLR = None


class DiscriminativeStrategy(Section):
    """Layer-wise LR decay: layer group i of n gets optim.lr * decay^(n-1-i); the head its own LR."""

    kind: Literal["discriminative"] = "discriminative"
    decay: float = Field(0.8, gt=0, le=1, description="LR ratio between a layer group and the one above it.")
    head_lr: _HeadLR = None


class GradualUnfreezeStrategy(Section):
    """ULMFiT: start with only the head training, unfreeze one layer group from the top per epoch (or per N steps)."""

    kind: Literal["gradual_unfreeze"] = "gradual_unfreeze"
    every_steps: int | None = Field(None, ge=1, description="Unfreeze the next group every N optimizer "
                                    "steps (null = every epoch).")
    decay: float = Field(1.0, gt=0, le=1, description="Layer-wise LR decay as in discriminative "
                         "(1 = one LR for all groups).")
    head_lr: _HeadLR = None


class LoRAStrategy(Section):
    """LoRA adapters (peft) on the backbone's linear layers; the base is frozen, adapters and head train."""

    kind: Literal["lora"] = "lora"
    r: int = Field(8, ge=1, description="Adapter rank.")
    alpha: float = Field(16.0, gt=0, description="Scaling numerator: the adapter update is scaled by alpha / r.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt (peft matching, e.g. [query, value] for "
        "bert, [c_attn] for gpt2), or all-linear.")
    train_norms: bool = Field(False, description="Also train the backbone's normalization layers (LayerNorm / "
                              "RMSNorm weights and biases: a few thousand parameters). Lets the adapters rescale "
                              "the features, which a model whose output layer is its frozen tied embeddings "
                              "(sft on a small decoder) cannot do otherwise.")
    head_lr: _HeadLR = None


Strategy = Annotated[
    FullStrategy | LinearProbeStrategy | PartialStrategy | DiscriminativeStrategy | GradualUnfreezeStrategy
    | LoRAStrategy,
    Field(discriminator="kind"),
]

