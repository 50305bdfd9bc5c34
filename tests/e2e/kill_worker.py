"""Subprocess entry for the kill-anywhere test: runs one `warmstart` CLI command for real and
numbers every point where a kill can land, SIGKILLing itself at point KILL_AT (0 = never).

    python kill_worker.py EVENTS_FILE KILL_AT warmstart-args...

Points, in the order the run meets them: a training batch drawn (mid-step), a validation batch
drawn (mid-eval), a safetensors file written inside a checkpoint being built, a JSON file about to
be written atomically (manifest, state, result, config, compare.json), an os.replace about to run
(a checkpoint's rename, the `latest` pointer, the swap of a re-saved `best`), and a metrics.jsonl
line (killed half-written: a torn line). EVENTS_FILE gets the list of points met (JSON), also
when killed (the last entry is where).
"""

import json
import os
import signal
import sys

events_file, kill_at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen: list[str] = []


def point(name: str, before_kill=None) -> None:
    seen.append(name)
    if len(seen) == kill_at:
        with open(events_file, "w") as f:
            json.dump(seen, f)
        if before_kill is not None:
            before_kill()
        os.kill(os.getpid(), signal.SIGKILL)


import warmstart.checkpoint.io as io  # noqa: E402  (first: the modules below import its names)

save_file, write_json_atomic, replace = io.save_file, io.write_json_atomic, os.replace


def hooked_next(self):
    point("batch")
    return next_batch(self)


def hooked_evaluate(module, batches, *a, **kw):
    def counted():
        for b in batches:
            point("eval")
            yield b
    return evaluate(module, counted(), *a, **kw)


def hooked_save_file(tensors, path, *a, **kw):
    save_file(tensors, path, *a, **kw)
    point(f"tensor_file:{os.path.basename(os.path.dirname(str(path)))}")


def hooked_write_json(path, obj):
    point(f"json:{os.path.basename(str(path))}")
    write_json_atomic(path, obj)


def hooked_replace(src, dst, *a, **kw):
    point(f"replace:{os.path.basename(str(dst))}")
    return replace(src, dst, *a, **kw)


def hooked_log_write(self, record):
    line = json.dumps(record) + "\n"

    def torn():  # half the line reaches the file, as after a crash mid-write
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line[: len(line) // 2])
    point("log", torn)
    log_write(self, record)


io.save_file, io.write_json_atomic, os.replace = hooked_save_file, hooked_write_json, hooked_replace
import warmstart.data.loaders as loaders  # noqa: E402
import warmstart.evaluation as evaluation  # noqa: E402

evaluate, next_batch = evaluation.evaluate, loaders.BatchIterator.__next__
loaders.BatchIterator.__next__ = hooked_next
evaluation.evaluate = hooked_evaluate  # before the workflows import it by name
import warmstart.training.loop as loop  # noqa: E402

log_write = loop.MetricsLog.write
loop.MetricsLog.write = hooked_log_write

from warmstart.cli import main  # noqa: E402

code = main(argv)
with open(events_file, "w") as f:
    json.dump(seen, f)
sys.exit(code)
