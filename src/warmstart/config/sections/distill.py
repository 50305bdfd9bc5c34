"""Distillation sections: the student's starting point (StudentSection) and how it learns from the
teacher (DistillSection: the loss weights, the temperature, where the teacher's outputs come from
and the transfer set of unlabeled examples the teacher labels)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from warmstart.config.sections.base import Section
from warmstart.config.sections.models import Model, Tokenizer


class StudentSection(Section):
    """Where the student's backbone starts: an architecture (`model`, e.g. a smaller transformer; with
    no tokenizer it uses the teacher's), a warmstart pretraining run (`init`), or a local Hugging Face
    directory (`model: {kind: hf, path: DIR}`)."""

    init: str | None = Field(None, description="A warmstart pretraining run or checkpoint directory to start from.")
    init_weights: Literal["pretrained", "random"] = Field(
        "pretrained", description="random = init's architecture and tokenizer, freshly initialized.")
    model: Model | None = Field(None, description="The student's architecture when not starting from init.")
    tokenizer: Tokenizer | None = Field(None, description="The student's tokenizer (default: init's or "
                                        "model.path's; for a model.kind=transformer student, the teacher's).")

    @model_validator(mode="after")
    def _check(self):
        if (self.init is None) == (self.model is None):
            raise ValueError("give exactly one of init (a run to start from) or model (an architecture)")
        return self


class DistillSection(Section):
    """Loss = alpha * task loss (labeled examples only) + (1 - alpha) * T^2 * KL(teacher || student) on
    logits softened by temperature T (regression: squared error to the teacher's prediction), plus
    hidden_weight * MSE(projection(student features), teacher features)."""

    alpha: float = Field(0.5, ge=0, le=1, description="Weight of the task loss on true labels; 1 - alpha "
                         "weighs the match to the teacher. Unlabeled transfer examples get only the latter.")
    temperature: float = Field(2.0, gt=0, description="Softmax temperature T of both logits in the KL term "
                               "(scaled by T^2 so its gradients keep their size as T changes).")
    hidden_weight: float = Field(0.0, ge=0, description="Weight of the feature-matching term: MSE between the "
                                 "student's pooled features, through a learned linear projection, and the "
                                 "teacher's (0 = off).")
    teacher_outputs: Literal["auto", "cache", "online"] = Field(
        "auto", description="cache = the frozen teacher labels every training example once before training; "
        "online = every batch (needed for augmented data; the student then shares the teacher's tokenizer or "
        "normalizer); auto = online when the training data is augmented, else cache.")
    transfer: Literal["labeled", "pool"] = Field(
        "pool", description="Training examples besides the labeled ones: pool = the rest of the training pool "
        "with its labels hidden (the teacher labels it: distillation saves labels); labeled = none.")
    transfer_corpus: str | None = Field(None, description="Extra unlabeled text for the transfer set: a corpus "
                                        "file or folder (as data.kind=corpus reads it). Text only.")
    transfer_field: str = Field("text", description="JSON field or CSV column of transfer_corpus's text.")
    max_transfer: int | None = Field(None, ge=1, description="Cap on unlabeled transfer examples (a seeded "
                                     "sample by run.seed; null = all).")


class LMDistillSection(Section):
    """LM distillation (a causal-LM pretraining run as the teacher): per next-token position, loss =
    alpha * LM cross-entropy + (1 - alpha) * T^2 * KL(teacher || student) on the softened token logits."""

    alpha: float = Field(0.5, ge=0, le=1, description="Weight of the student's own LM loss on the corpus tokens; "
                         "1 - alpha weighs the match to the teacher's next-token distributions.")
    temperature: float = Field(2.0, gt=0, description="Softmax temperature T of both token logits in the KL term "
                               "(scaled by T^2).")
    lm_twin: bool = Field(True, description="Also train the same student with the LM loss alone (same init, data, "
                          "steps) into RUN-lm_twin, and record both validation perplexities in result.json.")
