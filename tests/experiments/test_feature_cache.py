"""Cached features for a frozen backbone (workflows.features): a cached linear probe gives the metrics
of the uncached one (same seed), the cache key changes with every part that changes the features,
compare cells share entries, a damaged entry is recomputed, and parallel writers compute once."""

import json
import shutil
import threading

import pytest
import torch

from warmstart.checkpoint.io import load_tensors
from warmstart.config import parse_config
from warmstart.workflows import features as feature_cache
from warmstart.workflows import finetune

TRAIN = {"max_steps": 6, "batch_size": 16, "eval_every": 3, "log_every": 1, "progress": False}


def probe_config(root, name="probe", strategy=None, data=None, task=None, train=None, **top):
    return parse_config({
        "run": {"name": name, "out_dir": str(root / "ft"), "seed": top.pop("seed", 0)},
        "init": str(root / "runs" / "pre"),
        "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16, "label_budget": 20,
                 **(data or {})},
        # head dropout draws from the training RNG: both paths must draw the same masks
        "task": {"kind": "classification", "dropout": 0.2, **(task or {})},
        "strategy": {"kind": "linear_probe", "head_lr": 0.05, **(strategy or {})},
        "schedule": {"kind": "constant"}, "train": {**TRAIN, **(train or {})}, **top,
    }, "finetune", f"{name}.yaml")


def entries(root):
    return sorted((root / "ft" / ".cache" / "features").glob("*.safetensors"))


def train_losses(run_dir):
    lines = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if r["split"] == "train"]


def test_cached_probe_equals_uncached(tiny_mlm_root, capsys):
    root = tiny_mlm_root
    cached = finetune(probe_config(root, "cached"), say=print)
    out = capsys.readouterr().out
    assert "features: frozen backbone, pooled features once per split (train 20 computed, val 10 computed, " \
           "test 20 computed" in out
    plain = finetune(probe_config(root, "plain", strategy={"cache_features": False}), say=print)
    assert "features:" not in capsys.readouterr().out and "feature_cache" not in plain
    assert cached["feature_cache"] == {"dir": str(root / "ft" / ".cache" / "features"),
                                       "train": "computed", "val": "computed", "test": "computed"}
    assert len(entries(root)) == 3
    for split in ("test", "best_val"):
        assert cached[split]["acc"] == plain[split]["acc"]
        assert cached[split]["loss"] == pytest.approx(plain[split]["loss"], abs=1e-5)
    assert train_losses(root / "ft" / "cached") == pytest.approx(train_losses(root / "ft" / "plain"), abs=1e-5)
    # The head trained on cached features is the head, and the backbone the pretrained one, bit for bit.
    best = root / "ft" / "cached" / "checkpoints" / "best"
    pre = load_tensors(next((root / "runs" / "pre" / "checkpoints").glob("step_*")), "backbone")
    assert all(torch.equal(pre[k], v) for k, v in load_tensors(best, "backbone").items())

    # A second run of the same cell reads every split from the cache and gets the same result.
    again = finetune(probe_config(root, "cached"), overwrite=True, say=lambda *_: None)
    assert again["feature_cache"]["train"] == again["feature_cache"]["val"] == "cached"
    assert again["test"] == cached["test"] and len(entries(root)) == 3


@pytest.mark.parametrize("change", [
    {"data": {"max_len": 7}},                       # truncation: different input ids
    {"data": {"split_seed": 1}},                    # different examples in every split
    {"task": {"pooling": "cls"}},                   # a different pooled vector
    {"train": {"precision": "bf16"}},               # different numerics
    {"train": {"batch_size": 8}},                   # different padding widths
    {"init_weights": "random"},                     # a different checkpoint (same architecture)
])
def test_key_changes_with_every_part(tiny_mlm_root, change):
    root = tiny_mlm_root
    base = probe_config(root, "base")
    finetune(base, overwrite=True, say=lambda *_: None)
    before = set(entries(root))
    res = finetune(probe_config(root, "changed", **change), overwrite=True, say=lambda *_: None)
    assert res["feature_cache"]["val"] == res["feature_cache"]["test"] == "computed"
    assert len(set(entries(root)) - before) == 3


def test_key_covers_tokenizer_and_weights(tiny_mlm_root):
    """Unit level: the inputs' key follows the ids the tokenizer produced; the backbone digest every weight."""
    from warmstart.data.loaders import text_examples
    from warmstart.inputs import Examples
    from warmstart.models import load_backbone
    from warmstart.tasks import build_task

    cfg = probe_config(tiny_mlm_root)
    ckpt = next((tiny_mlm_root / "runs" / "pre" / "checkpoints").glob("step_*"))
    module = build_task(cfg.task, load_backbone(ckpt), {"labels": ["neg", "pos"]})
    digest = feature_cache.backbone_digest(module, cfg.train, "cpu")
    labels = torch.tensor([0, 1])
    key = lambda ids: feature_cache._inputs_key(Examples(2, text_examples(ids, labels, 0)), 16, digest)[0]  # noqa: E731
    assert key([[5, 6, 7], [8, 9]]) == key([[5, 6, 7], [8, 9]]) != key([[5, 6, 7], [8, 10]])
    assert key([[5, 6, 7], [8, 9]]) != key([[5, 6], [7, 8, 9]])  # same ids, other boundaries
    with torch.no_grad():
        next(module.backbone.parameters()).view(-1)[0] += 1e-3
    assert feature_cache.backbone_digest(module, cfg.train, "cpu") != digest
    assert feature_cache.backbone_digest(module, cfg.train.model_copy(update={"precision": "bf16"}), "cpu") != \
        feature_cache.backbone_digest(module, cfg.train, "cpu")


def test_compare_cells_share_the_cache(tiny_mlm_root, monkeypatch):
    """3 budgets × 2 seeds of one probe arm: val and test are computed once, each cell's training subset once."""
    from warmstart.experiments.compare import compare

    computed = []
    real = feature_cache._compute
    monkeypatch.setattr(feature_cache, "_compute",
                        lambda module, ex, *a: computed.append(ex.n) or real(module, ex, *a))
    root = tiny_mlm_root
    cfg = parse_config({
        "run": {"name": "cmp", "out_dir": str(root / "cmp")}, "pretrained": str(root / "runs" / "pre"),
        "arms": [{"name": "probe", "init": "pretrained", "strategy": {"kind": "linear_probe"}}],
        "label_budgets": [10, 20, 40], "seeds": [0, 1],
        "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
        "schedule": {"kind": "constant"}, "train": TRAIN,
    }, "compare", "cmp.yaml")
    out = compare(cfg, say=lambda *_: None)
    cache = out / "cells" / ".cache" / "features"
    assert sorted(computed) == sorted([10, 20] + [10, 20, 40] * 2)  # val 10, test 20: once each
    assert len(list(cache.glob("*.safetensors"))) == 2 + 6
    cells = [json.loads((out / c["run_dir"] / "result.json").read_text())
             for c in json.loads((out / "compare.json").read_text())["cells"]]
    assert [c["feature_cache"]["val"] for c in cells].count("computed") == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_split"])
def test_damaged_entry_is_recomputed(tiny_mlm_root, capsys, damage):
    root = tiny_mlm_root
    shutil.rmtree(root / "ft" / ".cache", ignore_errors=True)
    first = finetune(probe_config(root, "dmg"), overwrite=True, say=lambda *_: None)
    files = entries(root)
    assert len(files) == 3
    for f in files:
        data = f.read_bytes()
        if damage == "garbage":
            f.write_bytes(b"not a safetensors file at all")
        elif damage == "truncated":
            f.write_bytes(data[: len(data) // 2])
    if damage == "other_split":  # a whole file, but another split's features under this name
        files[0].write_bytes(files[1].read_bytes())
    again = finetune(probe_config(root, "dmg"), overwrite=True, say=print)
    out = capsys.readouterr().out
    assert "recomputing it" in out and "computed" in again["feature_cache"].values()
    assert again["test"] == pytest.approx(first["test"], abs=1e-6)
    third = finetune(probe_config(root, "dmg"), overwrite=True, say=lambda *_: None)  # repaired: all cached
    assert set(third["feature_cache"].values()) - {third["feature_cache"]["dir"]} == {"cached"}


def test_parallel_writers_compute_an_entry_once(tiny_mlm_root, tmp_path, monkeypatch):
    """Two cells (threads here; processes under compare --jobs) asking for the same entry at once."""
    from warmstart.workflows.finetune import prepare_finetune

    cfg = probe_config(tiny_mlm_root)
    splits, inputs, module, _ = prepare_finetune(cfg, say=lambda *_: None)
    val = inputs.labeled_set(splits.val, module)
    computed = []
    real = feature_cache._compute
    monkeypatch.setattr(feature_cache, "_compute", lambda *a: computed.append(1) or real(*a))
    results = [None, None]

    def cell(i):
        results[i] = feature_cache.cached_sets(module, {"val": val}, cfg.train, tmp_path, say=lambda *_: None)

    threads = [threading.Thread(target=cell, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1 and sorted(r[1]["val"] for r in results) == ["cached", "computed"]
    a, b = (r[0]["val"].make_batch(list(range(val.n))) for r in results)
    assert torch.equal(a["pooled"], b["pooled"]) and torch.equal(a["labels"], b["labels"])
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []



def test_a_temp_file_left_by_a_killed_writer_is_removed(tiny_mlm_root, tmp_path):
    """A writer SIGKILLed between writing its temp file and the rename (tests/e2e/test_kill_anywhere.py
    can land there) leaves KEY.safetensors.PID.RAND.tmp; the next cell to take the entry's lock deletes it."""
    from warmstart.workflows.finetune import prepare_finetune

    cfg = probe_config(tiny_mlm_root)
    splits, inputs, module, _ = prepare_finetune(cfg, say=lambda *_: None)
    val = inputs.labeled_set(splits.val, module)
    feature_cache.cached_sets(module, {"val": val}, cfg.train, tmp_path, say=lambda *_: None)
    (entry,) = tmp_path.glob("*.safetensors")
    stale = tmp_path / f"{entry.name}.4242.0123abcd.tmp"
    stale.write_bytes(entry.read_bytes()[:100])   # half-written
    other = tmp_path / "unrelated.safetensors.1.x.tmp"   # another entry's: its own lock guards it
    other.write_bytes(b"")
    _, how = feature_cache.cached_sets(module, {"val": val}, cfg.train, tmp_path, say=lambda *_: None)
    assert how == {"val": "cached"} and not stale.exists() and other.exists()


def test_a_resumed_probe_uses_the_checkpoints_backbone_features(tiny_mlm_root):
    """Killed after its step-3 checkpoint, a cached linear probe resumes bit for bit: its features are
    the checkpoint's backbone's. (The resume used to compute them with the randomly initialized
    backbone built before the checkpoint's weights were loaded: tests/e2e/test_kill_anywhere.py
    found it as a compare whose resumed pretrained probe matched the scratch probe.)"""
    root = tiny_mlm_root
    train = {"save_every": 3, "keep_checkpoints": 4}
    cfg = probe_config(root, "resumed", train=train, seed=3)
    want = finetune(cfg, say=lambda *_: None)
    run = root / "ft" / "resumed"
    log = (run / "metrics.jsonl").read_text()
    # What a kill during step 4 leaves: the step-3 checkpoint is the newest, no result yet.
    shutil.rmtree(run / "checkpoints" / "step_000006")
    (run / "checkpoints" / "latest").write_text("step_000003")
    (run / "result.json").unlink()
    got = finetune(cfg, resume=True, say=lambda *_: None)
    assert got["feature_cache"]["train"] == "cached"  # the entry the first run wrote: the same backbone
    assert len(train_losses(run)) == 6 and train_losses(run) == train_losses_of(log)
    assert got["test"] == want["test"] and got["best_val"] == want["best_val"]


def train_losses_of(log: str) -> list[float]:
    return [r["loss"] for r in map(json.loads, log.splitlines()) if r["split"] == "train"]


def test_not_cached_when_features_are_not_fixed(tiny_mlm_root, capsys):
    res = finetune(probe_config(tiny_mlm_root, "warm", strategy={"freeze_norm_stats": False}), overwrite=True,
                   say=print)
    assert "feature_cache" not in res
    assert "features: computed every step, not cached (strategy.freeze_norm_stats is false" in capsys.readouterr().out
    res = finetune(probe_config(tiny_mlm_root, "full", strategy={"kind": "full", "head_lr": None}), overwrite=True,
                   say=print)
    assert "feature_cache" not in res and "features:" not in capsys.readouterr().out
