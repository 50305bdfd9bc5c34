"""Subprocess entry for the clean-exit test (run by torch.distributed.run, 2 gloo processes): joins the
world the way a run does, shards a small module with FSDP2, trains a step, leaves the world, reports
what is left running, and ends through `python -m warmstart`'s own exit path (exit_process).

Prints, per rank: whether torch.distributed.nn.functional's default group arguments hold a process
group, and whether the gloo worker threads are still alive after leave_world. An atexit handler
prints "finalized" if interpreter shutdown runs."""

import atexit
import os

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

from warmstart.config.sections.train import TrainSection
from warmstart.training.distributed import exit_process, joined


def gloo_threads() -> int:
    tasks = os.listdir("/proc/self/task")
    return sum(open(f"/proc/self/task/{t}/comm").read().strip() == "pt_gloo_runloop" for t in tasks)


atexit.register(lambda: print(f"rank {os.environ['RANK']} finalized", flush=True))
with joined(TrainSection(batch_size=2, device="cpu", parallel="fsdp")) as world:
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    fully_shard(module[0])
    fully_shard(module)
    module(torch.ones(2, 4)).sum().backward()
    import torch.distributed.nn.functional as F

    bound = any(isinstance(d, dist.ProcessGroup) for d in F.all_reduce.__defaults__)
print(f"rank {world.rank} defaults_bind_group={bound} gloo_threads_after_leave={gloo_threads()}", flush=True)
exit_process(0)
