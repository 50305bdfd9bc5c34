"""compare: the same fine-tune from several starting points (named sources: warmstart runs, local
Hugging Face models, scratch) and classical baselines, across label budgets and seeds, all on one
split. Every cell is an ordinary fine-tune run directory (or a baseline cell that writes the same
files); compare.json lists them with their results and the reference arm, and compare.md tabulates
mean ± std per arm × budget.

Re-running a compare skips finished cells and resumes interrupted ones. `jobs > 1` runs cells in
parallel processes, splitting the cores between them (and the GPUs, one per process);
`backend="ray"` runs each cell as a Ray task on a cluster (experiments/backends.py).
"""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

from warmstart.checkpoint.io import read_json, write_json_atomic
from warmstart.config.schema import CompareConfig, DistillConfig, FinetuneConfig, RunSection, TrainSection
from warmstart.errors import ConfigError
from warmstart.evaluation.metrics import higher_is_better
from warmstart.experiments.backends import BACKENDS, import_ray, run_cells
from warmstart.experiments.baselines import BaselineCell
from warmstart.experiments.sources import (
    StartingPoint,
    check_sources,
    finetune_fields,
    resolve_sources,
    student_section,
    variant_label,
)
from warmstart.experiments.variants import VariantCell, variant_cell
from warmstart.runs import split_warning

FORMAT_VERSION = 1


def _budget_tag(budget) -> str:
    if budget is None:
        return "all"
    return str(int(budget)) if float(budget).is_integer() and budget >= 1 else f"{budget:g}"


def starting_points(cfg: CompareConfig) -> dict[str, StartingPoint]:
    """The compare's sources resolved (the `pretrained:` form as its two sources)."""
    return resolve_sources(cfg.source_map(), "sources" if cfg.sources is not None else "pretrained")


def cell_configs(cfg: CompareConfig, compare_dir: Path,
                 threads: int | None = None) -> list[tuple[dict, FinetuneConfig | BaselineCell]]:
    """Expand the arms (sources × strategies, or explicit) × budgets × seeds into (cell record, job)
    pairs; the job is a fine-tune config, or a BaselineCell for a baseline source."""
    points = starting_points(cfg)
    train = cfg.train if threads is None else TrainSection(**{**cfg.train.model_dump(), "num_threads": threads})
    cells = []
    arms = {a.name: a for a in cfg.grid_arms()}
    for budget in cfg.budget_list():
        for arm in cfg.grid_arms():
            if not arm.runs_at(budget):
                continue
            variant = points[arm.source_name].variant  # a quantized/pruned arm has cells where its `of` arm has
            if variant is not None and not arms[variant.of].runs_at(budget):
                continue
            sp = points[arm.source_name]
            optim = cfg.optim if arm.lr is None else cfg.optim.model_copy(update={"lr": arm.lr})
            arm_train = train if arm.max_steps is None else train.model_copy(update={"max_steps": arm.max_steps})
            for seed in cfg.seeds:
                name = f"{arm.name}_b{_budget_tag(budget)}_s{seed}"
                data = cfg.data.model_copy(update={"label_budget": budget})
                record = {"arm": arm.name, "source": sp.name, "init": sp.init, "label_budget": budget, "seed": seed,
                          "run_dir": f"cells/{name}"}
                if variant is not None:  # derived from arm `of`'s cell at this budget and seed (run after it)
                    of_dir = compare_dir / "cells" / f"{variant.of}_b{_budget_tag(budget)}_s{seed}"
                    job = variant_cell(variant, variant.of, of_dir, compare_dir / "cells" / name)
                    cells.append(({**record, "strategy": variant_label(variant)}, job))
                    continue
                if sp.kind == "baseline":
                    job = BaselineCell(sp.baseline, str(compare_dir / "cells" / name), data, cfg.task, seed)
                    cells.append(({**record, "strategy": sp.baseline}, job))
                    continue
                run = RunSection(name=name, out_dir=str(compare_dir / "cells"), seed=seed)
                shared = {"run": run, "data": data, "task": cfg.task, "strategy": arm.strategy, "optim": optim,
                          "schedule": cfg.schedule, "train": arm_train}
                if sp.kind == "distill":  # the student of a distill source, trained with the cell's labels
                    kd = sp.distill.model_dump(exclude={"distill", "student"})
                    job = DistillConfig(teacher=sp.path, student=student_section(sp), distill=kd, **shared)
                else:
                    job = FinetuneConfig(**finetune_fields(sp), **shared)
                cells.append(({**record, "strategy": arm.strategy.kind}, job))
    return cells


def reference_arm(cfg: CompareConfig, points: dict[str, StartingPoint]) -> str | None:
    """The arm others are measured against: `reference`, else the first scratch arm (a full
    fine-tune if there is one), else None."""
    if cfg.reference is not None:
        return cfg.reference
    scratch = [a for a in cfg.grid_arms() if points[a.source_name].kind == "scratch"]
    full = [a for a in scratch if a.strategy.kind == "full"]
    return (full or scratch)[0].name if scratch else None


def compare(cfg: CompareConfig, jobs: int = 1, say=print, backend: str = "local", cpus_per_cell: int | None = None,
            gpus_per_cell: float | None = None) -> Path:
    """Run (or finish) the comparison grid; returns the compare directory. backend "local" runs
    `jobs` cells at a time on this machine; "ray" runs every cell as a Ray task asking for
    `cpus_per_cell` CPUs (default train.num_threads, else 1) and, for cells that train on CUDA,
    `gpus_per_cell` GPUs (default 1)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if jobs < 1:
        raise ConfigError(f"--jobs: expected a whole number >= 1, got {jobs}")
    if backend == "ray":
        if jobs != 1:
            raise ConfigError("--jobs is for --backend local; under Ray the cluster's free CPUs and GPUs "
                              "(and --cpus-per-cell/--gpus-per-cell) set how many cells run at once")
        if cpus_per_cell is not None and cpus_per_cell < 1:
            raise ConfigError(f"--cpus-per-cell: expected a whole number >= 1, got {cpus_per_cell}")
        if gpus_per_cell is not None and gpus_per_cell < 0:
            raise ConfigError(f"--gpus-per-cell: expected a number >= 0, got {gpus_per_cell:g}")
        import_ray()  # a missing extra is one line before anything is written
    elif cpus_per_cell is not None or gpus_per_cell is not None:
        raise ConfigError("--cpus-per-cell and --gpus-per-cell are for --backend ray (locally, --jobs and "
                          "train.num_threads split the cores)")
    from warmstart.workflows import finetune  # noqa: F401  (fail early if training deps are broken)

    # Every source path is checked before the first cell runs: a typo is one line, not a failed grid.
    points = starting_points(cfg)
    check_sources(points, "sources" if cfg.sources is not None else "pretrained")
    # A run that pretrained on this file's training pool under another split saw some test text: say so once.
    runs = [sp.path for sp in points.values() if sp.kind == "run"]
    for warning in filter(None, (split_warning(r, cfg.data, cfg.task.kind == "classification"
                                                             or getattr(cfg.data, "stratify", False)) for r in runs)):
        say(warning)
    compare_dir = Path(cfg.run.out_dir) / cfg.run.name
    compare_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(compare_dir / "compare_config.json", cfg.model_dump(mode="json"))
    threads = cfg.train.num_threads
    if backend == "ray":  # a cell's torch threads are the CPUs it reserves on the cluster
        threads = cpus_per_cell or threads or 1
    elif jobs > 1 and threads is None:  # parallel cells split the cores instead of oversubscribing them
        threads = max(len(os.sched_getaffinity(0)) // jobs, 1)
    cells = cell_configs(cfg, compare_dir, threads)
    checked = set()
    for record, job in cells:  # a distill source's teacher fits the task and split: checked before any cell runs
        if isinstance(job, DistillConfig) and record["source"] not in checked:
            from warmstart.workflows.distill import check_teacher

            checked.add(record["source"])
            check_teacher(job, f"sources.{record['source']}")
    say(f"compare: {len(cells)} cells ({len(cfg.grid_arms())} arms × up to {len(cfg.label_budgets)} budgets × "
        f"{len(cfg.seeds)} seeds) -> {compare_dir}")

    results: list[dict | None] = [None] * len(cells)
    todo = []
    for i, (record, _) in enumerate(cells):
        done = compare_dir / record["run_dir"] / "result.json"
        if done.is_file():
            results[i] = read_json(done)
        else:
            todo.append(i)
    if len(todo) < len(cells):
        say(f"  {len(cells) - len(todo)} cells already complete, {len(todo)} to run")

    # Cells run in any order and report as they finish; a failing cell stops the grid with one line
    # naming it (finished cells keep their result.json, so the re-run starts where this one stopped).
    # Variant cells (quantized/pruned copies of another arm's cells) run after the cells they derive from,
    # on this machine: they read those cells' checkpoints.
    for phase in (False, True):
        part = [i for i in todo if isinstance(cells[i][1], VariantCell) == phase]
        names = [cells[i][0]["run_dir"] for i in part]
        where = ("local", jobs if backend == "local" else 1) if phase else (backend, jobs)
        for k, result in run_cells([(names[k], cells[i][1]) for k, i in enumerate(part)], where[0], where[1],
                                   gpus_per_cell):
            results[part[k]] = result
            _say_cell(say, cells[part[k]][0], result)

    from warmstart.tasks import primary_metric

    metric = cfg.metric or primary_metric(cfg.task)
    if metric not in results[0]["test"]:
        raise ConfigError(f"metric: {metric!r} is not a test metric of this task (have {sorted(results[0]['test'])})")
    run_sources = [sp for sp in points.values() if sp.kind == "run"]
    summary = {
        "format_version": FORMAT_VERSION, "name": cfg.run.name,
        # the pretraining run the report describes: `pretrained`, else the first run source
        "pretrained": cfg.pretrained or (run_sources[0].path if run_sources else None),
        "sources": {name: {"kind": sp.kind, "path": sp.path, "describe": sp.describe()} for name, sp in points.items()},
        "reference": reference_arm(cfg, points), "task": cfg.task.kind,
        "metric": metric, "higher_is_better": higher_is_better(metric), "n_train_pool": results[0].get("n_pool"),
        "cells": [{**record, "status": "done", **{k: res.get(k) for k in (
            "n_labels", "test", "best_val", "best_step", "steps", "seconds_to_best", "train_seconds",
            "params_trained", "params_total", "items_seen", "forgetting", "test_by_group", "distill", "variant")}}
            for (record, _), res in zip(cells, results, strict=True)],
    }
    write_json_atomic(compare_dir / "compare.json", summary)
    table = summary_table(summary)
    (compare_dir / "compare.md").write_text(table + "\n", encoding="utf-8")
    say(table)
    return compare_dir


def _say_cell(say, record: dict, result: dict) -> None:
    test = result["test"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "loss")
    say(f"  {record['run_dir']:<34} n={result['n_labels']:<6} {shown}  ({result['train_seconds']:.1f}s)")


def summary_table(summary: dict) -> str:
    """Markdown: mean ± std of the headline test metric per arm (rows) × label budget (columns)."""
    metric, cells = summary["metric"], summary["cells"]
    arms = list(dict.fromkeys(c["arm"] for c in cells))
    budgets = list(dict.fromkeys(_budget_tag(c["label_budget"]) for c in cells))
    labels = {}
    for c in cells:
        labels.setdefault(_budget_tag(c["label_budget"]), c["n_labels"])

    def cell(arm: str, b: str) -> str:
        vals = [c["test"][metric] for c in cells if c["arm"] == arm and _budget_tag(c["label_budget"]) == b]
        if not vals:
            return "–"
        sd = statistics.stdev(vals) if len(vals) > 1 else math.nan
        return f"{statistics.mean(vals):.3f} ± {sd:.3f}" if not math.isnan(sd) else f"{vals[0]:.3f}"

    head = f"| test {metric} (mean ± std over seeds) | " + " | ".join(f"{labels[b]:,} labels" for b in budgets) + " |"
    rule = "|---|" + "---|" * len(budgets)
    rows = [f"| {arm} | " + " | ".join(cell(arm, b) for b in budgets) + " |" for arm in arms]
    return "\n".join([head, rule, *rows])
