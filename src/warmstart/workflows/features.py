"""Cached features for a frozen backbone: when the strategy keeps the backbone frozen and in eval
mode for the whole run (linear_probe; Strategy.fixed_backbone), its pooled features are a fixed
function of the inputs. finetune then computes them once per split and the one training loop
trains the head on batches of them (types.PooledBatch); the task skips the backbone for those.

Uncached, the same probe computes the same features every step (the backbone is in eval mode
there too, so dropout is off and norm statistics are fixed): both paths give the same metrics.

The cache is a folder of safetensors files, one per (backbone, split) pair, named by a sha256 over
everything that changes the features: the backbone's weights and architecture, the pooling, the
precision and device type, the batch size, and the exact input tensors of every batch (so the
tokenizer, the texts and their order, max_len, truncation and normalization are all covered).
Compare cells share it (<run.out_dir>/.cache/features): validation and test are the same split
for every cell, so only a cell's own training subset is new. Writes are atomic (a unique temp
file, then os.replace); an flock per entry makes parallel cells (compare --jobs) compute it once;
an unreadable or mismatched entry is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from warmstart.data.loaders import sequential_batches
from warmstart.heads import pooled_features
from warmstart.inputs import Examples
from warmstart.strategies import build_strategy
from warmstart.training.distributed import World
from warmstart.training.precision import autocast, resolve
from warmstart.workflows.common import ordered_batches

try:
    import fcntl
except ImportError:  # not POSIX: no lock; atomic writes still keep every entry whole
    fcntl = None

if TYPE_CHECKING:
    from warmstart.config.schema import FinetuneConfig, TrainSection

_FORMAT = "warmstart-features-v1"  # bump when what a cache file holds changes
POOLED_TASKS = ("classification", "regression")  # tasks whose head reads one pooled vector per example


def feature_cache_dir(cfg: FinetuneConfig, inputs, world: World, say=print) -> Path | None:
    """Where this run caches its frozen backbone's features, or None when it trains on the
    backbone's live output (strategy.cache_features off or absent; or, said in one line, a
    backbone that is not fixed for the run, a per-token task, augmented inputs, or DDP)."""
    if not getattr(cfg.strategy, "cache_features", False):
        return None
    why = None
    if not build_strategy(cfg.strategy).fixed_backbone():
        why = "strategy.freeze_norm_stats is false: the backbone runs in train mode (dropout)"
    elif cfg.task.kind not in POOLED_TASKS:
        why = f"task.kind={cfg.task.kind} reads per-token features"
    elif inputs.augments:
        why = "data.augment changes the training inputs every step"
    elif world.distributed:
        why = "not under torchrun yet"
    if why:
        say(f"features: computed every step, not cached ({why})")
        return None
    return Path(cfg.run.out_dir) / ".cache" / "features"


def cached_sets(module, splits: dict[str, Examples], train_cfg: TrainSection, cache_dir: Path,
                world: World | None = None, say=print) -> tuple[dict[str, Examples], dict[str, str]]:
    """Each split as Examples of the frozen backbone's pooled features and the split's labels, read
    from `cache_dir` or computed once and written there. Returns (sets, {split: "cached" | "computed"})."""
    world = world or World()
    module.to(world.device)
    backbone_id = backbone_digest(module, train_cfg, world.device.type)
    sets, how = {}, {}
    t0 = time.perf_counter()
    for name, examples in splits.items():
        sets[name], how[name] = _cached_set(module, examples, train_cfg, cache_dir, backbone_id, world, say)
    say("features: frozen backbone, pooled features once per split ("
        + ", ".join(f"{name} {sets[name].n:,} {how[name]}" for name in splits)
        + f", {time.perf_counter() - t0:.1f}s) in {cache_dir}")
    return sets, how


def backbone_digest(module, train_cfg: TrainSection, device_type: str) -> str:
    """sha256 over what, besides the inputs, decides the features: the backbone's architecture and
    weights, the pooling, the precision that runs, the device type, the batch size (padding width)
    and the torch version."""
    spec = module.backbone.spec()
    if isinstance(spec.get("hf_config"), dict):  # where a model was loaded from does not change it
        spec = {**spec, "hf_config": {k: v for k, v in spec["hf_config"].items() if k != "_name_or_path"}}
    h = hashlib.sha256(_FORMAT.encode())
    h.update(json.dumps({"spec": spec, "pooling": module.pooling, "device": device_type,
                         "precision": resolve(train_cfg.precision, device_type), "batch_size": train_cfg.batch_size,
                         "torch": torch.__version__}, sort_keys=True, default=str).encode())
    for name, tensor in sorted(module.backbone.state_dict().items()):
        _hash_tensor(h, name, tensor)
    return h.hexdigest()


def _hash_tensor(h, name: str, tensor: torch.Tensor) -> None:
    t = tensor.detach().to("cpu").contiguous()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())  # the raw bytes (any dtype, bf16 included)


def _inputs_key(examples: Examples, batch_size: int, backbone_id: str) -> tuple[str, torch.Tensor]:
    """(cache key of a split, its labels): sha256 over the backbone digest and every input tensor of
    the split's ordered batches; the labels are collected on the way (they are not features)."""
    h = hashlib.sha256(backbone_id.encode())
    labels = []
    for batch in sequential_batches(examples.n, examples.make_batch, batch_size):
        for key in sorted(batch):
            if key == "labels":
                labels.append(batch[key])
            else:
                _hash_tensor(h, key, batch[key])
    return h.hexdigest(), torch.cat(labels)


def _cached_set(module, examples: Examples, train_cfg: TrainSection, cache_dir: Path, backbone_id: str,
                world: World, say) -> tuple[Examples, str]:
    key, labels = _inputs_key(examples, train_cfg.batch_size, backbone_id)
    path = cache_dir / f"{key}.safetensors"
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f"{key}.lock"):  # a parallel cell computing the same entry finishes first
        # A writer holds this lock while its temp file exists, so one found now was left by a process
        # killed mid-write (SIGKILL skips _write's clean-up): it is never read, only taking space.
        for stale in cache_dir.glob(f"{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        feats, how = _read(path, key, examples.n, say), "cached"
        if feats is None:
            feats, how = _compute(module, examples, train_cfg, world), "computed"
            _write(path, feats, key)

    def make(idx: list[int]) -> dict:
        return {"pooled": feats[idx], "labels": labels[idx]}

    return Examples(examples.n, make), how


@torch.no_grad()
def _compute(module, examples: Examples, train_cfg: TrainSection, world: World) -> torch.Tensor:
    """(N, D) pooled features of a split, as the training step computes them: the backbone in eval
    mode, under the run's autocast, in ordered batches of the run's batch size (the same batches
    evaluation scores); on the run's device, returned on the CPU."""
    was_training = module.backbone.training
    module.backbone.eval()
    out = []
    with torch.random.fork_rng(devices=[]):  # the training RNG stream is untouched, as by evaluation
        for batch in ordered_batches(examples, train_cfg.batch_size, world=world):
            with autocast(train_cfg.precision, world.device.type):
                out.append(pooled_features(module.backbone, batch, module.pooling).detach().to("cpu"))
    module.backbone.train(was_training)
    return torch.cat(out)


def _read(path: Path, key: str, n: int, say) -> torch.Tensor | None:
    """The cached (n, D) features, or None when there are none, or (said in one line) when the file
    is damaged or holds something else."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta, feats = f.metadata() or {}, f.get_tensor("features")
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        say(f"features: {path} is unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
            "recomputing it")
        return None
    if meta.get("format") != _FORMAT or meta.get("key") != key or feats.dim() != 2 or feats.size(0) != n:
        say(f"features: {path} does not hold this split's features; recomputing it")
        return None
    return feats


def _write(path: Path, feats: torch.Tensor, key: str) -> None:
    """Write atomically: a unique temp file, fsync, os.replace; readers see a whole entry or none."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        save_file({"features": feats.contiguous()}, str(tmp), metadata={"format": _FORMAT, "key": key})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on `path` (created if missing) for the block."""
    if fcntl is None:
        yield
        return
    with open(path, "a") as f:  # "a" creates the file and never truncates it
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
