"""Extractive QA: span decoding (max answer length, n-best order across windows, null score),
"no answer" by threshold, the threshold fitted on validation and kept in checkpoints, and every
strategy building and stepping on the task."""

import math

import pytest
import torch
from tests.tasks.conftest import check_round_trip_and_exact_resume
from tests.tasks.test_contract import RECORDS, _qa_batch

from warmstart.config.schema import (
    AdamWOptim,
    DiscriminativeStrategy,
    ExtractiveQATask,
    FullStrategy,
    GradualUnfreezeStrategy,
    LinearProbeStrategy,
    LoRAStrategy,
    PartialStrategy,
)
from warmstart.models.transformer import TransformerBackbone
from warmstart.optim import build_optimizer
from warmstart.strategies import build_strategy
from warmstart.tasks import build_task, head_info
from warmstart.tasks.extractive_qa import decode_windows
from warmstart.tokenizers.qa import Window

CONTEXT = "Ada  wrote notes , then Ada left."
# Context tokens: Ada(0-3) wrote(5-10) notes(11-16) ,(17-18) then(19-23) Ada(24-27) left(28-32) .(32-33)
OFFSETS = [(0, 3), (5, 10), (11, 16), (17, 18), (19, 23), (24, 27), (28, 32), (32, 33)]


def _window(lo, hi):
    return Window(ids=[], type_ids=[], ctx_start=2, offsets=OFFSETS[lo:hi])


def _logits(n_ctx, start, end, cls=(0.0, 0.0)):
    """Start/end logit rows: [CLS], one question token, then n_ctx context positions."""
    s, e = [cls[0], -9.0] + [-5.0] * n_ctx, [cls[1], -9.0] + [-5.0] * n_ctx
    for p, v in start.items():
        s[2 + p] = v
    for p, v in end.items():
        e[2 + p] = v
    return s, e


def test_best_span_respects_max_answer_len_and_order():
    s, e = _logits(8, {0: 3.0, 4: 2.0}, {2: 3.0, 5: 1.0})
    spans, null = decode_windows([s], [e], [_window(0, 8)], CONTEXT, n_best=20, max_answer_len=30)
    assert (spans[0]["text"], spans[0]["start"], spans[0]["end"], spans[0]["score"]) == ("Ada  wrote notes", 0, 16, 6.0)
    assert [x["score"] for x in spans] == sorted((x["score"] for x in spans), reverse=True)
    assert null == 0.0
    # Three tokens is too long now: the best pair within 2 tokens is "then Ada" (2 + 1).
    spans, _ = decode_windows([s], [e], [_window(0, 8)], CONTEXT, n_best=20, max_answer_len=2)
    assert spans[0]["text"] == "then Ada" and spans[0]["score"] == 3.0
    assert all(len([o for o in OFFSETS if o[0] >= x["start"] and o[1] <= x["end"]]) <= 2 for x in spans)
    # An end before a start is never a candidate.
    s, e = _logits(8, {5: 4.0}, {1: 4.0})
    spans, _ = decode_windows([s], [e], [_window(0, 8)], CONTEXT, n_best=20, max_answer_len=30)
    assert spans[0]["start"] >= 24 or spans[0]["end"] <= 10


def test_n_best_is_cut_and_spans_found_twice_count_once():
    # Two overlapping windows see "then Ada" at different scores: it is listed once, at the better one.
    w1, w2 = _window(0, 6), _window(3, 8)
    s1, e1 = _logits(6, {4: 1.0}, {5: 1.0}, cls=(2.0, 2.0))
    s2, e2 = _logits(5, {1: 3.0}, {2: 3.0}, cls=(0.5, 0.0))
    spans, null = decode_windows([s1, s2], [e1, e2], [w1, w2], CONTEXT, n_best=3, max_answer_len=30)
    assert len(spans) == 3
    assert spans[0]["text"] == "then Ada" and spans[0]["score"] == 6.0
    assert [x["text"] for x in spans].count("then Ada") == 1
    assert null == 0.5  # the lowest [CLS] score over the windows


def test_whitespace_at_span_ends_is_trimmed():
    offsets = [(0, 4), (4, 9)]  # byte-level BPE style: " Ada" includes its leading space
    w = Window(ids=[], type_ids=[], ctx_start=2, offsets=offsets)
    s, e = [0.0, -9.0, 5.0, -5.0], [0.0, -9.0, 5.0, -5.0]
    spans, _ = decode_windows([s], [e], [w], " Ada wrote", n_best=5, max_answer_len=5)
    assert spans[0] == {"text": "Ada", "start": 1, "end": 4, "score": 10.0}


def _module(records=None, **cfg):
    records = records or RECORDS["extractive_qa"]
    task = ExtractiveQATask(**cfg)
    return build_task(task, TransformerBackbone.tiny("bert"), head_info(task, records))


def test_no_answer_by_threshold_and_never_on_v1_data():
    batch = _qa_batch(RECORDS["extractive_qa"])
    module = _module().eval()
    with torch.no_grad():
        logits = module.logits(batch)
        preds = module.predictions(logits, batch)
        margins = [null - spans[0]["score"] for spans, null in module.decode(logits, batch)]
        for thr, expect in ((min(margins) - 1, True), (max(margins) + 1, False)):
            module.head.no_answer_threshold.fill_(thr)
            assert all(p["no_answer"] is expect for p in module.predictions(logits, batch))
        for p in preds:
            assert (p["answer"] == "") == p["no_answer"]
            if not p["no_answer"]:
                assert _context_of(batch, p)[p["start"]:p["end"]] == p["answer"]
    v1 = [r for r in RECORDS["extractive_qa"] if r["answers"]]
    module = _module(v1).eval()
    assert module.threshold == math.inf
    module.head.no_answer_threshold.fill_(-1e9)  # ignored: v1 data has no unanswerable question
    with torch.no_grad():
        assert not any(p["no_answer"] for p in module.predictions(module.logits(batch), batch))


def _context_of(batch, pred):
    return next(r["context"] for r in batch["questions"] if r["id"] == pred["id"])


def test_threshold_is_fitted_on_validation_only_and_saved_with_the_head(tmp_path):
    from warmstart.checkpoint.run import load_module_weights, save_module_checkpoint
    from warmstart.evaluation import evaluate

    module = _module()
    batch = _qa_batch(RECORDS["extractive_qa"])
    plain = evaluate(module, [batch])
    assert float(module.head.no_answer_threshold) == 0.0  # scoring alone never changes it
    fitted = module.fit_on_val(lambda max_batches=None: evaluate(module, [batch]))()
    assert float(module.head.no_answer_threshold) == pytest.approx(plain["best_threshold"])
    assert fitted["f1"] == pytest.approx(plain["best_f1"]) and not module.fitting
    save_module_checkpoint(tmp_path, "c", module, module.info())
    other = _module()
    load_module_weights(tmp_path / "checkpoints" / "c", other)
    assert float(other.head.no_answer_threshold) == pytest.approx(plain["best_threshold"])
    assert _module(tune_threshold=False).new_metrics().fit is False


@pytest.mark.parametrize("strategy", [FullStrategy(), LinearProbeStrategy(), PartialStrategy(n_groups=1),
                                      DiscriminativeStrategy(decay=0.5), GradualUnfreezeStrategy(),
                                      LoRAStrategy(r=2, alpha=4)], ids=lambda s: s.kind)
def test_every_strategy_builds_and_steps(strategy):
    module = _module()
    built = build_strategy(strategy)
    built.prepare(module)
    opt = build_optimizer(built.param_groups(module, 1e-2), AdamWOptim(lr=1e-2))
    head_before = module.head.proj.weight.detach().clone()
    module.train()
    built.train_mode(module)
    module(_qa_batch(RECORDS["extractive_qa"])).loss.backward()
    opt.step()
    assert not torch.equal(head_before, module.head.proj.weight)  # the head always trains


def _squad_config(tmp_path, name):
    import json
    import random

    from warmstart.config.schema import FinetuneConfig

    path = tmp_path / "squad.json"
    if not path.exists():
        rng = random.Random(0)
        paragraphs = []
        for n in range(40):
            who = rng.choice(["Anna", "Boris", "Chen"])
            context = " ".join(rng.choices(["we", "saw", "it", "rain"], k=rng.randint(2, 9))) + f" then {who} left"
            ans = [{"text": who, "answer_start": context.index(who)}]
            paragraphs.append({"context": context, "qas": [
                {"id": f"{n}a", "question": "who left", "answers": ans},
                {"id": f"{n}b", "question": "who paid", "answers": [], "is_impossible": True}]})
        path.write_text(json.dumps({"data": [{"paragraphs": paragraphs}]}))
    return FinetuneConfig.model_validate({
        "run": {"name": name, "out_dir": str(tmp_path / "runs")},
        "data": {"kind": "squad", "path": str(path), "max_len": 16, "doc_stride": 4, "max_question_len": 4},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 100},
        "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "task": {"kind": "extractive_qa"},
        "train": {"max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 3, "keep_checkpoints": 3,
                  "select_best": False, "progress": False},
    })


def test_save_load_round_trip_and_exact_resume(tmp_path):
    """The saved run (weights and fitted threshold) gives the test metrics it reported; resuming is
    bitwise exact (weights, head with its threshold, optimizer)."""
    check_round_trip_and_exact_resume(_squad_config, tmp_path)
