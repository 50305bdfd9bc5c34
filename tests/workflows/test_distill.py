"""distill end to end on a tiny separable text task: the distilled student beats its label-only twin,
its run loads in evaluate/predict/export like any fine-tune, resume is exact, bad inputs fail with one line."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from warmstart import workflows
from warmstart.cli import main
from warmstart.config.schema import DistillConfig
from warmstart.errors import ConfigError
from warmstart.workflows.distill import distill

QUIET = {"say": lambda *_: None}
STUDENT = {"model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 16,
                     "n_heads": 2, "dropout": 0.0}}


@pytest.fixture(scope="module")
def teacher(tiny_text_csv, tiny_finetune_config, tmp_path_factory):
    """A teacher fine-tuned on every label of the training pool (96 examples)."""
    tmp = tmp_path_factory.mktemp("distill")
    cfg = tiny_finetune_config(tiny_text_csv, tmp, run={"name": "teacher"},
                               optim={"kind": "adamw", "lr": 3e-3},
                               train={"max_steps": 60, "eval_every": 20, "batch_size": 16})
    result = workflows.finetune(cfg, **QUIET)
    return tmp / "teacher", result


def _config(csv_path, out_dir, teacher_dir, name="student", **sections):
    raw = {
        "run": {"name": name, "out_dir": str(out_dir), "seed": 0},
        "teacher": str(teacher_dir),
        "student": STUDENT,
        "data": {"kind": "labeled_text", "path": str(csv_path), "max_len": 16, "label_budget": 2},
        "task": {"kind": "classification", "dropout": 0.0},
        "optim": {"kind": "adamw", "lr": 5e-3},
        "train": {"max_steps": 60, "batch_size": 16, "eval_every": 20, "progress": False, "select_best": False},
        "distill": {"alpha": 0.5, "temperature": 2.0},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return DistillConfig.model_validate(raw)


def _twin(cfg: DistillConfig):
    """The same student, the same labels, no teacher: a plain fine-tune."""
    ft = cfg.student_config().model_copy(update={"run": cfg.run.model_copy(update={"name": cfg.run.name + "_twin"})})
    return workflows.finetune(ft, **QUIET)


def test_distilled_student_beats_its_label_only_twin(teacher, tiny_text_csv, tmp_path):
    teacher_dir, teacher_result = teacher
    assert teacher_result["test"]["acc"] >= 0.9  # the task is separable; the teacher learned it
    cfg = _config(tiny_text_csv, tmp_path, teacher_dir)
    result = distill(cfg, **QUIET)
    twin = _twin(cfg)
    d = result["distill"]
    assert d["n_labeled"] == 2 and d["n_transfer"] == result["n_pool"] - 2 and d["teacher_outputs"] == "cache"
    assert d["teacher_test"]["acc"] == pytest.approx(teacher_result["test"]["acc"])  # same test split
    assert result["n_labels"] == twin["n_labels"] == 2
    assert result["test"]["acc"] >= twin["test"]["acc"] + 0.15, (result["test"], twin["test"])

    # The student run is a fine-tune run: evaluate, predict and export read it.
    run = tmp_path / "student"
    assert workflows.evaluate(run, "test") == pytest.approx(result["test"])
    preds = workflows.predict(run, ["love it great", "awful bad sad"])
    assert [p["label"] for p in preds] == ["pos", "neg"]
    assert (workflows.export(run, "hf-backbone") / "config.json").is_file()
    assert result["params_total"] < d["teacher_params"]


def test_resume_equals_the_uninterrupted_run(teacher, tiny_text_csv, tmp_path):
    teacher_dir, _ = teacher
    sections = {"train": {"max_steps": 8, "save_every": 4, "keep_checkpoints": 3, "eval_every": 4},
                "distill": {"hidden_weight": 0.5},
                "student": {**STUDENT, "model": {**STUDENT["model"], "dropout": 0.1}}}
    cfg = _config(tiny_text_csv, tmp_path, teacher_dir, "run", **sections)
    straight = distill(cfg, **QUIET)
    shutil.copytree(tmp_path / "run", tmp_path / "straight")
    # "Kill" after the step-4 checkpoint: drop everything later, then --resume.
    cut = tmp_path / "run"
    shutil.rmtree(cut / "checkpoints" / "step_000008")
    (cut / "result.json").unlink()
    (cut / "checkpoints" / "latest").write_text("step_000004")
    resumed = distill(cfg, resume=True, **QUIET)
    for stem in ("backbone", "head", "aux", "optimizer"):
        a = load_file(str(tmp_path / "straight" / "checkpoints" / "step_000008" / f"{stem}.safetensors"))
        b = load_file(str(cut / "checkpoints" / "step_000008" / f"{stem}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stem
    assert resumed["test"] == straight["test"]
    # resuming with other distillation settings is refused
    changed = _config(tiny_text_csv, tmp_path, teacher_dir, "run", **{**sections, "distill": {"alpha": 0.9}})
    with pytest.raises(ConfigError, match="different teacher or distill section"):
        distill(changed, resume=True, **QUIET)


def test_bad_inputs_fail_with_one_line(teacher, tiny_text_csv, tmp_path, capsys):
    teacher_dir, _ = teacher
    with pytest.raises(ConfigError, match="no config.json"):
        distill(_config(tiny_text_csv, tmp_path, tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="task is regression"):
        distill(_config(tiny_text_csv, tmp_path, teacher_dir, task={"kind": "regression"}))
    with pytest.raises(ConfigError, match="data.split_seed: 1 differs from the teacher's"):
        distill(_config(tiny_text_csv, tmp_path, teacher_dir, data={"split_seed": 1}))
    relabeled = tmp_path / "relabeled.csv"
    relabeled.write_text(tiny_text_csv.read_text().replace(",pos", ",positive"))
    with pytest.raises(ConfigError, match="distillation needs the same label set"):
        distill(_config(tiny_text_csv, tmp_path, teacher_dir, data={"path": str(relabeled)}))

    # Through the CLI: one line on stderr, exit code 2 (schema errors and teacher errors alike).
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "config.json").write_text(json.dumps({  # a pretraining run's config, as `pretrain` writes it
        "verb": "pretrain", "run": {"name": "pre"}, "data": {"kind": "corpus", "path": str(tiny_text_csv)},
        "tokenizer": {"kind": "wordpiece"}, "model": {"kind": "transformer"}, "objective": {"kind": "masked_lm"}}))
    cases = {"alpha: 1.5": "distill.alpha", "temperature: 0": "distill.temperature",
             "temperature: -1": "distill.temperature", f"teacher_dir: {pre}": "pretrain run"}
    for edit, expected in cases.items():
        alpha = 1.5 if "alpha" in edit else 0.5
        temp = 0 if "temperature: 0" in edit else (-1 if "-1" in edit else 2.0)
        path = tmp_path / "bad.yaml"
        path.write_text(f"""run: {{name: bad, out_dir: {tmp_path}}}
teacher: {pre if "teacher_dir" in edit else teacher_dir}
student: {{model: {{kind: transformer, arch: bert, n_layers: 1, d_model: 16, n_heads: 2}}}}
data: {{kind: labeled_text, path: {tiny_text_csv}, max_len: 16}}
distill: {{alpha: {alpha}, temperature: {temp}}}
""")
        assert main(["distill", str(path)]) == 2, edit
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and expected in err, (edit, err)
