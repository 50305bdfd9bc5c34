"""distill: a student fine-tuned on a task with a finished fine-tune run as its teacher.

The student run is an ordinary fine-tune run (config.json holds the student's fine-tune config, the
teacher and the distillation settings in its lineage), trained by finetune's own workflow and loop
(workflows.finetune._finetune with a DistillPlan), so evaluate, predict, export, quantize, compare
and --resume take it unchanged. The plan checks the teacher against the student's task and labels,
builds the training set (the labeled examples plus the unlabeled transfer set: the rest of the
training pool with its labels hidden, and/or a text corpus) and labels it with the frozen teacher,
once per example (cache) or per batch (online, for augmented data).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from warmstart.checkpoint.io import read_json, resolve_checkpoint
from warmstart.config.schema import DistillConfig
from warmstart.errors import CheckpointError, ConfigError
from warmstart.inputs import Examples
from warmstart.runs import load_run_config
from warmstart.strategies import count_params
from warmstart.tasks.distillation import Distillation, teacher_outputs
from warmstart.tasks.regression import Regression
from warmstart.training.distributed import World, joined
from warmstart.workflows.common import evaluate_on, ordered_batches, quiet
from warmstart.workflows.finetune import _finetune, load_finetuned

# Data fields that fix the train/val/test split: a teacher trained on the same data under another split
# may have trained on the student's test examples.
SPLIT_FIELDS = ("split_seed", "val_frac", "test_frac")


def distill(cfg: DistillConfig, resume: bool = False, overwrite: bool = False, say=print) -> dict:
    """Train the student of `cfg` with its teacher; returns the student run's result.json contents
    (a fine-tune's, plus "distill": the teacher's test metrics on the same split, the transfer set size)."""
    plan = DistillPlan(cfg)
    check_resume_lineage(Path(cfg.run.out_dir) / cfg.run.name, plan.lineage(), resume, overwrite)
    with joined(cfg.train) as world:
        return _finetune(cfg.student_config(), resume, overwrite, say if world.is_main else quiet, world, distill=plan)


def check_resume_lineage(run_dir: Path, lineage: dict, resume: bool, overwrite: bool) -> None:
    """A distillation run resumes only with the teacher and distill section it started with (task or
    LM distillation: `lineage` is the plan's)."""
    if resume and not overwrite and (run_dir / "config.json").is_file():
        saved = read_json(run_dir / "config.json").get("lineage", {})
        if saved.get("distill") != lineage["distill"] or saved.get("teacher") != lineage["teacher"]:
            raise ConfigError(f"{run_dir}: cannot resume with a different teacher or distill section")


def check_teacher(cfg: DistillConfig, where: str = "teacher") -> tuple[Path, object]:
    """The teacher's run directory and config, checked against the student's task and data
    (`where` names the config field in errors)."""
    try:
        return _teacher_run(cfg)
    except ConfigError as e:
        raise ConfigError(f"{where}: {str(e).removeprefix('teacher: ')}") from None


def _teacher_run(cfg: DistillConfig) -> tuple[Path, object]:
    from warmstart.workflows.quantize import is_quantized

    path = Path(cfg.teacher)
    if not (path / "config.json").is_file():
        raise ConfigError(f"teacher: {path} is not a warmstart run directory (no config.json)")
    try:
        verb, tcfg = load_run_config(path)
    except CheckpointError as e:
        raise ConfigError(f"teacher: {e}") from None
    if verb != "finetune" or is_quantized(path):
        what = "a quantized run" if verb == "finetune" else f"a {verb} run"
        raise ConfigError(f"teacher: {path} is {what}; distill needs a finished fine-tuning run "
                          "(classification or regression)")
    if not (path / "result.json").is_file():
        raise ConfigError(f"teacher: {path} has not finished (no result.json); finish it with "
                          "`warmstart finetune --resume` first")
    if tcfg.task.kind != cfg.task.kind or getattr(tcfg.task, "multilabel", False) != getattr(cfg.task, "multilabel",
                                                                                           False):
        kind = lambda t: t.kind + (" (multilabel)" if getattr(t, "multilabel", False) else "")  # noqa: E731
        raise ConfigError(f"teacher: {path} is a {kind(tcfg.task)} run, but task is {kind(cfg.task)}")
    same_source = (tcfg.data.kind, getattr(tcfg.data, "path", None)) == (cfg.data.kind, getattr(cfg.data, "path", None))
    moved = [f for f in SPLIT_FIELDS if same_source and getattr(tcfg.data, f) != getattr(cfg.data, f)]
    if moved:
        raise ConfigError(f"data.{moved[0]}: {getattr(cfg.data, moved[0])} differs from the teacher's "
                          f"({getattr(tcfg.data, moved[0])}) on the same data: the teacher may have trained on this "
                          "run's test examples; use the teacher's split")
    return path, tcfg


class DistillPlan:
    """What distillation adds to a fine-tune (workflows.finetune._finetune calls adopt, lineage,
    training and result): the frozen teacher, its labels for the training and transfer examples,
    and the Distillation wrapper the loop trains."""

    def __init__(self, cfg: DistillConfig):
        self.cfg = cfg
        self.teacher_dir, self.teacher_cfg = check_teacher(cfg)
        self.ckpt = resolve_checkpoint(self.teacher_dir)  # what evaluate uses: best weights, else the latest
        teacher, strategy = load_finetuned(self.teacher_cfg, self.ckpt)
        strategy.merge(teacher.backbone)  # LoRA adapters folded in: a plain frozen model
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_inputs = None
        self.mode = self._mode()

    def _mode(self) -> str:
        """cache or online (see DistillSection.teacher_outputs)."""
        cfg, want = self.cfg, self.cfg.distill.teacher_outputs
        augment = getattr(cfg.data, "augment", None)
        augmented = augment is not None and augment != type(augment)()
        if want == "cache" and augmented:
            raise ConfigError("distill.teacher_outputs: cache labels each example once, but data.augment changes "
                              "the inputs every epoch; use online (or auto)")
        mode = want if want != "auto" else ("online" if augmented else "cache")
        if mode == "online" and not self.shares_inputs():
            raise ConfigError("distill.teacher_outputs: online runs the teacher on the student's batches, so the "
                              "student must share the teacher's tokenizer or normalizer (give student.model without "
                              "a tokenizer, not init or an hf model); or use cache")
        return mode

    def shares_inputs(self) -> bool:
        """Whether the student's batches are the teacher's (same tokenizer or normalizer): a student
        built from an architecture takes the teacher's preprocessor, unless it brings its own."""
        s = self.cfg.student
        return s.init is None and s.tokenizer is None and getattr(s.model, "kind", None) != "hf"

    # ---- called by _finetune
    def adopt(self, inputs, student, fresh: bool) -> None:
        """Check the teacher predicts the student's labels; give a fresh student built from an
        architecture the teacher's preprocessor; keep the teacher's own for labeling."""
        t_labels = getattr(self.teacher, "labels", None)
        s_labels = getattr(student, "labels", None)
        if t_labels != s_labels:
            raise ConfigError(f"teacher: {self.teacher_dir} predicts labels {t_labels}, but data has {s_labels}; "
                              "distillation needs the same label set")
        if fresh and self.shares_inputs():
            inputs.load(self.teacher_dir)  # text: the same tokenizer it was built with; images/vectors: normalizer
        self.teacher_inputs = copy.copy(inputs)
        self.teacher_inputs.load(self.teacher_dir)

    def lineage(self) -> dict:
        return {"teacher": str(self.teacher_dir), "teacher_checkpoint": str(self.ckpt),
                "distill": self.cfg.distill.model_dump(mode="json")}

    def training(self, splits, inputs, student, world: World, say) -> tuple[Examples, Distillation]:
        """(training examples, the module the loop trains): the labeled examples and the transfer
        set, each batch carrying "labeled" and, when cached, the teacher's outputs."""
        cfg = self.cfg.distill
        transfer = self._transfer(splits)
        placeholder = 0.0 if isinstance(student, Regression) else student.labels[0]
        # Transfer examples carry a placeholder label (the batch needs one); `labeled` masks it out of the loss.
        records = list(splits.train) + [{**r, "label": placeholder} for r in transfer]
        labeled = torch.tensor([True] * len(splits.train) + [False] * len(transfer))
        examples = inputs.labeled_set(records, student, train=True)
        extras = {"labeled": labeled}
        self.teacher.to(world.device)
        if self.mode == "cache":  # every example through the frozen teacher once, in order, before training
            outs, feats = self._label(self.teacher_inputs.labeled_set(records, self.teacher), world)
            extras["teacher_logits"] = outs
            if cfg.hidden_weight > 0:
                extras["teacher_features"] = feats
        self.n_labeled, self.n_transfer = len(splits.train), len(transfer)
        say(f"distill: {len(splits.train):,} labeled + {len(transfer):,} transfer examples, teacher "
            f"{self.teacher_dir} ({self.mode}), alpha {cfg.alpha}, T {cfg.temperature}"
            + (f", hidden_weight {cfg.hidden_weight}" if cfg.hidden_weight else ""))

        def make(idx: list[int]):
            batch = examples.make_batch(idx)
            batch.update({k: v[idx] for k, v in extras.items()})
            return batch

        module = Distillation(student, cfg, self.teacher if self.mode == "online" else None,
                              self.teacher.backbone.feature_dim)
        return Examples(examples.n, make), module

    def result(self, splits, world: World) -> dict:
        """The teacher on the student's test split (the yardstick for what the student kept) and the setup."""
        here = World(device=world.device)
        test = evaluate_on(self.teacher, self.teacher_inputs.labeled_set(splits.test, self.teacher),
                           self.cfg.train, here)
        teacher_result = read_json(self.teacher_dir / "result.json")
        return {"teacher": str(self.teacher_dir), "teacher_test": test, "teacher_params": count_params(self.teacher)[1],
                "teacher_n_labels": teacher_result.get("n_labels"), "n_labeled": self.n_labeled,
                "n_transfer": self.n_transfer, **self.cfg.distill.model_dump(mode="json"), "teacher_outputs": self.mode}

    # ---- helpers
    def _transfer(self, splits) -> list[dict]:
        """Unlabeled transfer records: the pool outside the label budget and/or a corpus; capped by a seeded sample."""
        cfg = self.cfg.distill
        out = []
        if cfg.transfer == "pool":
            chosen = {id(r) for r in splits.train}
            out = [r for r in splits.pool if id(r) not in chosen]
        if cfg.transfer_corpus is not None:
            from warmstart.data.text import read_corpus

            out += [{"text": doc} for doc in read_corpus(cfg.transfer_corpus, cfg.transfer_field)]
        if cfg.max_transfer is not None and len(out) > cfg.max_transfer:
            keep = np.random.default_rng(self.cfg.run.seed).choice(len(out), cfg.max_transfer, replace=False)
            out = [out[i] for i in sorted(keep)]
        return out

    def _label(self, examples: Examples, world: World) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's (outputs, pooled features) for every example, on the CPU (batches pick from them)."""
        here = World(device=world.device)  # every rank labels every example: the batches pick by index
        outs, feats = [], []
        for batch in ordered_batches(examples, self.cfg.train.batch_size, world=here):
            o, f = teacher_outputs(self.teacher, batch)
            outs.append(o.cpu())
            feats.append(f.cpu())
        return torch.cat(outs), torch.cat(feats)
