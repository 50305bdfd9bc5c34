"""Subprocess entry for the exact-resume tests: runs `warmstart finetune` for real, optionally
SIGKILLing itself at a chosen point, and records how many training batches it drew.

    python resume_worker.py CONFIG COUNT_FILE [--resume] [--kill-after-checkpoint N | --kill-writing N]
                            [--kill-rank R]

--kill-after-checkpoint N: SIGKILL as the first batch of the step after checkpoint step N is drawn (mid-step).
--kill-writing N: SIGKILL inside the write of checkpoint step N, after its first file is on disk.
Under torchrun (2 processes), each rank counts into COUNT_FILE.RANK, and --kill-rank R makes only rank R
kill itself (torchrun then stops the others). Only rank 0 writes checkpoints, so the kill points that
refer to a checkpoint are rank 0's.
"""

import argparse
import os
import signal
import sys

import warmstart.checkpoint.io as io
import warmstart.checkpoint.run as run
import warmstart.data.loaders as loaders
from warmstart.cli import main

args, rest = argparse.ArgumentParser(), None
args.add_argument("config")
args.add_argument("count_file")
args.add_argument("--resume", action="store_true")
args.add_argument("--kill-after-checkpoint", type=int)
args.add_argument("--kill-writing", type=int)
args.add_argument("--kill-rank", type=int)
args = args.parse_args()
rank = int(os.environ.get("RANK", "0"))
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    args.count_file += f".{rank}"
kills = args.kill_rank is None or args.kill_rank == rank

drawn, saved = [0], set()
next_batch, save_ckpt, save_file = loaders.BatchIterator.__next__, run.save_module_checkpoint, io.save_file


def counting_next(self):
    if kills and (args.kill_after_checkpoint in saved):
        os.kill(os.getpid(), signal.SIGKILL)
    drawn[0] += 1
    with open(args.count_file, "w") as f:
        f.write(str(drawn[0]))
    return next_batch(self)


def recording_save(run_dir, name, *a, **kw):
    out = save_ckpt(run_dir, name, *a, **kw)
    if name.startswith("step_"):
        saved.add(int(name[5:]))
    return out


def killing_save_file(tensors, path, *a, **kw):
    save_file(tensors, path, *a, **kw)
    if kills and f"step_{args.kill_writing or 0:06d}.tmp" in str(path):
        os.kill(os.getpid(), signal.SIGKILL)


loaders.BatchIterator.__next__ = counting_next
run.save_module_checkpoint = recording_save
io.save_file = killing_save_file
sys.exit(main(["finetune", args.config, *(["--resume"] if args.resume else [])]))
