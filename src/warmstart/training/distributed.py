"""The process's place in a run: its device, and - when launched by torchrun - its rank in a
data-parallel world (torch.distributed: gloo on CPU, nccl on GPU). No launcher or communication
code of our own: torchrun sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR, we join its process group.

Data parallel in one paragraph: every rank holds the whole module (DDP); each global batch of
`train.batch_size` examples is cut into `world size` equal slices, one per rank; gradients are
SUMMED across ranks (a comm hook, not DDP's default mean) and divided by the step's global item
count, so N ranks x batch b train exactly like 1 rank x batch N*b. Only rank 0 writes files.

Sharded (train.parallel=fsdp): FSDP2 `fully_shard` on each transformer block and then on the whole
module, before the optimizer is built (its parameters become DTensor shards). Gradients are
reduce-scattered as sums (divide factor 1), so the same exact-mean rule holds. Evaluation runs
every batch whole on every rank (a sharded forward is a collective: all ranks must run it, even
where DDP would give a rank an empty slice of a short final batch).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from warmstart.errors import ConfigError
from warmstart.training.device import configure, resolve_device
from warmstart.training.precision import resolve


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    parallel: str = "ddp"  # train.parallel: how a world of more than one process shares the model

    @property
    def sharded(self) -> bool:
        """FSDP: parameters, gradients and optimizer state sharded across ranks."""
        return self.distributed and self.parallel == "fsdp"

    @property
    def eval_shard(self):
        """How evaluation splits a batch across ranks: DDP slices it (metrics summed over ranks);
        FSDP runs it whole on every rank (None)."""
        return self.shard if self.distributed and not self.sharded else None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, metrics.jsonl, checkpoints and result.json."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, idx: list[int]) -> list[int]:
        """This rank's contiguous slice of a global batch's indices (sizes differ by at most one;
        a slice may be empty for a short final evaluation batch)."""
        n = len(idx)
        return idx[n * self.rank // self.size: n * (self.rank + 1) // self.size]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64, so integer counts stay exact); identity on one process."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj) -> list:
        """Every rank's `obj` (JSON-able), in rank order, on every rank; [obj] on one process."""
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def join_world(train_cfg) -> World:
    """Resolve train.device and, under torchrun (WORLD_SIZE > 1), join the process group. One-line
    ConfigError for a device that is not there, a world size that does not divide the batch, or a
    rendezvous that fails."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(train_cfg.device, local_rank if size > 1 else None)
    configure(device)
    resolve(train_cfg.precision, device.type)  # fp16 off CUDA: a one-line error before anything is written
    if size == 1:
        return World(device=device)
    if train_cfg.batch_size % size:
        raise ConfigError(f"train.batch_size ({train_cfg.batch_size}) must be divisible by the world size ({size}): "
                          "each rank trains on an equal slice of every batch")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # torch.distributed.nn.functional binds `group.WORLD` into its functions' default arguments when it is
        # first imported; DTensor (FSDP2) imports it lazily, after the group exists, and so would keep the
        # process group alive past destroy_process_group. Imported now, those defaults are None.
        import torch.distributed.nn.functional  # noqa: F401
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10),
                                    device_id=device if device.type == "cuda" else None)
        except (RuntimeError, ValueError, OSError) as e:  # DistNetworkError/DistStoreError are RuntimeErrors
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"torch.distributed rendezvous failed (rank {rank} of {size}, {backend}): {first}") \
                from None
        global _JOINED
        _JOINED = True
    return World(rank=rank, size=size, device=device, parallel=train_cfg.parallel)


def leave_world(world: World, finished: bool = True) -> None:
    """Tear down the process group. A run that `finished` first waits at a barrier for every rank, so no
    rank takes its side down while another still communicates (a failed run does not: its peers may
    never get there)."""
    if world.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def joined(train_cfg) -> Iterator[World]:
    """join_world(...) for the length of a run; the process group is torn down however it ends."""
    world = join_world(train_cfg)
    try:
        yield world
    except BaseException:
        leave_world(world, finished=False)
        raise
    leave_world(world)


_JOINED = False  # this process joined a torch.distributed process group (join_world)


def exit_process(code: int) -> None:
    """End `python -m warmstart` with exit status `code`. A process that joined a process group ends
    with os._exit, after flushing its output, instead of Python's interpreter shutdown.

    Why: under FSDP2, torch keeps a reference to the gloo process group that destroy_process_group
    does not release (inside fully_shard; torch 2.13), so the group's worker threads are still running
    when the interpreter shuts down. Those threads drop their last references to finished
    collectives' tensors after the caller has moved on (~AsyncAllgatherWork -> a Python tensor's
    dealloc, which takes the GIL); one that does so after shutdown began is killed by the interpreter
    mid-destructor, and the process aborts ("terminate called without an active exception", SIGABRT).
    Every file is written and closed, and the process group destroyed, before this point."""
    if not _JOINED:
        raise SystemExit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _sum_hook(state, bucket):  # no annotations: DDP checks them, and `from __future__` makes them strings
    # Sum, not DDP's mean: the loop divides by the global item count itself (exact accumulation).
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda fut: fut.value()[0])


def transformer_blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of a module's transformer backbone (the largest nn.ModuleList: GPT-2's h,
    BERT's encoder.layer); [] for other backbones."""
    blocks = module.backbone.blocks() if hasattr(module.backbone, "blocks") else None
    return list(blocks) if blocks is not None else []


def checkpoint_activations(module: torch.nn.Module) -> None:
    """train.activation_checkpointing: each transformer block recomputes its activations in backward
    (HF's activation/gradient checkpointing, torch.utils.checkpoint non-reentrant; dropout masks are
    replayed, so gradients equal the stored-activation run's)."""
    hf = getattr(module.backbone, "model", None)
    if not getattr(hf, "supports_gradient_checkpointing", False):
        raise ConfigError(f"train.activation_checkpointing needs a transformer backbone (this run's model is "
                          f"{type(module.backbone).__name__})")
    enable = getattr(hf, "activation_checkpointing_enable", None) or hf.gradient_checkpointing_enable
    enable()  # both default to torch.utils.checkpoint with use_reentrant=False


def shard(module: torch.nn.Module, world: World, precision: str) -> None:
    """train.parallel=fsdp under torchrun: FSDP2 fully_shard on each transformer block, then on the
    whole module (embeddings, heads and anything else), in place. Mixed precision from
    train.precision: bf16/fp16 parameters for compute, fp32 gradient reduction, fp32 master weights.
    Gradients are summed across ranks, not averaged (the loop divides by the global item count)."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(resolve(precision, world.device.type))
    policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32 if dtype else None)
    for block in transformer_blocks(module):
        fully_shard(block, mp_policy=policy)
    fully_shard(module, mp_policy=policy)
    for m in module.modules():
        if isinstance(m, FSDPModule):
            m.set_gradient_divide_factor(1.0)
            m.set_force_sum_reduction_for_comms(True)


def grad_sync(net: torch.nn.Module, world: World, final: bool):
    """The context for one micro-batch's backward: gradients are reduced across ranks only on the
    step's final micro-batch (DDP's no_sync; FSDP's requires_gradient_sync), never on one process."""
    if not world.distributed:
        return contextlib.nullcontext()
    if world.sharded:
        net.set_requires_gradient_sync(final)
        return contextlib.nullcontext()
    return contextlib.nullcontext() if final else net.no_sync()


def whole(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor: a DTensor's full value (FSDP's gradient norm), anything else as it is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def data_parallel(module: torch.nn.Module, world: World) -> torch.nn.Module:
    """`module` wrapped for data-parallel training (gradients summed across ranks in backward);
    `module` itself on one process or when FSDP has sharded it in place. Checkpoints always save
    the unwrapped module."""
    if not world.distributed or world.sharded:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [world.device.index] if world.device.type == "cuda" else None
    ddp = DistributedDataParallel(module, device_ids=ids)
    ddp.register_comm_hook(None, _sum_hook)
    return ddp
