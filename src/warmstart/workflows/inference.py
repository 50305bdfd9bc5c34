"""evaluate and predict: a finished run on a split, or on raw inputs."""

from __future__ import annotations

from pathlib import Path

import torch

from warmstart.checkpoint.io import resolve_checkpoint
from warmstart.config.schema import WORD_VECTOR_KINDS, FinetuneConfig
from warmstart.errors import ConfigError, DataError
from warmstart.inputs import open_inputs
from warmstart.runs import load_run_config, set_threads
from warmstart.training.device import inference_device
from warmstart.training.distributed import World
from warmstart.workflows.common import evaluate_on, metrics_by_group, ordered_batches
from warmstart.workflows.finetune import load_finetuned, prepare_finetune
from warmstart.workflows.pretrain import pretrain_objective
from warmstart.workflows.quantize import is_quantized, load_quantized


def evaluate(run_dir: str | Path, split: str = "test", by_group: bool = False, device: str | None = None,
             say=print) -> dict:
    """Re-evaluate a finished run on a split (fine-tune: val/test/train; pretrain: val). by_group
    adds "by_group" (workflows.common.metrics_by_group) for a run whose data has groups
    (data.group_field, or an image folder's group_file).
    `device`: where to run (None = the run's train.device where this machine has it, else the CPU)."""
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if by_group and not getattr(cfg.data, "grouped", False):
        raise ConfigError(f"--by-group: {run_dir} has no data.group_field (set it in the recipe to name "
                          "each example's group; image folders: data.group_file)")
    if verb == "pretrain" and cfg.objective.kind in WORD_VECTOR_KINDS:
        from warmstart.wordvec.pretrain import evaluate_run

        if split != "val":
            raise ConfigError(f"--split {split}: word vectors are scored on WordSim353, SimLex-999 and analogies, "
                              "not on a split")
        return evaluate_run(run_dir, cfg.objective.analogy_vocab)
    set_threads(cfg.train.num_threads)
    if verb == "pretrain":
        if split != "val":
            raise ConfigError(f"--split {split}: a pretraining run has only a 'val' split")
        module, val_set = pretrain_objective(cfg, run_dir, resolve_checkpoint(run_dir))
        here = _placed(module, run_dir, cfg, device, say)
        return evaluate_on(module, val_set, cfg.train, here)
    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split {split}: expected one of train, val, test")
    splits, inputs, module, _ = prepare_finetune(cfg, run_dir, module=finetuned_module(run_dir, cfg))
    here = _placed(module, run_dir, cfg, device, say)
    records = getattr(splits, split)
    metrics = evaluate_on(module, inputs.labeled_set(records, module), cfg.train, here)
    if by_group:
        metrics["by_group"] = metrics_by_group(module, inputs, records, cfg.train, here)
    return metrics


def _placed(module: torch.nn.Module, run_dir: Path, cfg, device: str | None, say=print) -> World:
    """`module` moved to where inference runs (a quantized run stays on the CPU: its int8 kernels are
    CPU kernels); a one-process World there, for evaluate_on and ordered_batches."""
    if is_quantized(run_dir):
        return World()
    here = World(device=inference_device(device, cfg.train.device, say))
    module.to(here.device)
    return here


def finetuned_module(run_dir: Path, cfg: FinetuneConfig) -> torch.nn.Module:
    """The task module of a finished fine-tune: from its checkpoint, or a quantized run's model."""
    if is_quantized(run_dir):
        return load_quantized(run_dir)
    return load_finetuned(cfg, resolve_checkpoint(run_dir))[0]


def load_predictor(run_dir: str | Path, device: str | None = None, say=print):
    """(module, inputs, cfg) of a fine-tuned run, ready for inference on `device` (see evaluate)."""
    return _predictor(run_dir, device, say)[:3]


def _predictor(run_dir: str | Path, device: str | None, say):
    run_dir = Path(run_dir)
    verb, cfg = load_run_config(run_dir)
    if verb != "finetune":
        raise ConfigError(f"{run_dir}: predict needs a fine-tuning run (this one is a {verb} run)")
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    module = finetuned_module(run_dir, cfg)
    module.eval()
    return module, inputs, cfg, _placed(module, run_dir, cfg, device, say)


@torch.no_grad()
def predict(run_dir: str | Path, items, batch_size: int = 64, device: str | None = None, say=print) -> list[dict]:
    """Predictions for raw inputs, as the task decodes them: {"label", "probs"} per class,
    {"labels", "probs"} for multi-label classification, {"value"} for regression, {"tokens",
    "tags", "entities"} (with character offsets) for token classification, {"answer", "start", "end",
    "score", "no_answer", ...} for extractive QA (ExtractiveQA.predictions).

    `items`: a list of texts (text runs), of {"question", "context"} dicts (QA runs), an array
    (N, C, H, W) of images scaled to [0, 1] (image runs), or an array (N, F) of raw features
    (vector runs); `predict_file` reads them from disk.
    """
    module, inputs, _, here = _predictor(run_dir, device, say)
    examples = inputs.predict_set(items, module)
    return [pred for batch in ordered_batches(examples, batch_size, world=here)
            for pred in module.predictions(module.logits(batch), batch)]


def predict_file(run_dir: str | Path, path: str | Path, device: str | None = None, say=print) -> list[dict]:
    """Predictions for a file in the run's modality: a text file (one text per line), an image
    file, a folder of images or an .npz (image runs), a CSV with the feature columns (vector runs).
    Each result carries the "input" it belongs to (the text, file name, or file:line)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input file not found")
    _, cfg = load_run_config(Path(run_dir))
    inputs = open_inputs(cfg.data)
    inputs.load(Path(run_dir))
    names, items = inputs.read_predict_file(path)
    if len(names) == 0:
        raise DataError(f"{path}: nothing to predict")
    return [{"input": name, **pred} for name, pred in zip(names, predict(run_dir, items, device=device, say=say),
                                                                 strict=True)]


def run_modality(run_dir: str | Path) -> str:
    """"text", "image" or "vector": what a run's data is; "qa" for extractive QA (questions with
    their contexts, read from a file); "sft" for instruction tuning (prompts, one per line, or a
    .jsonl of prompt / messages records)."""
    data_cfg = load_run_config(Path(run_dir))[1].data
    if getattr(data_cfg, "sft", False):
        return "sft"
    return "qa" if getattr(data_cfg, "qa", False) else data_cfg.modality
