"""quantize: a fine-tuned run as an int8 model in a new run directory that evaluate and predict load.

Methods (--method) and the backend each uses (picked by measurement: benchmarks/deploy.py):
  dynamic-int8      Linear weights int8 ahead of time, activations quantized per batch at run time.
                    onnxruntime (default): the run exported to ONNX (workflows.onnx), then
                    onnxruntime.quantization.quantize_dynamic -> a self-contained model.int8.onnx.
                    torch: torch.ao quantize_dynamic, redone at load time (deprecated upstream; measured
                    slower than onnxruntime here, kept to compare).
  static-int8       weights and activations int8, activation ranges calibrated once (min/max) on
                    training-pool examples: onnxruntime.quantization.quantize_static in QDQ format on the
                    MatMul/Gemm inputs (LayerNorm, Softmax and GELU stay fp32) -> model.int8.onnx.
  weight-only-int8  int8 Linear weights with one fp32 scale per output channel: plain torch, every
                    nn.Linear replaced by Int8WeightLinear (aten's CPU int8-weight GEMM with bf16
                    activations where the CPU has native bf16, else dequantize + fp32 matmul)
                    -> model.int8.safetensors (int8 weights + scales + the fp32 rest).

The new run directory holds the source run's config.json (same data, splits and task), its tokenizer
or transforms, quantize.json (method, backend, source run, file sizes) and result.json (test metrics
next to the source's). Loading needs the source run too: its head facts and the module's structure.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from warmstart.checkpoint.io import read_json, write_json_atomic
from warmstart.errors import ConfigError
from warmstart.evaluation import evaluate as run_eval
from warmstart.runs import load_run_config
from warmstart.training.precision import bf16_native
from warmstart.workflows.common import ordered_batches
from warmstart.workflows.finetune import prepare_finetune
from warmstart.workflows.onnx import ONNX_FILE, export_onnx, ort_logits, ort_session, quiet_exporters
from warmstart.workflows.variants import (
    QUANT_META,
    finetune_source,
    is_quantized,
    source_module,
    source_test,
    start_variant,
    variant_dir,
)

# method -> the backends it runs on (the first is the default)
METHODS = {"dynamic-int8": ("onnxruntime", "torch"), "static-int8": ("onnxruntime",), "weight-only-int8": ("torch",)}
BACKENDS = ("onnxruntime", "torch")
INT8_ONNX, INT8_TORCH = "model.int8.onnx", "model.int8.safetensors"
CALIBRATION_EXAMPLES = 256  # training-pool examples whose activation ranges set static int8's scales

__all__ = ["quantize", "load_quantized", "is_quantized", "OnnxTask", "Int8WeightLinear", "METHODS"]


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

    def align(self, tag_ids: list[int], word_of: list[int]):
        """Token classification: tags onto subword positions (what the inputs' batch maker asks the task)."""
        return self.task.align(tag_ids, word_of)

    def new_metrics(self):
        return self.task.new_metrics()

    def info(self) -> dict:
        return self.task.info()


def torch_dynamic_int8(module: nn.Module) -> nn.Module:
    """torch.ao's dynamic int8 quantization of every nn.Linear (deprecated upstream; kept to compare)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


class Int8WeightLinear(nn.Module):
    """y = x W^T + b with W stored as int8 (N, K) and one fp32 scale per output row: W ~ scale[:, None] * W_int8.

    On a CPU with native bf16 (and K a multiple of 16) the product runs in aten's int8-weight GEMM
    (_weight_int8pack_mm: int8 weights converted inside the kernel) with bf16 activations - its
    fp32-activation path is a scalar loop, ~30x slower than fp32 F.linear. Elsewhere (emulated bf16 would
    be slower still) the weight is dequantized per call and multiplied in fp32. Either way only the weights
    shrink (4x) and lose precision."""

    def __init__(self, in_features: int, out_features: int, bias: bool, bf16: bool | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # The kernel needs K % 16 == 0 (measured on torch 2.13: K = 8 gives inf, K = 24 crashes the process).
        self.bf16 = (bf16_native() if bf16 is None else bf16) and in_features % 16 == 0
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features))
        self.bias = nn.Parameter(torch.zeros(out_features), requires_grad=False) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, bf16: bool | None = None) -> "Int8WeightLinear":
        q = cls(linear.in_features, linear.out_features, linear.bias is not None, bf16)
        w = linear.weight.detach().float()
        # Symmetric per-output-channel scale: the row's largest |w| maps to 127 (a zero row keeps scale 1).
        scale = w.abs().amax(1) / 127.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        q.weight_int8.copy_(torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        q.scale.copy_(scale)
        if linear.bias is not None:
            q.bias.data.copy_(linear.bias.detach())
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).contiguous()  # (B*T, K)
        if self.bf16:
            y = torch.ops.aten._weight_int8pack_mm(flat.to(torch.bfloat16), self.weight_int8,
                                                   self.scale.to(torch.bfloat16)).float()  # (B*T, N)
        else:
            y = flat.float() @ (self.weight_int8.float() * self.scale[:, None]).T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, activations={'bf16' if self.bf16 else 'fp32'}"


def weight_only_int8(module: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `module` by an Int8WeightLinear, in place; returns `module`."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8WeightLinear.from_linear(child))
        else:
            weight_only_int8(child)
    return module


def state_mb(module: nn.Module) -> float:
    """Serialized size of a module's state dict in MB (measured in memory, nothing written)."""
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell() / 1e6


class CalibrationBatches:
    """onnxruntime's CalibrationDataReader protocol over our batches: get_next() -> {input name: array} or None."""

    def __init__(self, batches, names: list[str]):
        self.batches, self.names = iter(batches), names

    def get_next(self) -> dict | None:
        batch = next(self.batches, None)
        return None if batch is None else {n: batch[n].numpy() for n in self.names}


def load_quantized(run_dir: str | Path) -> nn.Module:
    """The module of a quantized run: OnnxTask on model.int8.onnx, the source module re-quantized by
    torch.ao, or the source module's structure with the stored int8 weights (weight-only)."""
    run_dir = Path(run_dir)
    meta = read_json(run_dir / QUANT_META)
    source = Path(meta["source"])
    if not (source / "config.json").is_file():
        raise ConfigError(f"{run_dir}: its source run {source} is gone (a quantized run loads the source's head "
                          f"and structure)")
    module = source_module(source)
    if meta["method"] == "weight-only-int8":
        module = weight_only_int8(module)
        missing, unexpected = module.load_state_dict(load_file(str(run_dir / meta["file"])), strict=False)
        if missing or unexpected:
            raise ConfigError(f"{run_dir / meta['file']}: does not match the source run's model (missing "
                              f"{missing[:2]}, unexpected {unexpected[:2]})")
        return module.eval()
    if meta["backend"] == "torch":
        return torch_dynamic_int8(module)
    _, cfg = load_run_config(run_dir)
    return OnnxTask(module, ort_session(run_dir / meta["file"], cfg.train.num_threads))


def check_quantize_args(run_dir: Path, method: str, backend: str | None) -> str:
    """The backend to use, or a one-line ConfigError for a bad argument or a run that is not a fine-tune."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: expected one of {', '.join(METHODS)}")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    if backend is not None and backend not in METHODS[method]:
        raise ConfigError(f"--backend {backend}: --method {method} runs on {' or '.join(METHODS[method])}")
    finetune_source(run_dir, "quantize")
    return backend or METHODS[method][0]


def quantize(run_dir: str | Path, method: str = "dynamic-int8", backend: str | None = None,
             out: str | Path | None = None, say=print, calibration_examples: int = CALIBRATION_EXAMPLES) -> dict:
    """Quantize a fine-tuned run into a new run directory (default RUN-<method>-<backend> next to RUN),
    evaluate it on the test split and return result.json's contents."""
    run_dir = Path(run_dir)
    backend = check_quantize_args(run_dir, method, backend)
    _, cfg = load_run_config(run_dir)
    if cfg.task.kind in ("extractive_qa", "seq2seq"):
        raise ConfigError(f"{run_dir}: quantize does not take {cfg.task.kind} runs yet")
    module = source_module(run_dir)
    if method == "weight-only-int8" and not any(isinstance(m, nn.Linear) for m in module.modules()):
        raise ConfigError(f"{run_dir}: --method weight-only-int8 quantizes Linear layers; this run's model has none")
    out = variant_dir(run_dir, out, f"{method}-{backend}")
    fp32_mb = state_mb(module)
    start_variant(run_dir, out, "quantized_from")
    meta = {"method": method, "backend": backend, "source": str(run_dir.resolve()), "fp32_state_mb": round(fp32_mb, 4)}
    if backend == "onnxruntime":
        from onnxruntime.quantization import (
            QuantFormat,
            QuantType,
            quant_pre_process,
            quantize_dynamic,
            quantize_static,
        )

        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(run_dir, Path(tmp)) / ONNX_FILE
            meta["fp32_file_mb"] = round(fp32.stat().st_size / 1e6, 4)
            if method == "dynamic-int8":
                with quiet_exporters():
                    quantize_dynamic(str(fp32), str(out / INT8_ONNX), weight_type=QuantType.QInt8)
            else:
                # Calibration: the first examples of the source's training split (the pool it learned from; the
                # test split stays unseen), in the run's batch size, in order.
                splits, inputs, _, _ = prepare_finetune(cfg, run_dir, module=module)
                calib = inputs.labeled_set(splits.train[:calibration_examples], module)
                names = json.loads((fp32.parent / "onnx.json").read_text(encoding="utf-8"))["inputs"]
                # onnxruntime's recommended pre-processing (graph optimization + ONNX shape inference; its
                # symbolic shape inference cannot resolve the exporter's dynamic sequence axis, so skipped).
                ready = fp32.parent / "model.pre.onnx"
                with quiet_exporters():
                    quant_pre_process(str(fp32), str(ready), skip_symbolic_shape=True)
                    quantize_static(str(ready), str(out / INT8_ONNX),
                                    CalibrationBatches(ordered_batches(calib, cfg.train.batch_size), names),
                                    quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul", "Gemm"],
                                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
                meta["calibration_examples"] = min(calibration_examples, len(splits.train))
        meta.update(file=INT8_ONNX, file_mb=round((out / INT8_ONNX).stat().st_size / 1e6, 4))
    elif method == "weight-only-int8":
        state = {k: v.contiguous() for k, v in weight_only_int8(module).state_dict().items()}
        save_file(state, str(out / INT8_TORCH))
        meta.update(file=INT8_TORCH, file_mb=round((out / INT8_TORCH).stat().st_size / 1e6, 4),
                    state_mb=round(state_mb(module), 4), activations="bf16" if bf16_native() else "fp32")
    else:
        meta["state_mb"] = round(state_mb(torch_dynamic_int8(module)), 4)
    write_json_atomic(out / QUANT_META, meta)

    # The same test split as the source run, scored through the quantized model.
    splits, inputs, qmodule, _ = prepare_finetune(cfg, out, module=load_quantized(out))
    test = run_eval(qmodule, ordered_batches(inputs.labeled_set(splits.test, qmodule), cfg.train.batch_size))
    result = {"test": test, "source_test": source_test(run_dir), "quantize": meta}
    write_json_atomic(out / "result.json", result)
    primary = qmodule.new_metrics().primary
    before = f" (fp32 {result['source_test'][primary]:.4f})" if result["source_test"] else ""
    say(f"quantize {method} ({backend}) done: test {primary} {test[primary]:.4f}{before} -> {out}")
    return result
