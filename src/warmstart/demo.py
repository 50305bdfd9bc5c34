"""`warmstart demo`: the whole lifecycle on embedded data, no downloads, no arguments.

pretrain (masked LM on the demo tweets' unlabeled text) -> compare (pretrained vs scratch at three
label budgets x two seeds on 3-way tweet sentiment) -> report. Finished steps are reused on a
re-run unless --fresh.

`warmstart demo --vision` is the same lifecycle on images: a denoising autoencoder pretrains an MLP
on scikit-learn's handwritten digits, then a linear probe and a full fine-tune of it are compared
with the same MLP from scratch at 2, 10 and 50 labels per class x two seeds.

`warmstart demo --checkpoint` asks which starting point to use for the tweets: the public
all-MiniLM-L6-v2 checkpoint (the `minilm` extra) probed and fine-tuned, MiniLM after task-adaptive
pretraining on the tweets' training pool, the demo's own tiny MLM, scratch and TF-IDF.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from warmstart.config import load_config

RECIPES = Path(__file__).parent / "recipes"


@dataclass(frozen=True)
class Pretraining:
    """One pretraining run of a demo: its recipe and --set overrides, the compare field its run
    directory goes into, and what it does (printed)."""

    recipe: str
    into: str
    what: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Demo:
    pretraining: tuple[Pretraining, ...]
    compare: str
    what: str              # what the compare step compares
    needs_minilm: bool = False


DEMOS = {
    "text": Demo((Pretraining("demo_pretrain.yaml", "pretrained",
                              "pretraining a tiny encoder (masked LM) on the embedded unlabeled tweets"),),
                 "demo_compare.yaml", "pretrained vs scratch"),
    "vision": Demo((Pretraining("vision_demo_pretrain.yaml", "pretrained", "pretraining a small MLP (denoising "
                                "autoencoder) on the digits' training-pool images"),),
                   "vision_demo_compare.yaml", "pretrained vs scratch"),
    # The own MLM is the plain demo's recipe cut to 300 steps to fit the time (demo_checkpoint_compare.yaml).
    "checkpoint": Demo((Pretraining("demo_pretrain.yaml", "sources.own-mlm",
                                    "pretraining the demo's tiny encoder (masked LM, 300 steps) on the tweets' "
                                    "training pool", ("train.max_steps=300",)),
                        Pretraining("demo_checkpoint_tapt.yaml", "sources.minilm+tapt",
                                    "continuing MiniLM's masked LM on the tweets' training pool (task-adaptive "
                                    "pretraining)")),
                       "demo_checkpoint_compare.yaml", "MiniLM (probe, fine-tuned, +TAPT), own MLM, scratch and TF-IDF",
                       needs_minilm=True),
}


def run_demo(out: Path, fresh: bool = False, say=print, vision: bool = False, checkpoint: bool = False) -> Path:
    from warmstart.experiments.compare import compare
    from warmstart.reports import write_report
    from warmstart.workflows import pretrain

    demo = DEMOS["checkpoint" if checkpoint else "vision" if vision else "text"]
    if demo.needs_minilm:  # one line and exit 2 before any training when the extra is missing
        from warmstart.data.packaged import hf_model_dir

        hf_model_dir("minilm", "warmstart demo --checkpoint")
    t0 = time.perf_counter()
    if fresh and out.exists():
        shutil.rmtree(out)
    n = len(demo.pretraining) + 2
    pointers = []
    for i, step in enumerate(demo.pretraining, start=1):
        pre_cfg = load_config(RECIPES / step.recipe, "pretrain", [f"run.out_dir={out}", *step.overrides])
        pre_dir = out / pre_cfg.run.name
        if (pre_dir / "result.json").is_file():
            say(f"[{i}/{n}] pretraining already done: {pre_dir}")
        else:
            say(f"[{i}/{n}] {step.what}")
            pretrain(pre_cfg, resume=pre_dir.exists(), say=say)
        pointers.append(f"{step.into}={pre_dir}")

    say(f"[{n - 1}/{n}] comparing {demo.what} across label budgets and seeds")
    cmp_cfg = load_config(RECIPES / demo.compare, "compare", [f"run.out_dir={out}", *pointers])
    compare_dir = compare(cmp_cfg, say=say)

    say(f"[{n}/{n}] writing the report")
    report = write_report(compare_dir)
    say(f"demo finished in {time.perf_counter() - t0:.0f}s")
    say(f"  runs:    {out}/")
    say(f"  results: {compare_dir / 'compare.json'}")
    say(f"  report:  {report}  (also report.md; open report.html in a browser)")
    return compare_dir
