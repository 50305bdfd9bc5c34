"""The lifecycle verbs as library functions: pretrain, finetune, evaluate, predict, export, lr_find.

Each reads top to bottom like a script, one concept module per line; the CLI is a thin wrapper.
Text, images and feature vectors take the same path: `inputs.open_inputs(cfg.data)` picks the
modality's Inputs object (tokenizer or normalizer, and batch makers), and everything after it -
backbone, objective or task, strategy, loop, checkpoints - does not care which it was.

    common.py     where the backbone comes from; prepare_training(): strategy -> optimizer ->
                  schedule -> batches -> state, the sequence every training verb shares
    pretrain.py   pretrain; a pretraining run's objective with its validation set
    finetune.py   finetune, with the forgetting check; the fine-tuned module of a run
    inference.py  evaluate, predict
    export.py     export (HF format: a transformers classifier or the backbone; word vectors)
    onnx.py       export --format onnx, with the onnxruntime parity check
    quantize.py   quantize (dynamic int8: onnxruntime or torch.ao; static int8: onnxruntime QDQ; weight-only
                  int8: torch) into a run dir evaluate/predict load
    prune.py      prune (magnitude: unstructured, or heads/FFN neurons sliced out) + recovery fine-tune
    variants.py   what quantized and pruned run dirs share: the source check, its module, the new dir
    bench_deploy.py  the deployment table: size, test metric, latency and throughput per variant
    lr_find.py    the LR range test
"""

from warmstart.workflows.export import export
from warmstart.workflows.finetune import finetune, forgetting_check, prepare_finetune
from warmstart.workflows.inference import evaluate, load_predictor, predict, predict_file, run_modality
from warmstart.workflows.lr_find import lr_find
from warmstart.workflows.pretrain import pretrain

__all__ = ["pretrain", "finetune", "evaluate", "predict", "predict_file", "load_predictor", "run_modality", "export",
           "lr_find", "prepare_finetune", "forgetting_check"]
