"""distill_lm: a student causal LM trained on a text corpus with a causal-LM pretraining run as its teacher.

The student run is an ordinary causal-LM pretraining run (config.json holds the student's pretrain config,
the teacher and the distillation settings in its lineage), trained by pretrain's own workflow and loop
(workflows.pretrain._pretrain with an LMDistillPlan), so finetune, export, evaluate and --resume take it.
With distill.lm_twin the same student (same init, data order and steps) is also trained with the LM loss
alone into RUN-lm_twin, and result.json records both validation perplexities next to the teacher's, all
on the student's validation blocks.
"""

from __future__ import annotations

from pathlib import Path

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.checkpoint.run import load_module_weights
from warmstart.config.schema import LMDistillConfig
from warmstart.errors import CheckpointError, ConfigError
from warmstart.models import load_backbone
from warmstart.objectives import build_objective
from warmstart.objectives.lm_distillation import LMDistillation
from warmstart.runs import load_run_config
from warmstart.strategies import count_params
from warmstart.tokenizers import load_tokenizer, special_ids
from warmstart.training.distributed import World, joined
from warmstart.workflows.common import evaluate_on, quiet
from warmstart.workflows.distill import check_resume_lineage
from warmstart.workflows.pretrain import _pretrain, pretrain


def distill_lm(cfg: LMDistillConfig, resume: bool = False, overwrite: bool = False, say=print) -> dict:
    """Train the student LM of `cfg` with its teacher (and, with distill.lm_twin, its LM-only twin);
    returns the student run's result.json contents."""
    plan = LMDistillPlan(cfg)
    student = cfg.student_config()
    run_dir = Path(student.run.out_dir) / student.run.name
    check_resume_lineage(run_dir, plan.lineage(), resume, overwrite)
    with joined(student.train) as world:
        _pretrain(student, resume, overwrite, say if world.is_main else quiet, world, distill=plan)
    result = read_json(run_dir / "result.json")
    if cfg.distill.lm_twin:
        # The twin differs only in its loss: same config, seed (so the same initial weights) and batches.
        twin_run = student.run.model_copy(update={"name": f"{student.run.name}-lm_twin"})
        twin_cfg = student.model_copy(update={"run": twin_run})
        twin_dir = Path(twin_cfg.run.out_dir) / twin_cfg.run.name
        pretrain(twin_cfg, resume=resume and twin_dir.exists(), overwrite=overwrite, say=say)
        twin = read_json(twin_dir / "result.json")
        result["lm_twin"] = {"run_dir": str(twin_dir), "val": twin["val"], "steps": twin["steps"]}
        write_json_atomic(run_dir / "result.json", result)
    ppl, teacher = result["val"].get("ppl"), result["distill"]["teacher_val"].get("ppl")
    twin_ppl = result.get("lm_twin", {}).get("val", {}).get("ppl")
    say(f"distill (LM) done: student val ppl {ppl:.2f}" + (f" vs {twin_ppl:.2f} for its LM-only twin" if twin_ppl
        else "") + f"; teacher {teacher:.2f} on the same blocks -> {run_dir}")
    return result


def check_lm_teacher(path: Path):
    """The teacher's pretrain config: a finished causal-LM pretraining run, else a one-line ConfigError."""
    if not (path / "config.json").is_file():
        raise ConfigError(f"teacher: {path} is not a warmstart run directory (no config.json)")
    try:
        verb, tcfg = load_run_config(path)
    except CheckpointError as e:
        raise ConfigError(f"teacher: {e}") from None
    kind = getattr(getattr(tcfg, "objective", None), "kind", None)
    if verb != "pretrain" or kind != "causal_lm":
        what = f"a {verb} run" if verb != "pretrain" else f"a {kind} pretraining run"
        raise ConfigError(f"teacher: {path} is {what}; LM distillation (a corpus as data) needs a finished causal_lm "
                          "pretraining run (a fine-tuned teacher distills with a labeled data set)")
    if not (path / "result.json").is_file():
        raise ConfigError(f"teacher: {path} has not finished (no result.json); finish it with "
                          "`warmstart pretrain --resume` first")
    return tcfg


class LMDistillPlan:
    """What LM distillation adds to a pretraining run (workflows.pretrain._pretrain calls lineage,
    training and result): the frozen teacher LM and the LMDistillation wrapper the loop trains."""

    def __init__(self, cfg: LMDistillConfig):
        self.cfg, self.teacher_dir = cfg, Path(cfg.teacher)
        tcfg = check_lm_teacher(self.teacher_dir)
        self.ckpt = resolve_checkpoint(self.teacher_dir)
        self.tokenizer = load_tokenizer(self.teacher_dir / "tokenizer")
        self.teacher = build_objective(tcfg.objective, load_backbone(self.ckpt), special_ids(self.tokenizer))
        load_module_weights(self.ckpt, self.teacher)
        self.teacher.eval().requires_grad_(False)

    def lineage(self) -> dict:
        return {"teacher": str(self.teacher_dir), "teacher_checkpoint": str(self.ckpt),
                "distill": self.cfg.distill.model_dump(mode="json")}

    def training(self, student, inputs, world: World, say) -> LMDistillation:
        """The module the loop trains; the student must read the teacher's tokens."""
        if inputs.tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise ConfigError(f"student: its tokenizer differs from the teacher's ({self.teacher_dir / 'tokenizer'}); "
                              "LM distillation compares logits over one vocabulary")
        self.teacher.to(world.device)
        cfg = self.cfg.distill
        say(f"distill (LM): teacher {self.teacher_dir} ({count_params(self.teacher)[1]:,} params), student "
            f"{count_params(student)[1]:,} params, alpha {cfg.alpha}, T {cfg.temperature}")
        return LMDistillation(student, self.teacher, cfg.alpha, cfg.temperature)

    def result(self, val_set, train_cfg, world: World) -> dict:
        """The teacher on the student's validation blocks (the yardstick for what the student kept) and the setup."""
        teacher_val = evaluate_on(self.teacher, val_set, train_cfg, World(device=world.device))
        return {"teacher": str(self.teacher_dir), "teacher_val": teacher_val,
                "teacher_params": count_params(self.teacher)[1], **self.cfg.distill.model_dump(mode="json")}
