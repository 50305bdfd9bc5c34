"""Where compare cells run: the GPU each --jobs worker gets (a pure function, and what a worker
process really sees), the Ray resource request per cell, a Ray cell's files landing on the driver,
and one-line errors naming a failed cell."""

import json
import os

import pytest

from warmstart.config import parse_config
from warmstart.errors import ConfigError, DataError, TrainingError
from warmstart.experiments import backends
from warmstart.experiments.backends import cell_failed, cell_pool, gpu_slots, land_cell_files, ray_request

TRAIN = {"max_steps": 2, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


@pytest.mark.parametrize("n, gpus, device, want", [
    (4, ["0", "1"], "auto", ["0", "1", "0", "1"]),     # round-robin: cells share GPUs once there are more
    (2, ["0", "1", "2"], "cuda", ["0", "1"]),
    (3, ["5", "7"], "auto", ["5", "7", "5"]),           # the parent's own CUDA_VISIBLE_DEVICES entries
    (2, [], "auto", [None, None]),                      # no GPU: environment untouched
    (2, ["0", "1"], "cpu", [None, None]),               # CPU cells unchanged
    (2, ["0", "1"], "mps", [None, None]),
    (2, ["0", "1"], "cuda:1", [None, None]),            # an explicit GPU names itself
])
def test_gpu_slots_round_robin(n, gpus, device, want):
    assert gpu_slots(n, gpus, device) == want


def test_visible_gpus_follow_device_count_and_parent_mask(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert backends.visible_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 6,9")
    assert backends.visible_gpus() == ["3", "6"]          # cut to what torch can use
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert backends.visible_gpus() == []


def test_pool_worker_sees_its_gpu(monkeypatch):
    """The worker process itself (a spawned interpreter) has its slot in CUDA_VISIBLE_DEVICES,
    replacing the parent's value. (compare's own wiring is checked in test_compare.py.)"""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "parent")
    with cell_pool(1, ["3"]) as pool:
        assert pool.submit(os.getenv, "CUDA_VISIBLE_DEVICES").result(timeout=120) == "3"


def _finetune_cell(tmp_path, device="auto"):
    cfg = parse_config({"run": {"name": "c", "out_dir": str(tmp_path)}, "data": {"kind": "labeled_text",
                        "path": str(tmp_path / "x.csv")}, "model": {"kind": "transformer", "arch": "bert",
                        "size": "tiny"}, "tokenizer": {"kind": "wordpiece"},
                        "train": {**TRAIN, "device": device, "num_threads": 3}}, "finetune", "f")
    return cfg


@pytest.mark.parametrize("device, gpus, cluster_gpus, want_gpus, want_device", [
    ("auto", None, 0, 0, "cpu"),          # no GPU anywhere: a CPU cell, pinned to the CPU
    ("auto", None, 4, 1, "auto"),         # a GPU cluster: one GPU per cell by default
    ("auto", 0.5, 4, 0.5, "auto"),        # two cells per GPU
    ("auto", 0, 4, 0, "cpu"),             # asked for none: the CPU, though the machine has GPUs
    ("cuda:2", None, 4, 1, "cuda"),       # Ray shows a task only its own GPU, as cuda:0
    ("cpu", None, 4, 0, "cpu"),
])
def test_ray_request(tmp_path, device, gpus, cluster_gpus, want_gpus, want_device):
    request, job = ray_request(_finetune_cell(tmp_path, device), gpus, cluster_gpus)
    assert request == {"num_cpus": 3, "num_gpus": want_gpus}     # CPUs = the cell's torch threads
    assert job.train.device == want_device and job.train.num_threads == 3


def test_ray_request_cuda_without_gpus_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--gpus-per-cell 0 but train.device is cuda"):
        ray_request(_finetune_cell(tmp_path, "cuda"), 0, 4)


def test_land_cell_files_writes_result_last_and_keeps_a_finished_cell(tmp_path):
    files = {"result.json": '{"test": 1}', "config.json": "{}", "metrics.jsonl": '{"step": 1}\n'}
    land_cell_files(tmp_path / "cell", files)
    assert {p.name for p in (tmp_path / "cell").iterdir()} == set(files)
    assert json.loads((tmp_path / "cell" / "result.json").read_text()) == {"test": 1}
    land_cell_files(tmp_path / "cell", {"result.json": '{"test": 2}'})    # already finished here: untouched
    assert json.loads((tmp_path / "cell" / "result.json").read_text()) == {"test": 1}


def test_cell_failed_is_one_line_naming_the_cell():
    e = cell_failed("cells/a_b10_s0", DataError("x.csv: no such file\nmore"))
    assert type(e) is DataError and str(e) == "compare cell cells/a_b10_s0: x.csv: no such file"
    e = cell_failed("cells/a_b10_s0", RuntimeError("CUDA out of memory"))
    assert isinstance(e, TrainingError)
    assert str(e) == "compare cell cells/a_b10_s0 failed: RuntimeError: CUDA out of memory"


def test_ray_backend_without_ray_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import sys

    import yaml

    from warmstart.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)    # `import ray` raises ImportError, as when it is not installed
    recipe = tmp_path / "cmp.yaml"
    recipe.write_text(yaml.safe_dump({"run": {"name": "grid", "out_dir": str(tmp_path / "runs")},
                                      "pretrained": str(tmp_path / "pre"), "label_budgets": [10],
                                      "data": {"kind": "labeled_text", "path": str(tmp_path / "x.csv")}}))
    assert main(["compare", str(recipe), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --backend ray needs Ray: pip install 'warmstart[ray]'\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"jobs": 0}, "--jobs: expected a whole number >= 1, got 0"),
    ({"backend": "slurm"}, "--backend: expected one of local, ray, got 'slurm'"),
    ({"backend": "ray", "jobs": 2}, "--jobs is for --backend local"),
    ({"backend": "ray", "cpus_per_cell": 0}, "--cpus-per-cell: expected a whole number >= 1, got 0"),
    ({"backend": "ray", "gpus_per_cell": -1}, "--gpus-per-cell: expected a number >= 0, got -1"),
    ({"cpus_per_cell": 2}, "--cpus-per-cell and --gpus-per-cell are for --backend ray"),
])
def test_bad_backend_options_are_one_line_before_any_cell(tmp_path, kwargs, message):
    from warmstart.experiments.compare import compare

    cfg = parse_config({"run": {"name": "grid", "out_dir": str(tmp_path / "runs")}, "pretrained": str(tmp_path),
                        "label_budgets": [10], "data": {"kind": "labeled_text", "path": str(tmp_path / "x.csv")}},
                       "compare", "c")
    with pytest.raises(ConfigError) as e:
        compare(cfg, say=lambda *_: None, **kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists()


POOL_SCRIPT = """
import sys, time
from pathlib import Path
from warmstart.experiments.backends import cell_pool, interruptible

def meet(where, i):  # returns once both are running: so in two workers
    (Path(where) / str(i)).touch()
    while not all((Path(where) / str(k)).exists() for k in (0, 1)):
        time.sleep(0.01)

def cell(marker):  # a long cell that says when it runs
    Path(marker).touch()
    time.sleep(120)

if __name__ == "__main__":
    with cell_pool(2, [None, None]) as pool:
        first = [pool.submit(interruptible, meet, sys.argv[2], i) for i in (0, 1)]
        [f.result(timeout=120) for f in first]  # two workers, and one of them stays idle from here on
        running = pool.submit(interruptible, cell, sys.argv[1])
        try:
            running.result(timeout=120)
        except KeyboardInterrupt:
            print("cell:", type(running.exception(timeout=60)).__name__)
"""


def test_ctrl_c_reaches_pool_workers_quietly(tmp_path):
    """Ctrl-C to the whole process group (a terminal's): the worker running a cell gets
    KeyboardInterrupt inside the cell (handed back as the task's exception), and the idle worker
    prints nothing (it printed a multiprocessing traceback from its queue read)."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "pool.py").write_text(POOL_SCRIPT)
    marker = tmp_path / "running"
    env = {**os.environ, "PYTHONPATH": str(backends.Path(backends.__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "pool.py"), str(marker), str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip() == "cell: KeyboardInterrupt", (out, err)
    assert "Traceback" not in err, err
