"""Data parallel through torch's own launcher (torch.distributed.run, gloo on CPU): 2 processes x
half the batch train the tiny GPT (pretraining) and the tiny BERT (padded classification) to the
same weights as 1 process x the whole batch (fp32, eager, no dropout), with and without gradient
accumulation; only rank 0 writes; bad worlds fail in one line. The same with FSDP2
(train.parallel=fsdp): sharded checkpoints that load on one process and resume on any world size.

The equality runs use SGD with momentum, not AdamW: the two gradients agree to float rounding
(~1e-9 here), but Adam divides by sqrt(v) and so turns the pure rounding noise of parameters whose
true gradient is zero (GPT-2's attention key biases: softmax ignores a per-row constant) into
lr-sized steps - measured 4e-6 apart after 4 steps, for the same reason two BLAS builds would be."""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from warmstart.checkpoint.io import is_valid
from warmstart.cli import main
from warmstart.config.sections.train import TrainSection
from warmstart.errors import ConfigError
from warmstart.training.distributed import join_world

SRC = str(Path(__file__).resolve().parents[2] / "src")
STEPS = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat log big small red blue fast slow and then".split()
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choices(words, k=rng.randint(8, 20))) for _ in range(300)) + "\n")
    return path


def _config(tmp_path, corpus, name, grad_accum=1, batch_size=8, device="cpu", parallel="ddp", n_layers=1,
            activation_checkpointing=False):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""# warmstart pretrain {name}.yaml
run: {{name: {name}, out_dir: {tmp_path}, seed: 1}}
data: {{kind: corpus, path: {corpus}, max_len: 16, val_frac: 0.1}}
tokenizer: {{kind: bpe, vocab_size: 300, min_frequency: 2}}
model: {{kind: transformer, arch: gpt2, size: tiny, n_layers: {n_layers}, d_model: 32, n_heads: 2, dropout: 0.0}}
objective: {{kind: causal_lm}}
optim: {{kind: sgd, lr: 0.5, momentum: 0.9}}
schedule: {{kind: constant}}
train: {{max_steps: {STEPS}, batch_size: {batch_size}, grad_accum: {grad_accum}, eval_every: 2, eval_batches: 3,
         save_every: 2, log_every: 1, num_threads: 1, progress: false, device: {device}, parallel: {parallel},
         activation_checkpointing: {str(activation_checkpointing).lower()}}}
""")
    return path


def _env():
    launched = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in launched}
    return {**env, "PYTHONPATH": SRC + os.pathsep + env.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def _warmstart(*args, nproc=1):
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)] if nproc > 1 else []
    return subprocess.run([sys.executable, *launcher, "-m", "warmstart", *args], capture_output=True, text=True,
                          timeout=300, env=_env())


def _weights(run_dir, stems=("backbone", "head", "optimizer")):
    ckpt = run_dir / "checkpoints" / f"step_{STEPS:06d}"
    return {f"{stem}.{k}": v for stem in stems
            for k, v in load_file(str(ckpt / f"{stem}.safetensors")).items()}


@pytest.mark.parametrize("grad_accum", [1, 2], ids=["no_accum", "accum2"])
def test_two_gloo_ranks_train_like_one_process_with_the_whole_batch(tmp_path, corpus, grad_accum):
    one = _warmstart("pretrain", str(_config(tmp_path, corpus, "one", grad_accum)))
    assert one.returncode == 0, one.stderr[-3000:]
    two = _warmstart("pretrain", str(_config(tmp_path, corpus, "two", grad_accum)), nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]

    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=0, msg=k)

    # Training and validation logs agree too (validation metrics are reduced across ranks).
    logs = [[json.loads(x) for x in (tmp_path / n / "metrics.jsonl").read_text().splitlines()] for n in ("one", "two")]
    assert [(r["step"], r["split"]) for r in logs[0]] == [(r["step"], r["split"]) for r in logs[1]]
    for r1, r2 in zip(*logs, strict=True):
        assert r2.get("items") == r1.get("items")
        assert r2["loss"] == pytest.approx(r1["loss"], abs=1e-5)
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert result["world_size"] == 2 and result["val"]["loss"] == pytest.approx(
        json.loads((tmp_path / "one" / "result.json").read_text())["val"]["loss"], abs=1e-5)
    _assert_rank_zero_wrote_once(tmp_path / "two", two.stdout)


def _assert_rank_zero_wrote_once(run, stdout):
    """One log line per (step, split), complete step checkpoints only, one result.json, one final message."""
    keys = [(r["step"], r["split"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    assert len(keys) == len(set(keys)) == STEPS + STEPS // 2  # train every step, val every 2
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["latest", "step_000002", "step_000004"]
    assert all(is_valid(run / "checkpoints" / c, verify_hashes=True) for c in ckpts if c != "latest")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "metrics.jsonl", "result.json",
                                                     "tokenizer"]
    assert stdout.count("pretrain done") == 1  # rank 1 prints nothing


def test_two_gloo_ranks_fine_tune_padded_classification_like_one_process(tmp_path, tiny_text_csv):
    # Each rank pads its half of a batch to its own longest text: the attention mask makes that invisible.
    for name in ("ft1", "ft2"):
        (tmp_path / f"{name}.yaml").write_text(f"""# warmstart finetune {name}.yaml
run: {{name: {name}, out_dir: {tmp_path}, seed: 3}}
data: {{kind: labeled_text, path: {tiny_text_csv}, max_len: 16}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 32, n_heads: 2, dropout: 0.0}}
task: {{kind: classification, dropout: 0.0}}
optim: {{kind: sgd, lr: 0.1, momentum: 0.9}}
train: {{max_steps: {STEPS}, batch_size: 8, grad_accum: 2, eval_every: 2, log_every: 1, num_threads: 1,
         progress: false, device: cpu}}
""")
    assert main(["finetune", str(tmp_path / "ft1.yaml")]) == 0
    two = _warmstart("finetune", str(tmp_path / "ft2.yaml"), nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _weights(tmp_path / "ft1"), _weights(tmp_path / "ft2")
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=0, msg=k)
    r1, r2 = (json.loads((tmp_path / n / "result.json").read_text()) for n in ("ft1", "ft2"))
    assert r2["test"]["acc"] == r1["test"]["acc"] and r2["test"]["loss"] == pytest.approx(r1["test"]["loss"], abs=1e-5)


def test_world_size_that_does_not_divide_the_batch_is_one_line_exit_2(tmp_path, corpus, monkeypatch, capsys):
    for k, v in {"WORLD_SIZE": "3", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    assert main(["pretrain", str(_config(tmp_path, corpus, "odd", batch_size=8))]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "divisible by the world size (3)" in err
    assert not (tmp_path / "odd").exists()  # nothing written


def test_rendezvous_failure_is_a_config_error(monkeypatch):
    with socket.socket() as busy:  # rank 0 hosts the rendezvous store: an occupied port makes it fail at once
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                     "MASTER_PORT": str(busy.getsockname()[1])}.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ConfigError, match="rendezvous failed"):
            join_world(TrainSection(batch_size=8, device="cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line_exit_2(tmp_path, corpus, capsys):
    assert main(["pretrain", str(_config(tmp_path, corpus, "gpu", device="cuda"))]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no CUDA GPU is available" in err
    assert not (tmp_path / "gpu").exists()  # nothing written



def _fsdp_run(tmp_path, corpus):
    # With activation checkpointing too (HF checkpoints each block's forward inside FSDP's hooks).
    cfg = _config(tmp_path, corpus, "fsdp", 2, parallel="fsdp", n_layers=2, activation_checkpointing=True)
    two = _warmstart("pretrain", str(cfg), nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "x 2 processes (FSDP)" in two.stdout
    return tmp_path / "fsdp", two.stdout


def test_fsdp_two_gloo_ranks_train_like_one_process_and_checkpoint_sharded(tmp_path, corpus):
    from warmstart.checkpoint.sharded import load_sharded
    from warmstart.runs import load_run_config
    from warmstart.workflows.pretrain import pretrain_objective

    one = _warmstart("pretrain", str(_config(tmp_path, corpus, "one", 2, n_layers=2)))
    assert one.returncode == 0, one.stderr[-3000:]
    run, stdout = _fsdp_run(tmp_path, corpus)

    # FSDP's consolidated weights equal one process's (its optimizer state lives in the shards).
    a, b = _weights(tmp_path / "one", ("backbone", "head")), _weights(run, ("backbone", "head"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=0, msg=k)
    ckpt = run / "checkpoints" / f"step_{STEPS:06d}"
    assert sorted(p.name for p in (ckpt / "sharded").iterdir()) == [
        "shard-00001-model-00001-of-00001.safetensors", "shard-00002-model-00001-of-00001.safetensors"]
    assert "sharded/shard-00002-model-00001-of-00001.safetensors" in json.loads((ckpt / "manifest.json").read_text())[
        "files"]
    _assert_rank_zero_wrote_once(run, stdout)

    # Sharded save -> load on 1 process (no process group) -> the same weights and the same outputs.
    _, cfg = load_run_config(run)
    full, val_set = pretrain_objective(cfg, run, ckpt)
    fresh, _ = pretrain_objective(cfg, run, ckpt)
    with torch.no_grad():
        for p in fresh.parameters():
            p.normal_()
    load_sharded(ckpt, fresh)
    for (k, v), (k2, v2) in zip(full.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    batch = val_set.make_batch(list(range(4)))
    full.eval(), fresh.eval()
    assert torch.equal(full(batch).loss, fresh(batch).loss)


@pytest.mark.slow  # three more launches (a 2-process run and resumes on 2 and on 1 process)
def test_fsdp_resume_from_shards_on_two_and_on_one_process(tmp_path, corpus):
    run, _ = _fsdp_run(tmp_path, corpus)
    b = _weights(run, ("backbone", "head"))
    # Resume from the step-2 shards: on 2 processes bitwise equal to the uninterrupted run; on 1 process
    # (another world size: DCP reshards) equal within float rounding.
    for n in (2, 1):
        shutil.rmtree(run / "checkpoints" / f"step_{STEPS:06d}")
        (run / "result.json").unlink()
        again = _warmstart("pretrain", str(tmp_path / "fsdp.yaml"), "--resume", nproc=n)
        assert again.returncode == 0 and "from step 2" in again.stdout, again.stderr[-3000:]
        resumed = _weights(run, ("backbone", "head"))
        for k in b:
            if n == 2:
                assert torch.equal(resumed[k], b[k]), k
            else:
                torch.testing.assert_close(resumed[k], b[k], atol=1e-6, rtol=0, msg=k)


def test_fsdp_processes_end_without_interpreter_shutdown(tmp_path):
    # The intermittent rank abort ("terminate called without an active exception", SIGABRT) came from
    # interpreter shutdown running while the gloo group's worker threads were alive: torch keeps the group
    # of an FSDP2 process alive past destroy_process_group. A process that joined a world therefore ends
    # with os._exit (training.distributed.exit_process), after the group is destroyed and output flushed.
    worker = Path(__file__).with_name("exit_worker.py")
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(worker)], capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "terminate called" not in out.stderr
    for rank in (0, 1):
        # Imported before the group exists, torch.distributed.nn.functional binds no group into its defaults
        # (DTensor imports it later, which would otherwise keep the group alive as well).
        assert f"rank {rank} defaults_bind_group=False" in out.stdout, out.stdout
        assert f"rank {rank} finalized" not in out.stdout  # no interpreter shutdown after the world is left
