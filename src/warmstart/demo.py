"""`warmstart demo`: the whole lifecycle on embedded data, no downloads, no arguments.

pretrain (masked LM on the demo tweets' unlabeled text) -> compare (pretrained vs scratch at three
label budgets x two seeds on 3-way tweet sentiment) -> report. Finished steps are reused on a
re-run unless --fresh.

`warmstart demo --vision` is the same lifecycle on images: a denoising autoencoder pretrains an MLP
on scikit-learn's handwritten digits, then a linear probe and a full fine-tune of it are compared
with the same MLP from scratch at 2, 10 and 50 labels per class x two seeds.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from warmstart.config import load_config

RECIPES = Path(__file__).parent / "recipes"
# modality -> (pretraining recipe, comparison recipe, what step 1 does)
DEMOS = {
    "text": ("demo_pretrain.yaml", "demo_compare.yaml",
             "pretraining a tiny encoder (masked LM) on the embedded unlabeled tweets"),
    "vision": ("vision_demo_pretrain.yaml", "vision_demo_compare.yaml",
               "pretraining a small MLP (denoising autoencoder) on the digits' training-pool images"),
}


def run_demo(out: Path, fresh: bool = False, say=print, vision: bool = False) -> Path:
    from warmstart.experiments.compare import compare
    from warmstart.reports import write_report
    from warmstart.workflows import pretrain

    pre_recipe, cmp_recipe, step1 = DEMOS["vision" if vision else "text"]
    t0 = time.perf_counter()
    if fresh and out.exists():
        shutil.rmtree(out)
    pre_cfg = load_config(RECIPES / pre_recipe, "pretrain", [f"run.out_dir={out}"])
    pre_dir = out / pre_cfg.run.name
    if (pre_dir / "result.json").is_file():
        say(f"[1/3] pretraining already done: {pre_dir}")
    else:
        say(f"[1/3] {step1}")
        pretrain(pre_cfg, resume=pre_dir.exists(), say=say)

    say("[2/3] comparing pretrained vs scratch across label budgets and seeds")
    cmp_cfg = load_config(RECIPES / cmp_recipe, "compare", [f"run.out_dir={out}", f"pretrained={pre_dir}"])
    compare_dir = compare(cmp_cfg, say=say)

    say("[3/3] writing the report")
    report = write_report(compare_dir)
    say(f"demo finished in {time.perf_counter() - t0:.0f}s")
    say(f"  runs:    {out}/")
    say(f"  results: {compare_dir / 'compare.json'}")
    say(f"  report:  {report}  (also report.md; open report.html in a browser)")
    return compare_dir
