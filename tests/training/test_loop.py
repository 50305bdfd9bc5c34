"""The one loop: exact gradient accumulation, non-finite handling, logging, best checkpoint."""

import json

import pytest
import torch

from warmstart.checkpoint.run import RunCheckpoints
from warmstart.config.schema import CausalLMObjective, ConstantSchedule, FullStrategy, SGDOptim, TrainSection
from warmstart.data.loaders import BatchIterator, FullBatchIterator, pad_collate, sequential_batches
from warmstart.errors import ConfigError, TrainingError
from warmstart.evaluation import evaluate
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective
from warmstart.optim import build_optimizer, build_schedule
from warmstart.strategies import build_strategy
from warmstart.training.loop import MetricsLog, Training, train
from warmstart.training.monitor import Monitor
from warmstart.training.state import TrainState

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def _data(n=32, seed=0):
    # Variable-length sequences: padding makes micro-batches hold different token counts, which is
    # exactly where averaging per micro-batch (instead of per token) goes wrong.
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 16, (n,), generator=g)
    return [torch.randint(5, 64, (int(n_),), generator=g).tolist() for n_ in lengths]


def _nan_on_steps(module, steps: set[int]):
    """Make `module`'s training forward return a NaN loss on the given (1-based) optimizer steps."""
    forward, calls = module.forward, [0]

    def patched(batch):
        out = forward(batch)
        if module.training:
            calls[0] += 1
            if calls[0] in steps:
                out.loss = out.loss * float("nan")
        return out

    module.forward = patched


def _run(tmp_path, batch_size, grad_accum, steps=1, seqs=None, lr=0.5, full_batch=False, strategy=None,
         nan_steps=(), **train_kw):
    torch.manual_seed(0)
    seqs = seqs or _data()
    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL)
    if nan_steps:
        _nan_on_steps(module, set(nan_steps))
    make = lambda idx: pad_collate([seqs[i] for i in idx], 0)  # noqa: E731
    strategy = strategy or build_strategy(FullStrategy())
    optim = build_optimizer(strategy.param_groups(module, lr), SGDOptim(lr=lr))
    cfg = TrainSection(max_steps=steps, batch_size=batch_size, grad_accum=grad_accum, grad_clip=None,
                       progress=False, **{"eval_every": 100, **train_kw})
    sched = build_schedule(optim, ConstantSchedule(), steps)
    batches = (FullBatchIterator(len(seqs), make, batch_size) if full_batch
               else BatchIterator(len(seqs), make, batch_size, seed=0))
    evaluate_val = lambda mb: evaluate(module, sequential_batches(len(seqs), make, 8, mb))  # noqa: E731
    tmp_path.mkdir(parents=True, exist_ok=True)
    run = Training(strategy, optim, sched, batches, cfg, TrainState(), MetricsLog(tmp_path / "m.jsonl"))
    save = RunCheckpoints(tmp_path, module, {"objective": "causal_lm"}, strategy, optim, keep=cfg.keep_checkpoints)
    state = train(module, run, evaluate_val, Monitor.from_config(cfg, module.new_metrics().primary), save,
                  say=lambda *_: None)
    return module, state


def test_grad_accumulation_4x8_equals_1x32(tmp_path):
    one, s1 = _run(tmp_path / "a", batch_size=32, grad_accum=1)
    acc, s2 = _run(tmp_path / "b", batch_size=8, grad_accum=4)
    assert s1.items_seen == s2.items_seen
    for (name, p), q in zip(one.named_parameters(), acc.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)


def test_naive_micro_batch_mean_would_differ(tmp_path):
    # Guard that the test above is sensitive: per-micro-batch means weighted equally != token mean.
    seqs = _data()
    module = build_objective(CausalLMObjective(), TransformerBackbone.tiny("gpt2"), SPECIAL)
    outs = [module(pad_collate(seqs[i:i + 8], 0)) for i in range(0, 32, 8)]
    naive = sum(o.loss for o in outs) / 4
    exact = sum(o.loss * o.n_items for o in outs) / sum(o.n_items for o in outs)
    assert abs(float((naive - exact).detach())) > 1e-4


def test_metrics_log_and_final_checkpoint(tmp_path):
    _run(tmp_path, batch_size=8, grad_accum=1, steps=4, log_every=2)
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if ln["split"] == "train"] == [2, 4]
    assert [ln["step"] for ln in lines if ln["split"] == "val"] == [4]
    assert {"loss", "ppl", "items", "elapsed_s"} <= set(lines[-1])
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_000004"


def test_nan_loss_stops_with_step_and_writes_no_checkpoint(tmp_path):
    # lr=inf: step 1 turns the weights to inf, so step 2's loss is the first non-finite one.
    with pytest.raises(TrainingError, match="non-finite loss or gradient at step 2"):
        _run(tmp_path, batch_size=8, grad_accum=1, steps=3, lr=float("inf"))
    assert not (tmp_path / "checkpoints" / "latest").exists()


def test_nan_policy_skip_counts_skipped_steps(tmp_path):
    module, state = _run(tmp_path, batch_size=8, grad_accum=1, steps=3, nan_steps={2}, nan_policy="skip")
    assert state.skipped_steps == 1 and state.step == 3


def test_nan_policy_skip_on_the_last_step_still_evaluates_and_saves(tmp_path):
    # Issue 17.4: a skipped last step used to `continue` past the final evaluation and checkpoint.
    _, state = _run(tmp_path, batch_size=8, grad_accum=1, steps=3, nan_steps={3}, nan_policy="skip", log_every=1)
    assert state.skipped_steps == 1 and state.step == 3
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if ln["split"] == "train"] == [1, 2]  # no train line for a skipped step
    assert [ln["step"] for ln in lines if ln["split"] == "val"] == [3]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_000003"
    saved = json.loads((tmp_path / "checkpoints" / "step_000003" / "state.json").read_text())
    assert saved["step"] == 3 and saved["skipped_steps"] == 1


def test_full_batch_gd_in_ragged_micro_batches_equals_one_batch(tmp_path):
    # 32 examples in micro-batches of <= 7 (5 ragged chunks): one step = the exact full-batch gradient.
    one, _ = _run(tmp_path / "a", batch_size=32, grad_accum=1)
    gd, state = _run(tmp_path / "b", batch_size=7, grad_accum=5, full_batch=True)
    assert state.items_seen == sum(len(s) - 1 for s in _data())  # every next-token target of the set, once
    for (name, p), q in zip(one.named_parameters(), gd.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)


def test_early_stopping_on_monitored_metric_keeps_best(tmp_path):
    # A vanishing LR: val ppl moves by far less than min_delta, so every evaluation after the first is stale.
    _, state = _run(tmp_path, batch_size=8, grad_accum=1, steps=10, lr=1e-12, eval_every=1, monitor="ppl",
                    early_stop_patience=2, early_stop_min_delta=1e-3)
    assert state.stopped_early and state.step == 3 and state.stale_evals == 2
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_000003"
    vals = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert state.best_metric == min(v["ppl"] for v in vals if v["split"] == "val")


def test_unknown_monitor_fails_fast(tmp_path):
    with pytest.raises(ConfigError, match="train.monitor: 'acc' is not a validation metric"):
        _run(tmp_path, batch_size=8, grad_accum=1, steps=2, monitor="acc")


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    # lr=inf: step 1's loss and gradient are finite but its update makes the weights inf; the
    # step-1 checkpoint must not be written (even under nan_policy=skip).
    with pytest.raises(TrainingError, match="non-finite weights after step 1; not writing checkpoint step_000001"):
        _run(tmp_path, batch_size=8, grad_accum=1, steps=3, lr=float("inf"), nan_policy="skip", save_every=1)
    assert not (tmp_path / "checkpoints" / "latest").exists()


def test_epoch_hook_fires_before_the_first_step_of_each_epoch(tmp_path):
    # 32 examples in batches of 8: steps 0-3 are epoch 0, steps 4-7 epoch 1, step 8 epoch 2.
    from warmstart.strategies.full import Full

    class Spy(Full):
        calls, step = [], None

        def on_step_start(self, step):
            self.step = step

        def on_epoch_start(self, epoch, optimizer):
            self.calls.append((epoch, self.step))

    spy = Spy(FullStrategy())
    _run(tmp_path, batch_size=8, grad_accum=1, steps=9, lr=1e-3, strategy=spy)
    # on_epoch_start runs before on_step_start, so `self.step` is the previous step's number.
    assert spy.calls == [(0, None), (1, 3), (2, 7)]
