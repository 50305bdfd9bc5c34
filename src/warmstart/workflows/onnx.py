"""export --format onnx: a fine-tuned module's logits as an ONNX graph with dynamic batch and sequence
axes, checked against PyTorch with onnxruntime on two input shapes (max abs diff written to onnx.json).

The graph computes exactly `module.logits(batch)` (a strategy's extra state, e.g. LoRA, merged in), so
what `predict` does with logits (softmax, sigmoid, regression's de-standardization) is done by the
caller from onnx.json's head facts. Needs the `deploy` extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from warmstart.checkpoint.io import resolve_checkpoint
from warmstart.errors import ConfigError
from warmstart.inputs import open_inputs
from warmstart.runs import load_run_config
from warmstart.workflows.finetune import load_finetuned

ONNX_FILE, ONNX_META = "model.onnx", "onnx.json"
PARITY_TOL = 1e-4  # max abs diff of the logits, onnxruntime vs PyTorch, above which the export fails


@contextlib.contextmanager
def quiet_exporters():
    """torch.onnx's exporter and onnxruntime's quantizers log messages meant for their own developers
    ('torchvision is not installed. Skipping torchvision::nms' four times per export, 'Please consider to
    run pre-processing before quantization'): silence logging below ERROR and Python warnings while they run."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


class LogitsGraph(nn.Module):
    """module.logits as a function of positional tensors named `names` (what the exporter traces)."""

    def __init__(self, module: nn.Module, names: list[str]):
        super().__init__()
        self.module, self.names = module, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.module.logits(dict(zip(self.names, tensors, strict=True)))


def parity_batches(backbone) -> list[dict[str, torch.Tensor]]:
    """Two input batches of different shapes: the export's example and a check that nothing in the
    graph is fixed to it (text: another batch size and sequence length, with a right-padded row)."""
    first, second = backbone.example_batch(2), backbone.example_batch(5)
    if "input_ids" in second:
        t = max(4, second["input_ids"].size(1) // 2)
        second = {k: v[:, :t].clone() for k, v in second.items()}
        second["attention_mask"][1, t - 2:] = 0
        second["input_ids"][1, t - 2:] = 0
    return [first, second]


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
    except ImportError as e:
        raise ConfigError(f"--format onnx needs onnx, onnxscript and onnxruntime ({e.name} is missing): "
                          f"pip install 'warmstart[deploy]'") from None
    return onnxruntime


def ort_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session for a model file (intra-op threads fixed when given)."""
    ort = _require_onnx()
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_logits(session, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run a session on the inputs it declares, taken from a Batch; the first output as a tensor."""
    feed = {i.name: batch[i.name].numpy() for i in session.get_inputs()}
    return torch.from_numpy(session.run(None, feed)[0])


def export_onnx(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write OUT/model.onnx (+ the tokenizer or transforms.json, and onnx.json: inputs, task, head facts,
    parity) for a fine-tuning run; fails if onnxruntime's logits differ from PyTorch's by > PARITY_TOL."""
    _require_onnx()
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune":
        raise ConfigError(f"{run_dir}: --format onnx exports a fine-tuned model (this one is a {verb} run; "
                          f"use --format hf-backbone for a backbone)")
    if cfg.task.kind in ("extractive_qa", "seq2seq"):  # QA: segment ids and window decoding; seq2seq: generation
        raise ConfigError(f"{run_dir}: --format onnx does not take {cfg.task.kind} runs yet; use --format hf")
    module, strategy = load_finetuned(cfg, resolve_checkpoint(run_dir))
    strategy.merge(module.backbone)  # LoRA adapters folded in: a plain graph
    module.eval()
    batches = parity_batches(module.backbone)
    names = [k for k in batches[0] if k != "labels"]
    graph = LogitsGraph(module, names).eval()
    out = Path(out) if out else run_dir / "export-onnx"
    out.mkdir(parents=True, exist_ok=True)
    dims = {n: {0: torch.export.Dim("batch", max=4096)} for n in names}
    if "input_ids" in names:  # sequence length is dynamic too
        seq = torch.export.Dim("seq", max=max(getattr(module.backbone, "max_len", 512), 8))
        dims = {n: {0: dims[n][0], 1: seq} for n in names}
    with quiet_exporters():  # the exporter's deprecation, tracer and registration chatter
        torch.onnx.export(graph, tuple(batches[0][n] for n in names), str(out / ONNX_FILE), input_names=names,
                          output_names=["logits"], dynamic_shapes=(tuple(dims[n] for n in names),), dynamo=True,
                          external_data=False, verbose=False)
    session = ort_session(out / ONNX_FILE)
    with torch.no_grad():
        diff = max(float((ort_logits(session, b) - graph(*(b[n] for n in names))).abs().max()) for b in batches)
    if diff > PARITY_TOL:
        (out / ONNX_FILE).unlink()
        raise RuntimeError(f"ONNX export of {run_dir}: onnxruntime differs from PyTorch by {diff:.3g} (> {PARITY_TOL})")
    meta = {"inputs": names, "output": "logits", "task": cfg.task.kind, "head": module.info(),
            "multilabel": bool(getattr(module, "multilabel", False)),
            "parity": {"max_abs_diff": diff, "shapes": [list(b[names[0]].shape) for b in batches]}}
    (out / ONNX_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.export(out)
    return out
