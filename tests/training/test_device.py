"""Device placement, checked on the CPU with the `meta` device standing in for an accelerator: the
workflow puts every parameter, buffer and batch tensor on the run's device, and no module keeps a
tensor that `.to(device)` would leave behind. train.device and precision resolve or fail in one line."""

import pytest
import torch

from warmstart.config.schema import ClassificationTask, LoRAStrategy
from warmstart.errors import ConfigError
from warmstart.models.mlp import MLPBackbone
from warmstart.models.resnet import ResNetBackbone
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.tasks import build_task, head_info
from warmstart.training.device import resolve_device, to_device
from warmstart.training.distributed import World
from warmstart.training.precision import autocast, grad_scaler, resolve
from warmstart.workflows.common import ordered_batches, prepare_training
from warmstart.workflows.finetune import prepare_finetune

META = torch.device("meta")
SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _off(module: torch.nn.Module, device: torch.device) -> list[str]:
    """Names of parameters, buffers and plain tensor attributes of `module` that are not on `device`."""
    bad = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.device != device]
    for name, sub in module.named_modules():
        bad += [f"{name}.{k}" for k, v in vars(sub).items() if isinstance(v, torch.Tensor) and v.device != device]
    return bad


def _batch_off(batch: dict, device: torch.device) -> list[str]:
    return [k for k, v in batch.items() if isinstance(v, torch.Tensor) and v.device != device]


@pytest.mark.parametrize("strategy", [None, LoRAStrategy()], ids=["full", "lora"])
def test_prepare_training_puts_module_and_batches_on_the_run_device(tmp_path, tiny_text_csv, tiny_finetune_config,
                                                                    strategy):
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, **({"strategy": strategy} if strategy else {}))
    splits, inputs, module, _ = prepare_finetune(cfg, tmp_path)
    train_set = inputs.labeled_set(splits.train, module, train=True)
    val_set = inputs.labeled_set(splits.val, module)
    world = World(device=META)
    run = prepare_training(cfg, module, cfg.strategy, train_set, tmp_path, world=world, say=lambda *_: None)
    assert _off(module, META) == []  # including the strategy's LoRA layers, added before the move
    assert all(p.device == META for g in run.optimizer.param_groups for p in g["params"])
    assert _batch_off(next(run.batches), META) == []
    assert all(_batch_off(b, META) == [] for b in ordered_batches(val_set, 8, 2, world))


def _modules():
    labels = ["neg", "pos", "neu"]
    recs = [{"text": "a", "label": lab} for lab in labels]
    yield "causal_lm", build_objective(*_obj("causal_lm"), TransformerBackbone.tiny("gpt2"), SPECIAL)
    yield "masked_lm", build_objective(*_obj("masked_lm"), TransformerBackbone.tiny("bert"), SPECIAL)
    for kind in ("denoising", "contrastive", "supervised"):
        yield kind, build_objective(*_obj(kind), ResNetBackbone.tiny(), {"input_shape": (1, 8, 8), "labels": labels})
    yield "classification", build_task(ClassificationTask(), TransformerBackbone.tiny("bert"),
                                       head_info(ClassificationTask(), recs))
    yield "mlp_denoising", build_objective(*_obj("denoising"), MLPBackbone.tiny(), {"input_shape": (10,)})


def _obj(kind):
    from warmstart.config.schema import (
        CausalLMObjective,
        ContrastiveObjective,
        DenoisingObjective,
        MaskedLMObjective,
        SupervisedObjective,
    )

    return ({"causal_lm": CausalLMObjective(), "masked_lm": MaskedLMObjective(), "denoising": DenoisingObjective(),
             "contrastive": ContrastiveObjective(), "supervised": SupervisedObjective()}[kind],)


@pytest.mark.parametrize("name,module", list(_modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_no_module_keeps_a_tensor_that_to_device_leaves_behind(name, module):
    assert _off(module.to(META), META) == [], name


def test_batches_move_to_the_device_and_stay_put_on_cpu():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "note": "x"}
    assert to_device(batch, torch.device("cpu")) is batch  # no copies on the CPU
    moved = to_device(batch, META)
    assert moved["input_ids"].device == META and moved["note"] == "x"


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else resolve_device("auto").type)
    if not torch.cuda.is_available():
        assert resolve_device("auto") in (torch.device("cpu"), torch.device("mps"))
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_precision_per_device():
    assert resolve("fp32", "cuda") == "fp32" and resolve("bf16", "cpu") == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve("fp16", "cpu")
    assert not grad_scaler("bf16", "cpu").is_enabled() and not grad_scaler("fp32", "cpu").is_enabled()
    with autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.cuda
def test_cuda_training_step_keeps_everything_on_the_gpu(tmp_path, tiny_text_csv, tiny_finetune_config):
    gpu = torch.device("cuda", 0)
    assert resolve("auto", "cuda") in ("bf16", "fp16")
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, train={"device": "cuda", "precision": "auto", "max_steps": 2})
    from warmstart.workflows import finetune

    result = finetune(cfg, say=lambda *_: None)
    assert result["device"] == "cuda:0" and result["steps"] == 2
    splits, inputs, module, _ = prepare_finetune(cfg, tmp_path)
    run = prepare_training(cfg, module, cfg.strategy, inputs.labeled_set(splits.train, module, train=True),
                           tmp_path / "x", world=World(device=gpu), say=lambda *_: None)
    assert _off(module, gpu) == [] and _batch_off(next(run.batches), gpu) == []


def test_explicit_bf16_on_a_cpu_without_native_bf16_warns_in_one_line(monkeypatch):
    from warmstart.training import precision

    monkeypatch.setattr(precision, "bf16_native", lambda: False)
    note = precision.emulation_warning("bf16", "cpu")
    assert note is not None and "\n" not in note and "train.precision=auto or fp32" in note
    assert precision.emulation_warning("auto", "cpu") is None and precision.emulation_warning("fp32", "cpu") is None
    monkeypatch.setattr(precision, "bf16_native", lambda: True)
    assert precision.emulation_warning("bf16", "cpu") is None


def test_inference_device_follows_the_run_and_falls_back_to_cpu(monkeypatch, tmp_path, tiny_text_csv,
                                                                 tiny_finetune_config, capsys):
    """evaluate/predict run where the run trained when this machine has that device, else on the CPU with a
    note (a GPU run read on a CPU-only machine: simulated by marking a CPU run's config train.device=cuda);
    an explicit --device that is not there, or malformed, is one line and exit 2. lr-find trains on the
    recipe's train.device and fails the same way before writing anything."""
    import json

    from warmstart.cli import main
    from warmstart.training.device import inference_device
    from warmstart.workflows import finetune

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("warmstart.training.device._mps_available", lambda: False)
    notes = []
    assert inference_device(None, "auto", notes.append) == torch.device("cpu") and notes == []
    assert inference_device(None, "cuda:1", notes.append) == torch.device("cpu") and "train.device=cuda:1" in notes[0]
    assert inference_device("cpu", "cuda", notes.append) == torch.device("cpu") and len(notes) == 1
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        inference_device("cuda", "cpu")
    with pytest.raises(ConfigError, match="--device gpu: expected auto, cpu, cuda, cuda:N or mps"):
        inference_device("gpu", "cpu")

    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, train={"max_steps": 2, "eval_every": 2, "device": "cpu"})
    finetune(cfg, say=lambda *_: None)
    run = tmp_path / "ft"
    snapshot = json.loads((run / "config.json").read_text())
    snapshot["train"]["device"] = "cuda"  # "trained on a GPU"
    (run / "config.json").write_text(json.dumps(snapshot))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "val"]) == 0
    out = capsys.readouterr()
    assert "train.device=cuda" in out.out + out.err and '"acc"' in out.out
    assert main(["evaluate", str(run), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    texts = tmp_path / "texts.txt"
    texts.write_text("good great fine\nbad awful\n")
    assert main(["predict", str(run), str(texts), "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["predict", str(run), str(texts), "--device", "mps"]) == 2
    assert "mps is not available" in capsys.readouterr().err

    recipe = tmp_path / "lr.yaml"
    recipe.write_text(json.dumps(cfg.model_dump(mode="json") | {"train": {**cfg.train.model_dump(mode="json"),
                                                                          "device": "cuda"}}))
    assert main(["lr-find", str(recipe), "--steps", "5", "--out", str(tmp_path / "lrf")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "lrf").exists()
