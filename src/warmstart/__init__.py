"""warmstart: pretrain a backbone on unlabeled data, fine-tune it on a little labeled data, and
measure what pretraining bought (pretrained vs scratch across label budgets and seeds).

The public API is small and lazily imported, so `import warmstart` stays fast:
    load_config, pretrain, finetune, compare, evaluate, predict, export, write_report
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_config": ("warmstart.config", "load_config"),
    "pretrain": ("warmstart.workflows", "pretrain"),
    "finetune": ("warmstart.workflows", "finetune"),
    "evaluate": ("warmstart.workflows", "evaluate"),
    "predict": ("warmstart.workflows", "predict"),
    "export": ("warmstart.workflows", "export"),
    "compare": ("warmstart.experiments.compare", "compare"),
    "write_report": ("warmstart.reports", "write_report"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'warmstart' has no attribute {name!r}")
