"""Distillation on the demo tweets: teacher vs distilled student vs the same student on labels alone.

Accuracy only (no timing), so it can run on a busy machine. Needs the demo's pretraining run
(`warmstart demo`, or `warmstart pretrain src/warmstart/recipes/demo_pretrain.yaml`). Per seed:
  teacher   demo_finetune_teacher.yaml: the pretrained encoder fine-tuned on every pool label
            (--teacher-budget N: on N labels, e.g. the students' own)
  distilled demo_distill.yaml: a 1/6-size student, --budget labels + the unlabeled pool as transfer set
  twin      the same student, labels, steps and optimizer, `finetune` without a teacher

    PYTHONPATH=src python benchmarks/distill_demo.py --pretrain runs/demo/pretrain --out runs/distill_bench

Prints a table and writes <out>/distill_demo.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from warmstart.config import load_config
from warmstart.workflows import finetune
from warmstart.workflows.distill import distill

RECIPES = Path(__file__).resolve().parents[1] / "src" / "warmstart" / "recipes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain", default="runs/demo/pretrain", help="the demo pretraining run")
    ap.add_argument("--out", default="runs/distill_bench", help="where the runs and distill_demo.json go")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--budget", type=int, default=1500, help="labeled tweets of the student and its twin")
    ap.add_argument("--teacher-budget", type=int, default=None, help="labeled tweets of the teacher (default: all)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="extra override for the student runs (distilled and twin), e.g. train.max_steps=300")
    ap.add_argument("--teacher-set", dest="teacher_overrides", action="append", default=[],
                    help="extra override for the teacher run, e.g. train.max_steps=80")
    args = ap.parse_args()
    out, quiet = Path(args.out), (lambda *_: None)
    rows = []
    for seed in args.seeds:
        common = [f"run.out_dir={out}", f"run.seed={seed}"]
        teacher_budget = "null" if args.teacher_budget is None else args.teacher_budget
        teacher_cfg = load_config(RECIPES / "demo_finetune_teacher.yaml", "finetune",
                                  [*common, f"init={args.pretrain}", f"run.name=teacher_s{seed}",
                                   f"data.label_budget={teacher_budget}", *args.teacher_overrides])
        teacher = finetune(teacher_cfg, resume=(out / f"teacher_s{seed}").exists(), say=quiet)
        kd_cfg = load_config(RECIPES / "demo_distill.yaml", "distill",
                             [*common, f"data.label_budget={args.budget}", f"teacher={out / f'teacher_s{seed}'}",
                              f"run.name=distilled_s{seed}", *args.overrides])
        distilled = distill(kd_cfg, resume=(out / f"distilled_s{seed}").exists(), say=print)
        twin_cfg = kd_cfg.student_config().model_copy(
            update={"run": kd_cfg.run.model_copy(update={"name": f"twin_s{seed}"})})
        twin = finetune(twin_cfg, resume=(out / f"twin_s{seed}").exists(), say=quiet)
        rows.append({"seed": seed, "teacher_acc": teacher["test"]["acc"], "distilled_acc": distilled["test"]["acc"],
                     "twin_acc": twin["test"]["acc"], "teacher_params": distilled["distill"]["teacher_params"],
                     "student_params": distilled["params_total"], "n_labeled": distilled["distill"]["n_labeled"],
                     "n_transfer": distilled["distill"]["n_transfer"]})
        print(json.dumps(rows[-1]), flush=True)

    mean = lambda k: statistics.mean(r[k] for r in rows)  # noqa: E731
    summary = {"rows": rows, "teacher_acc": mean("teacher_acc"), "distilled_acc": mean("distilled_acc"),
               "twin_acc": mean("twin_acc"), "kept": mean("distilled_acc") / mean("teacher_acc"),
               "param_ratio": rows[0]["student_params"] / rows[0]["teacher_params"],
               "student_overrides": args.overrides, "teacher_overrides": args.teacher_overrides,
               "pretrain": args.pretrain}
    print(f"\n| model | params | test acc (mean of {len(rows)} seed(s)) | vs teacher |")
    print("|---|---|---|---|")
    print(f"| teacher (pretrained, fine-tuned, {args.teacher_budget or 'all'} labels) | "
          f"{rows[0]['teacher_params']:,} | {summary['teacher_acc']:.3f} | 100% |")
    for name, key in (("distilled student (+ unlabeled pool)", "distilled_acc"), ("student, labels only", "twin_acc")):
        print(f"| {name} | {rows[0]['student_params']:,} | {summary[key]:.3f} | "
              f"{100 * summary[key] / summary['teacher_acc']:.1f}% |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill_demo.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
