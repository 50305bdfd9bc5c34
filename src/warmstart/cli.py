"""The `warmstart` command: verbs that each load a config, call one library function and map errors.

No training logic lives here, and nothing heavy is imported at module level, so `warmstart --help`
starts in a fraction of a second. A WarmstartError becomes one line on stderr and exit code 2
(the traceback only with --debug).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warmstart.config.schema import Section

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for a Ctrl-C'd command
# OSErrors that are the machine's state, not a bug: a full disk or quota, a read-only or forbidden directory.
STORAGE_ERRNOS = {"ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM"}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML recipe (see src/warmstart/recipes/ for examples)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field, e.g. --set train.max_steps=50 (repeatable)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run directory of the same name first")


def _add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: the run's train.device "
                   "where this machine has it, else cpu)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmstart",
        description="Pretrain a backbone, fine-tune it, and measure what pretraining bought.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = sub.add_parser("pretrain", help="pretrain a backbone (causal LM, masked LM, ...)")
    _add_config_args(p)
    _add_run_args(p)
    p = sub.add_parser("finetune", help="fine-tune a task head on a pretrained or fresh backbone")
    _add_config_args(p)
    _add_run_args(p)
    p = sub.add_parser("compare", help="pretrained vs scratch across label budgets and seeds")
    _add_config_args(p)
    p.add_argument("--jobs", type=int, default=1,
                   help="cells to run in parallel processes (default 1); with GPUs, each process gets its own GPU "
                        "(round-robin)")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local (default: this machine, --jobs at a time) or ray: each cell a Ray task on the cluster "
                        "at RAY_ADDRESS (or a local Ray instance); pip install 'warmstart[ray]'")
    p.add_argument("--cpus-per-cell", type=int, default=None, metavar="N",
                   help="ray: CPUs each cell reserves, also its torch threads (default train.num_threads, else 1)")
    p.add_argument("--gpus-per-cell", type=float, default=None, metavar="G",
                   help="ray: GPUs each cell that trains on CUDA reserves (default 1; 0.5 packs two cells per GPU)")

    p = sub.add_parser("distill", help="train a (smaller) student on a task with a fine-tuned run as its teacher, "
                       "or a student LM on a corpus with a causal-LM pretraining run as its teacher")
    _add_config_args(p)
    _add_run_args(p)

    p = sub.add_parser("lr-find", help="LR range test: loss vs LR plot and a suggested optim.lr")
    _add_config_args(p)
    p.add_argument("--min-lr", type=float, default=1e-6, help="first LR of the sweep (default 1e-6)")
    p.add_argument("--max-lr", type=float, default=1.0, help="last LR of the sweep (default 1)")
    p.add_argument("--steps", type=int, default=100, help="sweep steps (default 100)")
    p.add_argument("--out", default=None, help="output directory (default <out_dir>/<run name>-lr-find)")

    p = sub.add_parser("evaluate", help="evaluate a finished run on a split")
    p.add_argument("run_dir")
    p.add_argument("--split", default=None, help="test (default for fine-tunes), val, or train")
    p.add_argument("--by-group", action="store_true",
                   help="also per group of data.group_field: metrics, worst and best group, and their gap")
    _add_device_arg(p)
    p = sub.add_parser("predict", help="predict for new inputs: texts (a .txt file, one per line, or - for stdin), "
                                       "images (a file, a folder of images or an .npz), feature vectors (a .csv), "
                                       "or questions with their contexts (extractive QA: .jsonl lines "
                                       "{question, context} or a SQuAD .json), or prompts (sft: one per line, or "
                                       ".jsonl lines {prompt} or {messages}); one JSON line per input")
    p.add_argument("run_dir")
    p.add_argument("input")
    _add_device_arg(p)
    p = sub.add_parser("report", help="write report.html / report.md for a compare (or run) directory")
    p.add_argument("dir")
    p = sub.add_parser("export", help="export a run as a Hugging Face directory (a fine-tune as a transformers "
                                      "classifier), ONNX, or its word vectors")
    p.add_argument("run_dir")
    p.add_argument("--format", default="hf",
                   choices=["hf", "hf-backbone", "onnx", "word2vec", "word2vec-binary", "safetensors"],
                   help="hf (default: a fine-tune as AutoModelForSequenceClassification, needs task.pooling=native; "
                        "a pretraining run as its backbone); hf-backbone (the backbone + warmstart_head.* files); "
                        "onnx (model.onnx, checked against PyTorch with onnxruntime); word vectors: word2vec (text), "
                        "word2vec-binary, safetensors (+ vocab.txt)")
    p.add_argument("--out", default=None,
                   help="output directory or file (default RUN_DIR/export, or RUN_DIR/export/vectors.txt|.bin)")

    p = sub.add_parser("quantize", help="int8-quantize a fine-tuned run into a new run directory that evaluate and "
                                        "predict load; scores it on the test split")
    p.add_argument("run_dir")
    p.add_argument("--method", default="dynamic-int8", choices=["dynamic-int8", "static-int8", "weight-only-int8"],
                   help="dynamic-int8 (default: int8 Linear weights, activations quantized per batch); static-int8 "
                        "(activation ranges calibrated on training examples, onnxruntime QDQ); weight-only-int8 "
                        "(int8 weights + per-channel scales, fp32 activations, torch)")
    p.add_argument("--backend", default=None, choices=["onnxruntime", "torch"],
                   help="dynamic-int8 only: onnxruntime (default: ONNX export + quantize_dynamic, a self-contained "
                        "model.int8.onnx) or torch (torch.ao quantize_dynamic, deprecated upstream)")
    p.add_argument("--out", default=None, help="new run directory (default RUN_DIR-<method>-<backend>)")

    p = sub.add_parser("prune", help="magnitude-prune a fine-tuned run into a new run directory (optionally with a "
                                     "short recovery fine-tune); scores it before and after")
    p.add_argument("run_dir")
    p.add_argument("--sparsity", type=float, default=0.5,
                   help="fraction of weights (none), attention heads (heads) or FFN neurons (neurons) removed per "
                        "layer, in (0, 1) (default 0.5)")
    p.add_argument("--structured", default="none", choices=["none", "heads", "neurons"],
                   help="none (default: zero the smallest weights, same shapes); heads or neurons (BERT-style "
                        "encoders: remove whole heads or FFN neurons, a smaller, faster model)")
    p.add_argument("--recover-steps", type=int, default=0,
                   help="fine-tuning steps after pruning, masks kept fixed (default 0 = none)")
    p.add_argument("--recover-lr", type=float, default=None, help="LR of the recovery (default the run's optim.lr)")
    p.add_argument("--out", default=None, help="new run directory (default RUN_DIR-pruned-<structured>-<percent>)")

    p = sub.add_parser("bench-deploy", help="the deployment table: params, file MB, test metric and delta, batch-1 "
                                            "latency p50/p95 and batch-32 throughput of a fine-tune and its variants")
    p.add_argument("run_dir", help="the fine-tuned run (the reference row)")
    p.add_argument("variants", nargs="*", help="variant runs: quantized, pruned, distilled (same data and task)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for every row (default 1)")
    p.add_argument("--calls", type=int, default=300, help="timed batch-1 calls per row, after 10 warm-up (default 300)")
    p.add_argument("--no-onnx", action="store_true", help="leave out the fp32 onnxruntime row (the reference exported)")
    p.add_argument("--out", default=None, help="also write the table as JSON to this file")

    p = sub.add_parser("config", help="validate, show, or explain a recipe")
    p.add_argument("action", choices=["validate", "show", "explain"])
    _add_config_args(p)
    p.add_argument("--schema", choices=["pretrain", "finetune", "compare", "distill"], default=None,
                   help="which schema to use (default: inferred from the sections)")

    p = sub.add_parser("demo", help="pretrain -> compare -> report on the embedded data (no downloads)")
    p.add_argument("--out", default="runs/demo", help="where the demo's runs go (default runs/demo)")
    p.add_argument("--fresh", action="store_true", help="start over instead of reusing finished steps")
    p.add_argument("--vision", action="store_true",
                   help="the image demo instead: denoising-autoencoder pretraining on handwritten digits, then compare "
                        "(default --out runs/demo_vision)")
    p.add_argument("--checkpoint", action="store_true",
                   help="which starting point for the tweets: the public MiniLM checkpoint (probe, fine-tuned, after "
                        "task-adaptive pretraining), the demo's own MLM, scratch and TF-IDF; needs the minilm extra "
                        "(default --out runs/demo_checkpoint)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from warmstart.errors import WarmstartError

    try:
        return VERBS[args.verb](args) or 0
    except WarmstartError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:
        import errno

        if args.debug or errno.errorcode.get(e.errno) not in STORAGE_ERRNOS:
            raise
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot write{where}: {e.strerror} ({errno.errorcode[e.errno]}); checkpoints on disk stay "
              "valid: free space or fix permissions, then re-run with --resume", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: checkpoints and finished compare cells are kept; re-run the same command (pretrain/"
              "finetune with --resume) to continue", file=sys.stderr)
        return EXIT_INTERRUPTED


# ------------------------------------------------------------------------------------------ verbs


def _load(args, verb: str):
    from warmstart.config import load_config

    return load_config(args.config, verb, args.overrides)


def _pretrain(args) -> None:
    from warmstart.workflows import pretrain

    pretrain(_load(args, "pretrain"), resume=args.resume, overwrite=args.overwrite)


def _finetune(args) -> None:
    from warmstart.workflows import finetune

    finetune(_load(args, "finetune"), resume=args.resume, overwrite=args.overwrite)


def _compare(args) -> None:
    from warmstart.experiments.compare import compare

    compare(_load(args, "compare"), jobs=args.jobs, backend=args.backend, cpus_per_cell=args.cpus_per_cell,
            gpus_per_cell=args.gpus_per_cell)


def _distill(args) -> None:
    from warmstart.config import distill_verb, read_yaml
    from warmstart.config.overrides import apply_overrides

    # A recipe whose data is a text corpus distills a causal LM (a pretraining-run teacher), else a task model.
    if distill_verb(apply_overrides(read_yaml(args.config), args.overrides)) == "distill_lm":
        from warmstart.workflows.distill_lm import distill_lm

        distill_lm(_load(args, "distill_lm"), resume=args.resume, overwrite=args.overwrite)
        return
    from warmstart.workflows.distill import distill

    distill(_load(args, "distill"), resume=args.resume, overwrite=args.overwrite)


def _lr_find(args) -> None:
    from warmstart.config import infer_verb, read_yaml
    from warmstart.config.overrides import apply_overrides
    from warmstart.errors import ConfigError
    from warmstart.workflows import lr_find

    verb = infer_verb(apply_overrides(read_yaml(args.config), args.overrides))
    if verb not in ("pretrain", "finetune"):
        raise ConfigError(f"{args.config}: lr-find takes a pretrain or finetune config, not a {verb} config")
    lr_find(_load(args, verb), args.min_lr, args.max_lr, args.steps, args.out)


def _evaluate(args) -> None:
    from warmstart.runs import load_run_config
    from warmstart.workflows import evaluate

    verb, _ = load_run_config(Path(args.run_dir))
    split = args.split or ("val" if verb == "pretrain" else "test")
    metrics = evaluate(args.run_dir, split, by_group=args.by_group, device=args.device)
    if "analogy" in metrics:  # a word-vector run: benchmark scores with OOV counts (also in RUN/eval.json)
        from warmstart.wordvec.evaluate import format_eval_table

        print(format_eval_table({Path(args.run_dir).name: metrics}))
        return
    print(json.dumps({"split": split, **metrics}, indent=2))


def _predict(args) -> None:
    from warmstart.errors import DataError
    from warmstart.workflows import predict, predict_file, run_modality

    modality = run_modality(args.run_dir)
    # Images, feature vectors or question-context pairs: files only; sft: a file (.jsonl chats or one prompt per
    # line) or stdin (one prompt per line).
    if modality != "text" and not (modality == "sft" and args.input == "-"):
        if args.input == "-":
            raise DataError(f"predict -: stdin takes texts; a {modality} run predicts for an image file, "
                            "a folder of images, an .npz, a .csv, or (qa) a .jsonl of questions and contexts")
        for pred in predict_file(args.run_dir, args.input, device=args.device):
            print(json.dumps(pred))
        return
    if args.input == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(args.input)
        if not path.is_file():
            raise DataError(f"{path}: input file not found")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
    texts = [ln for ln in lines if ln.strip()]
    if not texts:
        raise DataError(f"{args.input}: no non-empty lines to predict")
    for text, pred in zip(texts, predict(args.run_dir, texts, device=args.device), strict=True):
        print(json.dumps({"text": text, **pred}))


def _report(args) -> None:
    from warmstart.reports import write_report

    print(f"report: {write_report(args.dir)}")


def _export(args) -> None:
    from warmstart.workflows import export

    out = export(args.run_dir, args.format, args.out)
    print(f"exported: {out}")
    if args.format == "onnx":
        parity = json.loads((out / "onnx.json").read_text(encoding="utf-8"))["parity"]
        print(f"onnxruntime vs PyTorch logits: max abs diff {parity['max_abs_diff']:.2e} on shapes {parity['shapes']}")


def _quantize(args) -> None:
    from warmstart.workflows.quantize import quantize

    quantize(args.run_dir, args.method, args.backend, args.out)


def _prune(args) -> None:
    from warmstart.workflows.prune import prune

    prune(args.run_dir, args.sparsity, args.structured, args.recover_steps, args.out, args.recover_lr)


def _bench_deploy(args) -> None:
    from warmstart.workflows.bench_deploy import bench_deploy

    bench_deploy(args.run_dir, args.variants, onnx=not args.no_onnx, threads=args.threads, calls=args.calls,
                 out=args.out)


def _config(args) -> None:
    from warmstart.config import infer_verb, load_config, read_yaml
    from warmstart.config.overrides import apply_overrides

    verb = args.schema or infer_verb(apply_overrides(read_yaml(args.config), args.overrides))
    cfg = load_config(args.config, verb, args.overrides)
    if args.action == "validate":
        print(f"{args.config}: valid {verb} config")
    elif args.action == "show":
        import yaml

        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    else:
        for line in explain(cfg):
            print(line)


def explain(cfg: Section, prefix: str = "") -> list[str]:
    """One line per field: dotted name, current value, description."""
    from pydantic import BaseModel

    lines = []
    for name, field in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            lines.append(f"{key}:  ({field.description or type(value).__doc__ or ''})".rstrip())
            lines.extend(explain(value, key + "."))
        else:
            shown = json.dumps(value,
                               default=lambda v: v.model_dump(mode="json") if isinstance(v, BaseModel) else str(v))
            lines.append(f"{key} = {shown}  # {field.description or ''}")
    return lines


def _demo(args) -> None:
    from warmstart.demo import run_demo
    from warmstart.errors import ConfigError

    if args.vision and args.checkpoint:
        raise ConfigError("warmstart demo: give --vision or --checkpoint, not both")
    out = args.out
    if args.out == "runs/demo" and (args.vision or args.checkpoint):
        out = "runs/demo_vision" if args.vision else "runs/demo_checkpoint"
    run_demo(Path(out), fresh=args.fresh, vision=args.vision, checkpoint=args.checkpoint)


VERBS = {
    "pretrain": _pretrain, "finetune": _finetune, "compare": _compare, "distill": _distill, "lr-find": _lr_find,
    "evaluate": _evaluate, "predict": _predict, "report": _report, "export": _export, "quantize": _quantize,
    "prune": _prune, "bench-deploy": _bench_deploy, "config": _config, "demo": _demo,
}
