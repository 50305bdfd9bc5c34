"""Section, the base of every config section, and RunSection, the `run` section every verb has."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base for every config section: immutable, and unknown keys are errors (typos fail)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RunSection(Section):
    name: str = Field("run", min_length=1, description="Run name; the run directory is out_dir/name.")
    out_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, ge=0, description="Seed for weights init, data order, dropout and label-budget sampling.")
