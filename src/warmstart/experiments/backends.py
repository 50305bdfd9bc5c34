"""Where the cells of a compare run: one after another in this process, in a pool of local
processes (`--jobs N`, each worker pinned to its own GPU where there are GPUs), or as Ray tasks on a
cluster (`--backend ray`). Cell jobs in, (index, result dict) pairs out as cells finish; what a cell
is and which cells still need running is compare.py's business.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from warmstart.config.schema import DistillConfig, FinetuneConfig
from warmstart.errors import ConfigError, TrainingError, WarmstartError
from warmstart.experiments.baselines import BaselineCell, run_baseline
from warmstart.experiments.variants import VariantCell, run_variant

BACKENDS = ("local", "ray")
# The files of a cell that the report reads; a Ray cell sends them back to the driver (result.json last).
CELL_FILES = ("config.json", "metrics.jsonl", "result.json")

Job = FinetuneConfig | DistillConfig | BaselineCell | VariantCell


def cell_dir(job: Job) -> Path:
    return Path(job.run_dir) if isinstance(job, BaselineCell | VariantCell) else Path(job.run.out_dir) / job.run.name


def run_cell(job: Job, quiet: bool = True) -> dict:
    """Run (or resume, or just read back) one cell; returns its result.json contents."""
    if isinstance(job, BaselineCell):
        return run_baseline(job)
    if isinstance(job, VariantCell):
        return run_variant(job)
    from warmstart.workflows import finetune
    from warmstart.workflows.distill import distill

    say = (lambda *_: None) if quiet else print
    return (distill if isinstance(job, DistillConfig) else finetune)(job, resume=cell_dir(job).exists(), say=say)


def cell_failed(name: str, exc: BaseException) -> WarmstartError:
    """One line naming the cell and what went wrong. A user error keeps its class (exit code 2);
    anything else becomes a TrainingError carrying the exception's type (--debug shows the chain)."""
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    if isinstance(exc, WarmstartError):
        return type(exc)(f"compare cell {name}: {detail}")
    return TrainingError(f"compare cell {name} failed: {type(exc).__name__}: {detail}")


def run_cells(jobs: list[tuple[str, Job]], backend: str = "local", n_jobs: int = 1,
              gpus_per_cell: float | None = None) -> Iterator[tuple[int, dict]]:
    """Run the given (name, job) cells; yields (position in `jobs`, result) as each one finishes.
    The first failing cell stops the rest (cells not started are cancelled; a re-run resumes).
    Under Ray a fine-tune cell reserves as many CPUs as its train.num_threads."""
    if backend == "ray":
        yield from _ray_cells(jobs, gpus_per_cell)
    elif n_jobs > 1 and len(jobs) > 1:
        yield from _pool_cells(jobs, n_jobs)
    else:
        for i, (name, job) in enumerate(jobs):
            try:
                result = run_cell(job)
            except Exception as e:
                raise cell_failed(name, e) from e
            yield i, result


# ------------------------------------------------------------------- local processes, one GPU each


def visible_gpus() -> list[str]:
    """This process's GPUs as CUDA_VISIBLE_DEVICES entries: its own CUDA_VISIBLE_DEVICES list (so
    a compare started on GPUs 2,3 hands out 2 and 3) or 0..n-1, cut to the count torch sees."""
    import torch

    n = torch.cuda.device_count()  # asks NVML where it can; creates no CUDA context in this process
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(n)]
    return [s.strip() for s in listed.split(",") if s.strip()][:n]


def gpu_slots(n_workers: int, gpus: list[str], device: str) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of n_workers pool processes: round-robin over `gpus` when a
    cell may train on CUDA (train.device auto or cuda), so concurrent cells get their own GPU while
    there are enough. None leaves a worker's environment as it is: no GPUs, device cpu or mps, or
    an explicit cuda:N (which names its GPU itself)."""
    if not gpus or device not in ("auto", "cuda"):
        return [None] * n_workers
    return [gpus[i % len(gpus)] for i in range(n_workers)]


def _pin_worker(slots) -> None:
    # Runs first in each pool worker, before any task (and so before CUDA can initialise there):
    # CUDA reads CUDA_VISIBLE_DEVICES once, at initialisation.
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    # Ctrl-C in a terminal reaches every process of the group: between tasks a worker ignores it (an
    # idle worker interrupted while it waits for work printed a traceback); during one, see interruptible.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interruptible(fn, *args):
    """fn(*args) in a pool worker with Ctrl-C raising KeyboardInterrupt, as in the main process: a
    cell stops where it is (its checkpoint writer cleans up) and the pool hands the interruption back
    as the task's exception; afterwards the worker ignores Ctrl-C again."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return fn(*args)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def cell_pool(n_workers: int, slots: list[str | None]) -> ProcessPoolExecutor:
    """A pool of n_workers fresh interpreters, worker k with CUDA_VISIBLE_DEVICES = one of `slots`
    (each slot taken by exactly one worker). Spawned, not forked: forking a process whose torch
    thread pools have already run (the demo pretrains first) can hang the children."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    for slot in slots:
        queue.put(slot)
    return ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_pin_worker, initargs=(queue,))


def _pool_cells(jobs: list[tuple[str, Job]], n_jobs: int) -> Iterator[tuple[int, dict]]:
    devices = {job.train.device for _, job in jobs if isinstance(job, FinetuneConfig)}
    device = devices.pop() if len(devices) == 1 else "cpu"  # one compare has one train section
    slots = gpu_slots(n_jobs, visible_gpus() if device in ("auto", "cuda") else [], device)
    pool = cell_pool(n_jobs, slots)
    try:
        pending = {pool.submit(interruptible, run_cell, job): i for i, (_, job) in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:
                    raise cell_failed(jobs[i][0], e) from e
                yield i, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # running cells finish; queued ones never start


# ------------------------------------------------------------------------------------ Ray cluster


def ray_request(job: Job, gpus: float | None, cluster_gpus: float) -> tuple[dict, Job]:
    """One cell's Ray resource request, and the job as it should run under it. A baseline asks for
    one CPU. A fine-tune asks for its train.num_threads CPUs (1 if unset) and, when it trains on CUDA (device
    cuda/cuda:N, or auto on a cluster with GPUs), `gpus` GPUs (default 1). Ray shows a task only the
    GPUs it was granted (as cuda:0...), so cuda:N becomes cuda, and a cell granted none runs on the
    CPU even where its machine has GPUs (Ray leaves CUDA_VISIBLE_DEVICES alone for such tasks)."""
    if isinstance(job, BaselineCell):
        return {"num_cpus": 1, "num_gpus": 0}, job
    device = job.train.device
    on_cuda = device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)
    n_gpus = (1 if gpus is None else gpus) if on_cuda else 0
    if device.startswith("cuda") and n_gpus == 0:
        raise ConfigError(f"--gpus-per-cell 0 but train.device is {device}: "
                          "give the cells a GPU or use train.device=cpu")
    if n_gpus > 0 and device.startswith("cuda:"):
        device = "cuda"
    elif n_gpus == 0 and device == "auto":
        device = "cpu"
    if device != job.train.device:
        job = job.model_copy(update={"train": job.train.model_copy(update={"device": device})})
    return {"num_cpus": job.train.num_threads or 1, "num_gpus": n_gpus}, job


def _ray_cell(job: Job) -> tuple[dict, dict[str, str]]:
    # On a Ray worker: run the cell, and send back the small files the report reads, so the
    # driver has them even when the worker's disk is not the driver's. Checkpoints stay on the worker.
    result = run_cell(job)
    where = cell_dir(job)
    return result, {n: (where / n).read_text(encoding="utf-8") for n in CELL_FILES if (where / n).is_file()}


def land_cell_files(where: Path, files: dict[str, str]) -> None:
    """Write a Ray cell's returned files into the driver's cell directory, unless the cell already
    finished there (a shared filesystem); result.json last, so a crash here leaves no finished cell."""
    if (where / "result.json").is_file():
        return
    where.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == "result.json"):
        tmp = where / f".{name}.tmp"
        tmp.write_text(files[name], encoding="utf-8")
        os.replace(tmp, where / name)


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise ConfigError("--backend ray needs Ray: pip install 'warmstart[ray]'") from e
    return ray


def _ray_cells(jobs: list[tuple[str, Job]], gpus: float | None) -> Iterator[tuple[int, dict]]:
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init()  # RAY_ADDRESS (or a cluster started with `ray start` on this machine), else a local instance
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        requests = [ray_request(job, gpus, cluster_gpus) for _, job in jobs]  # any bad request before the first task
        remote = ray.remote(_ray_cell)
        # One retry when a worker or its node dies (not when the cell raises): the cell resumes from
        # its last checkpoint where the compare directory is shared, else starts again.
        pending = {remote.options(**request, name=jobs[i][0], max_retries=1).remote(job): i
                   for i, (request, job) in enumerate(requests)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                try:
                    result, files = ray.get(ready[0])
                except ray.exceptions.RayTaskError as e:
                    raise cell_failed(jobs[i][0], e.cause if e.cause is not None else e) from e
                except ray.exceptions.RayError as e:  # a worker or node died, the task was cancelled, ...
                    raise cell_failed(jobs[i][0], e) from e
                land_cell_files(cell_dir(jobs[i][1]), files)
                yield i, result
        finally:
            for ref in pending:  # cells not finished when one failed (or the driver was interrupted)
                ray.cancel(ref)
    finally:
        if started_here:
            ray.shutdown()
