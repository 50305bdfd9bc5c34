import subprocess
import sys
import typing
from pathlib import Path

import pydantic
import pytest

from warmstart.config import load_config, parse_config, schema
from warmstart.config.overrides import apply_overrides
from warmstart.errors import ConfigError

RECIPES = Path(__file__).parents[2] / "src" / "warmstart" / "recipes"


def _kinds(union) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["kind"].annotation)[0] for m in members}


def test_schema_kinds_match_registries():
    from warmstart.models import BACKBONES
    from warmstart.objectives import OBJECTIVES
    from warmstart.strategies import STRATEGIES
    from warmstart.tasks import TASKS

    assert _kinds(schema.Model) == set(BACKBONES)
    assert _kinds(schema.Objective) == set(OBJECTIVES)
    assert _kinds(schema.Task) == set(TASKS)
    assert _kinds(schema.Strategy) == set(STRATEGIES)


def test_word_vector_kinds_match_their_trainers():
    from warmstart.wordvec import TRAINERS

    assert _kinds(schema.WordVecObjective) == set(TRAINERS) == set(schema.WORD_VECTOR_KINDS)


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# warmstart "), "each recipe starts with the command that runs it"
    load_config(path)


def test_every_field_has_a_description():
    missing = [f"{cls.__name__}.{name}" for cls in vars(schema).values()
               if isinstance(cls, type) and issubclass(cls, schema.Section)
               for name, f in cls.model_fields.items()
               if name != "kind" and not f.description and not issubclass(type(f.default), schema.Section)
               and name not in ("run", "data", "objective", "task", "strategy", "optim", "schedule", "train",
                                "tokenizer")]
    assert missing == []


BASE = {"data": {"kind": "demo_sentiment"}, "init": "runs/x"}


@pytest.mark.parametrize("raw, expected", [
    ({**BASE, "trian": {}}, "x.yaml: trian: unknown key"),
    ({**BASE, "train": {"max_steps": "abc"}}, "x.yaml: train.max_steps: Input should be a valid integer"),
    ({**BASE, "train": {"max_steps": 10}, "schedule": {"kind": "warmup_cosine", "warmup_steps": 20}},
     "schedule.warmup_steps (20) must be < train.max_steps (10)"),
    ({**BASE, "task": {"kind": "clasification"}}, "x.yaml: task: unknown kind 'clasification'"),
    ({"data": {"kind": "labeled_text"}, "init": "r"}, "x.yaml: data.path: required field is missing"),
    ({**BASE, "data": {"kind": "demo_sentiment", "label_budget": -3}}, "label_budget must be a count"),
    ({"data": {"kind": "demo_sentiment"}}, "one of init or model is required"),
])
def test_bad_configs_give_one_line_naming_the_field(raw, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "finetune", "x.yaml")
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_overrides_parse_yaml_scalars_and_create_sections():
    raw = apply_overrides({"train": {"max_steps": 5}}, ["train.max_steps=50", "optim.lr=1e-3", "run.name=abc"])
    assert raw == {"train": {"max_steps": 50}, "optim": {"lr": 1e-3}, "run": {"name": "abc"}}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.max_steps"])


def test_config_is_frozen():
    cfg = parse_config(BASE, "finetune")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.train.max_steps = 3  # type: ignore[misc]


def test_cli_bad_config_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {kind: demo_sentiment}\ninit: r\ntrain: {max_stepz: 3}\n")
    out = subprocess.run([sys.executable, "-m", "warmstart", "config", "validate", str(bad)], capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: {bad}: train.max_stepz: unknown key "
                                  "(check spelling; `warmstart config explain` lists the fields)")
    assert "Traceback" not in out.stderr


def test_cli_missing_and_empty_config(tmp_path):
    for path, msg in [(tmp_path / "nope.yaml", "config file not found"),
                      (tmp_path / "empty.yaml", "config file is empty")]:
        if path.name == "empty.yaml":
            path.write_text("")
        out = subprocess.run([sys.executable, "-m", "warmstart", "finetune", str(path)], capture_output=True, text=True)
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr


def test_help_does_not_import_torch():
    code = ("import sys; from warmstart.cli import build_parser; build_parser(); import warmstart.config; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_override_into_an_absent_section_takes_the_default_kind(tmp_path):
    # Issue 17.3: `--set optim.lr=0.1` on a recipe without `optim:` answered pydantic's discriminator message.
    path = tmp_path / "x.yaml"
    path.write_text("data: {kind: demo_sentiment}\ninit: runs/x\n")
    cfg = load_config(path, overrides=["optim.lr=0.1", "strategy.head_lr=0.5", "schedule.warmup_steps=1"])
    assert (cfg.optim.kind, cfg.optim.lr) == ("adamw", 0.1)
    assert (cfg.strategy.kind, cfg.strategy.head_lr) == ("full", 0.5)
    assert cfg.schedule.kind == "warmup_cosine" and cfg.schedule.warmup_steps == 1
    # A section without a default (model) says which kinds exist.
    with pytest.raises(ConfigError, match=r"model\.kind: required field is missing; one of transformer, hf, "):
        load_config(path, overrides=["model.d_model=8"])
    # A section the file wrote without a kind is the user's own: not filled in, an error naming the kinds.
    path.write_text("data: {kind: demo_sentiment}\ninit: runs/x\noptim: {lr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"optim\.kind: required field is missing; one of adamw, adam, sgd"):
        load_config(path, overrides=["optim.weight_decay=0.1"])


@pytest.mark.parametrize("verb, raw, expected", [
    ("finetune", {**BASE, "optim": {}}, "optim.kind: required field is missing; one of adamw, adam, sgd, gd"),
    ("finetune", {**BASE, "task": {"dropout": 0.1}}, "task.kind: required field is missing; one of classification, "
     "regression"),
    ("finetune", {**BASE, "optim": 5}, "optim: expected a section with a kind (one of adamw, adam, sgd"),
    ("finetune", {**BASE, "optim": {"kind": None}}, "optim: unknown kind None; expected one of adamw, adam"),
    ("finetune", {**BASE, "data": {"path": "x"}}, "data.kind: required field is missing; one of labeled_text, "),
    ("finetune", {**BASE, "tokenizer": {"vocab_size": 300}}, "tokenizer.kind: required field is missing; one of bpe"),
    ("pretrain", {"data": {"kind": "demo_corpus"}, "init": "r", "objective": {}},
     "objective.kind: required field is missing; one of causal_lm, masked_lm, denoising, contrastive, supervised, "
     "span_corruption, word2vec, fasttext, glove"),
    ("compare", {"data": {"kind": "demo_sentiment"}, "pretrained": "r", "label_budgets": [5], "strategies": [{}]},
     "strategies.0.kind: required field is missing; one of full, linear_probe, partial"),
    ("compare", {"data": {"kind": "demo_sentiment"}, "pretrained": "r", "label_budgets": [5],
                 "arms": [{"name": "a", "init": "scratch", "strategy": {"r": 4}}]},
     "arms.0.strategy.kind: required field is missing; one of full, linear_probe"),
])
def test_every_section_without_a_usable_kind_names_the_kinds(verb, raw, expected):
    # Issue 17.6: no section answers pydantic's "Unable to extract tag using discriminator 'kind'".
    with pytest.raises(ConfigError) as e:
        parse_config(raw, verb, "x.yaml")
    assert f"x.yaml: {expected}" in str(e.value)
    assert "discriminator" not in str(e.value)


@pytest.mark.parametrize("body, expected", [
    ("[" * 5000 + "]" * 5000, "invalid YAML: nested too deeply"),
    ("a: &x [*x]\n", "invalid config: a YAML alias makes a value contain itself"),
    ("\x00\x00", "invalid YAML: unacceptable character #x0000: special characters are not allowed"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)),
     "invalid config: more than 100,000 values once YAML aliases are expanded"),
])
def test_hostile_yaml_is_one_line(tmp_path, body, expected):
    # Found by tests/e2e/test_fuzz.py: these crashed with RecursionError (or would hang expanding aliases).
    path = tmp_path / "x.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: {expected}"
