"""warmstart distill with a causal-LM pretraining run as the teacher: the student is an ordinary causal-LM
pretraining run trained through the one loop to match the teacher's next-token distributions; its LM-only
twin (same init, data, steps) is trained beside it and result.json records both perplexities; bad teachers
and students fail with one line (exit 2)."""

import json
import random

import pytest
import torch
import yaml

from warmstart.checkpoint.io import resolve_checkpoint
from warmstart.cli import main
from warmstart.config import parse_config
from warmstart.errors import ConfigError
from warmstart.objectives.lm_distillation import LMDistillation
from warmstart.runs import load_run_config
from warmstart.workflows import pretrain
from warmstart.workflows.distill_lm import distill_lm
from warmstart.workflows.pretrain import pretrain_objective

TRAIN = {"batch_size": 8, "eval_every": 20, "progress": False}
STUDENT = {"kind": "transformer", "arch": "gpt2", "size": "tiny", "n_layers": 1, "d_model": 16, "n_heads": 2}


def _corpus(rng) -> str:
    # Sentences from a tiny grammar: the next word is predictable, so a teacher has something to pass on.
    subjects, verbs, objects = ["the cat", "a dog", "my bird"], ["sees", "likes", "chases"], ["a ball", "the red box"]
    return "\n".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} ." for _ in range(400))


def _teacher(root, steps: int):
    (root / "c.txt").write_text(_corpus(random.Random(0)))
    cfg = parse_config({
        "run": {"name": "teacher", "out_dir": str(root / "runs")},
        "data": {"kind": "corpus", "path": str(root / "c.txt"), "max_len": 16, "val_frac": 0.1},
        "tokenizer": {"kind": "bpe", "vocab_size": 300},
        "model": {**STUDENT, "d_model": 32}, "objective": {"kind": "causal_lm"},
        "optim": {"kind": "adamw", "lr": 3e-3}, "schedule": {"kind": "constant"},
        "train": {**TRAIN, "max_steps": steps}}, "pretrain", "teacher")
    pretrain(cfg, say=lambda *_: None)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A teacher trained long enough to have learned the grammar (60 steps)."""
    return _teacher(tmp_path_factory.mktemp("lmkd"), 60)


@pytest.fixture(scope="module")
def quick_root(tmp_path_factory):
    """A 2-step teacher: enough for the checks that fail before training."""
    return _teacher(tmp_path_factory.mktemp("lmkd_quick"), 2)


def _recipe(root, **over) -> dict:
    return {"run": {"name": "student", "out_dir": str(root / "runs")}, "teacher": str(root / "runs" / "teacher"),
            "student": {"model": STUDENT},
            "data": {"kind": "corpus", "path": str(root / "c.txt"), "max_len": 16, "val_frac": 0.1},
            "optim": {"kind": "adamw", "lr": 3e-3}, "schedule": {"kind": "constant"},
            "train": {**TRAIN, "max_steps": 20}, "distill": {"alpha": 0.0, "temperature": 1.0}, **over}


def _kl_to_teacher(run, teacher) -> float:
    """Mean KL(teacher || student) per next token on the student's validation blocks."""
    _, cfg = load_run_config(run)
    student, val = pretrain_objective(cfg, run, resolve_checkpoint(run))
    kd = LMDistillation(student.eval(), teacher, alpha=0.0, temperature=1.0)
    with torch.no_grad():
        outs = [kd(val.make_batch(list(range(i, min(i + 8, val.n))))) for i in range(0, val.n, 8)]
    return sum(o.loss.item() * o.n_items for o in outs) / sum(o.n_items for o in outs)


@pytest.mark.slow  # ~30 s of CPU: a 60-step teacher, a 20-step student and its twin
def test_student_learns_the_teachers_distributions_and_records_its_twin(root, capsys):
    path = root / "kd.yaml"
    path.write_text(yaml.safe_dump(_recipe(root)))
    assert main(["distill", str(path)]) == 0
    run, twin = root / "runs" / "student", root / "runs" / "student-lm_twin"
    result = json.loads((run / "result.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["verb"] == "pretrain" and config["objective"]["kind"] == "causal_lm"
    assert config["lineage"]["teacher"] == str(root / "runs" / "teacher") and config["lineage"]["distill"]["alpha"] == 0
    d = result["distill"]
    assert d["teacher_params"] > result.get("params_total", 0) and "ppl" in d["teacher_val"]
    assert result["lm_twin"]["run_dir"] == str(twin) and result["lm_twin"]["steps"] == result["steps"] == 20
    assert "LM-only twin" in capsys.readouterr().out

    # With alpha 0 the student sees only the teacher's distributions (never the corpus's tokens): it must end
    # closer to them than its twin, trained on the tokens alone from the same start for the same steps.
    _, tcfg = load_run_config(root / "runs" / "teacher")
    teacher, _ = pretrain_objective(tcfg, root / "runs" / "teacher", resolve_checkpoint(root / "runs" / "teacher"))
    assert _kl_to_teacher(run, teacher.eval()) < _kl_to_teacher(twin, teacher)

    # The student run is an ordinary causal-LM run: it exports for text generation.
    assert main(["export", str(run), "--format", "hf", "--out", str(root / "hf")]) == 0
    assert json.loads((root / "hf" / "config.json").read_text())["architectures"] == ["GPT2LMHeadModel"]


def test_bad_lm_distill_inputs_fail_with_one_line(quick_root, capsys):
    root = quick_root
    bad = [(_recipe(root, teacher=str(root / "nowhere")), "teacher: .* is not a warmstart run directory"),
           (_recipe(root, student={"model": STUDENT, "tokenizer": {"kind": "bpe"}}), "student.tokenizer: the student "
            "reads the teacher's tokens"),
           (_recipe(root, student={"model": {"kind": "hf", "path": str(root)}}), "student.model.kind=hf"),
           (_recipe(root, distill={"temperature": 0}), "distill.temperature"),
           (_recipe(root, run={"name": "s1", "out_dir": str(root / "runs")},
                    student={"model": {**STUDENT, "arch": "bert"}}), "causal_lm needs a causal"),
           (_recipe(root, run={"name": "s2", "out_dir": str(root / "runs")},
                    teacher=str(root / "runs" / "teacher" / "tokenizer")), "teacher: .* is not a warmstart run")]
    for raw, message in bad:
        path = root / "bad.yaml"
        path.write_text(yaml.safe_dump(raw))
        assert main(["distill", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert __import__("re").search(message, err), err


def test_a_finetune_or_masked_lm_teacher_is_refused(quick_root, tiny_text_csv, tiny_finetune_config, tmp_path):
    from warmstart.workflows import finetune

    finetune(tiny_finetune_config(tiny_text_csv, tmp_path, train={"max_steps": 1}), say=lambda *_: None)
    with pytest.raises(ConfigError, match="is a finetune run; LM distillation .* needs a finished causal_lm"):
        distill_lm(parse_config(_recipe(quick_root, teacher=str(tmp_path / "ft")), "distill_lm", "kd.yaml"))
