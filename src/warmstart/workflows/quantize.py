"""quantize: a fine-tuned run as an int8 model in a new run directory that evaluate and predict load.

dynamic-int8 quantizes the Linear weights to int8 ahead of time and the activations per batch at run
time. Two backends, compared in benchmarks/deploy.py:
  onnxruntime  the run exported to ONNX (workflows.onnx), then onnxruntime.quantization.quantize_dynamic:
               a self-contained model.int8.onnx (the deploy extra). The default.
  torch        torch.ao.quantization.quantize_dynamic on the fine-tuned module, redone at load time
               (deterministic; nothing but quantize.json is stored). torch.ao's eager quantization is
               deprecated upstream and was measured slower than fp32 at batch 1 on AVX2 (issue 14).

The new run directory holds the source run's config.json (same data, splits and task), its tokenizer
or transforms, quantize.json (method, backend, source run, file sizes) and result.json (test metrics
next to the source's). Loading needs the source run too: its head facts and, for torch, its weights.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from warmstart.checkpoint.io import read_json, resolve_checkpoint, write_json_atomic
from warmstart.errors import ConfigError
from warmstart.evaluation import evaluate as run_eval
from warmstart.inputs import open_inputs
from warmstart.runs import load_run_config
from warmstart.workflows.common import ordered_batches
from warmstart.workflows.finetune import load_finetuned, prepare_finetune
from warmstart.workflows.onnx import ONNX_FILE, export_onnx, ort_logits, ort_session

METHODS = ("dynamic-int8",)
BACKENDS = ("onnxruntime", "torch")
QUANT_META, INT8_ONNX = "quantize.json", "model.int8.onnx"


def is_quantized(run_dir: Path) -> bool:
    return (Path(run_dir) / QUANT_META).is_file()


class OnnxTask(nn.Module):
    """A fine-tuned task whose logits come from an onnxruntime session; the task's loss, metrics and
    predictions on top (task.score / predictions / new_metrics), so evaluate and predict need nothing new."""

    def __init__(self, task: nn.Module, session):
        super().__init__()
        self.task, self.session = task, session

    def logits(self, batch) -> torch.Tensor:
        return ort_logits(self.session, batch)

    def forward(self, batch):
        return self.task.score(self.logits(batch), batch)

    def predictions(self, logits: torch.Tensor, batch=None) -> list[dict]:
        return self.task.predictions(logits, batch)

    def encode_targets(self, labels: list) -> torch.Tensor:
        return self.task.encode_targets(labels)

    def new_metrics(self):
        return self.task.new_metrics()

    def info(self) -> dict:
        return self.task.info()


def _source_module(run_dir: Path) -> nn.Module:
    """The fine-tuned module of a (source) run, adapters merged, in eval mode."""
    _, cfg = load_run_config(run_dir)
    module, strategy = load_finetuned(cfg, resolve_checkpoint(run_dir))
    strategy.merge(module.backbone)
    return module.eval()


def torch_dynamic_int8(module: nn.Module) -> nn.Module:
    """torch.ao's dynamic int8 quantization of every nn.Linear (deprecated upstream; kept to compare)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def state_mb(module: nn.Module) -> float:
    """Serialized size of a module's state dict in MB (measured in memory, nothing written)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell() / 1e6


def load_quantized(run_dir: str | Path) -> nn.Module:
    """The module of a quantized run: OnnxTask on model.int8.onnx, or the source module re-quantized by torch."""
    run_dir = Path(run_dir)
    meta = read_json(run_dir / QUANT_META)
    source = Path(meta["source"])
    if not (source / "config.json").is_file():
        raise ConfigError(f"{run_dir}: its source run {source} is gone (a quantized run loads the source's head "
                          f"and weights)")
    module = _source_module(source)
    if meta["backend"] == "torch":
        return torch_dynamic_int8(module)
    _, cfg = load_run_config(run_dir)
    return OnnxTask(module, ort_session(run_dir / meta["file"], cfg.train.num_threads))


def quantize(run_dir: str | Path, method: str = "dynamic-int8", backend: str = "onnxruntime",
             out: str | Path | None = None, say=print) -> dict:
    """Quantize a fine-tuned run into a new run directory (default RUN-<method>-<backend> next to RUN),
    evaluate it on the test split and return result.json's contents."""
    run_dir = Path(run_dir)
    if method not in METHODS:
        raise ConfigError(f"--method {method}: expected one of {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune" or is_quantized(run_dir):
        what = "an already quantized run" if verb == "finetune" else f"a {verb} run"
        raise ConfigError(f"{run_dir}: quantize takes a fine-tuning run (this one is {what})")
    if cfg.task.kind == "extractive_qa":
        raise ConfigError(f"{run_dir}: quantize does not take extractive_qa runs yet")
    out = Path(out) if out else run_dir.parent / f"{run_dir.name}-{method}-{backend}"
    if out.exists():
        raise ConfigError(f"{out}: already exists (remove it or pass --out)")

    module = _source_module(run_dir)
    fp32_mb = state_mb(module)
    out.mkdir(parents=True)
    raw = read_json(run_dir / "config.json")
    raw["lineage"] = {**raw.get("lineage", {}), "quantized_from": str(run_dir.resolve())}
    write_json_atomic(out / "config.json", raw)
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.save(out)
    meta = {"method": method, "backend": backend, "source": str(run_dir.resolve()), "fp32_state_mb": round(fp32_mb, 4)}
    if backend == "onnxruntime":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(run_dir, Path(tmp)) / ONNX_FILE
            meta["fp32_file_mb"] = round(fp32.stat().st_size / 1e6, 4)
            quantize_dynamic(str(fp32), str(out / INT8_ONNX), weight_type=QuantType.QInt8)
        meta.update(file=INT8_ONNX, file_mb=round((out / INT8_ONNX).stat().st_size / 1e6, 4))
    else:
        meta["state_mb"] = round(state_mb(torch_dynamic_int8(module)), 4)
    (out / QUANT_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    # The same test split as the source run, scored through the quantized model.
    splits, inputs, qmodule, _ = prepare_finetune(cfg, out, module=load_quantized(out))
    test = run_eval(qmodule, ordered_batches(inputs.labeled_set(splits.test, qmodule), cfg.train.batch_size))
    source_result = run_dir / "result.json"
    result = {"test": test, "source_test": read_json(source_result)["test"] if source_result.is_file() else None,
              "quantize": meta}
    write_json_atomic(out / "result.json", result)
    primary = module.new_metrics().primary
    before = f" (fp32 {result['source_test'][primary]:.4f})" if result["source_test"] else ""
    say(f"quantize {method} ({backend}) done: test {primary} {test[primary]:.4f}{before} -> {out}")
    return result

