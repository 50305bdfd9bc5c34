"""The report's Advice section: when a pretrained arm loses to the reference arm or a baseline, or its
pretraining was small, the report says so with the runs' own numbers and what typically helps."""

import json
from pathlib import Path

from warmstart.reports import write_report
from warmstart.reports.advice import findings
from warmstart.reports.collect import load_comparison

# arm -> (source, init, lr, test acc at 80 labels per seed, at 800 labels per seed)
ARMS = {
    "own-mlm": ("own", "pretrained", 5e-4, (0.29, 0.31), (0.40, 0.42)),
    "minilm-full": ("minilm", "pretrained", 1e-4, (0.44, 0.46), (0.55, 0.57)),
    "minilm+tapt": ("tapt", "pretrained", 1e-4, (0.45, 0.47), (0.43, 0.45)),
    "scratch": ("scratch", "scratch", 5e-4, (0.33, 0.35), (0.39, 0.41)),
    "tfidf": ("tfidf", "baseline", None, (0.34, 0.36), (0.47, 0.49)),
}


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _pretrain_run(path: Path, model: dict, result: dict) -> None:
    _write(path / "config.json", {"verb": "pretrain", "run": {"name": path.name}, "model": model,
                                  "data": {"kind": "corpus", "path": "x.txt"}, "objective": {"kind": "masked_lm"}})
    (path / "metrics.jsonl").write_text(json.dumps({"step": 1, "split": "val", "loss": 5.0}) + "\n")
    _write(path / "result.json", result)


def _compare(root: Path, own_result: dict, arms: dict = ARMS, tapt_ppl: float = 18.2) -> Path:
    _pretrain_run(root / "own", {"kind": "transformer", "d_model": 128}, own_result)
    _pretrain_run(root / "tapt", {"kind": "hf", "path": "minilm"},
                  {"steps": 40, "tokens_seen": 40_960, "corpus": {"documents": 32_434, "tokens": 1_075_310},
                   "val": {"loss": 2.9, "ppl": tapt_ppl}, "unigram_ppl": 950.0})
    cells = []
    for arm, (source, init, lr, *accs) in arms.items():
        for budget, per_seed in zip((80, 800), accs, strict=True):
            for seed, acc in enumerate(per_seed):
                name = f"{arm}_b{budget}_s{seed}"
                rec = {"arm": arm, "source": source, "init": init, "strategy": "full", "label_budget": budget,
                       "n_labels": budget, "seed": seed, "run_dir": f"cells/{name}", "status": "done",
                       "test": {"acc": acc}}
                cells.append(rec)
                cell = root / "compare" / "cells" / name
                _write(cell / "config.json", {"verb": "finetune", "optim": {"kind": "adamw", "lr": lr}})
                (cell / "metrics.jsonl").write_text(json.dumps({"step": 10, "split": "val", "acc": acc}) + "\n")
    sources = {"own": {"kind": "run", "path": str(root / "own")}, "minilm": {"kind": "hf", "path": "/m"},
               "tapt": {"kind": "run", "path": str(root / "tapt")}, "scratch": {"kind": "scratch", "path": None},
               "tfidf": {"kind": "baseline", "path": None}}
    _write(root / "compare" / "compare.json", {
        "format_version": 1, "name": "advice", "pretrained": str(root / "own"), "sources": sources,
        "reference": "scratch", "task": "classification", "metric": "acc", "higher_is_better": True, "cells": cells})
    return root / "compare"


SMALL_OWN = {"steps": 400, "tokens_seen": 1_638_400, "corpus": {"documents": 23_095, "tokens": 750_000},
             "val": {"loss": 5.71, "ppl": 302.0}, "unigram_ppl": 366.0}


def test_losing_small_own_pretraining_is_explained_with_its_numbers(tmp_path):
    out = _compare(tmp_path, SMALL_OWN)
    report = (write_report(out).parent / "report.md").read_text()
    assert "## Advice" in report
    advice = report.split("## Advice")[1].split("\n## ")[0]
    # What happened, from compare.json (means over seeds) and the source run's result.json.
    assert "own-mlm lost to scratch at 80 labels 0.300 vs 0.340" in advice
    assert "and to tfidf at 80 labels 0.300 vs 0.350; at 800 labels 0.410 vs 0.480" in advice
    assert "it saw 1,638,400 tokens of a 750,000-token corpus (23,095 documents; 2.2 epochs)" in advice
    assert "final val perplexity 302.0 vs 366.0 for token frequencies alone (ratio 0.83)" in advice
    assert "learned little beyond token frequencies" in advice
    # What typically helps, tailored: the checkpoint that did better here, more text, more steps, a lower LR.
    assert "Start from a public checkpoint" in advice and "minilm+tapt reached 0.460 at 80 labels" in advice
    assert "More unlabeled text of the task's kind: the corpus had 750,000 tokens." in advice
    assert "More pretraining steps until val perplexity is well below the unigram's: it ran 400 steps" in advice
    assert "A lower fine-tuning LR for own-mlm: it used 0.0005, as high as scratch's 0.0005" in advice
    # The TAPT arm lost only to the baseline at 800 labels; its run continued a checkpoint, so no
    # "start from a public checkpoint" and no LR advice (it used a lower LR than scratch).
    tapt = [f for f in findings(load_comparison(out)) if f.source == "tapt"][0]
    assert tapt.text.startswith("minilm+tapt lost to tfidf at 800 labels 0.440 vs 0.480")
    assert "continued from minilm" in tapt.text and "ratio 0.02" in tapt.text
    assert not any("public checkpoint" in h or "lower fine-tuning LR" in h for h in tapt.helps)
    assert "More pretraining steps: it ran 40 steps, 40,960 tokens (0.038 epochs)." in tapt.helps
    assert [f.source for f in findings(load_comparison(out))] == ["own", "tapt"]   # minilm-full won everywhere


def test_no_advice_when_pretraining_wins_and_was_not_small(tmp_path, make_compare):
    out = make_compare(tmp_path)   # pretrained beats scratch at every budget; its run has no result.json
    assert findings(load_comparison(out)) == []
    assert "## Advice" not in (write_report(out).parent / "report.md").read_text()


def test_a_small_run_is_flagged_even_when_its_arm_wins(tmp_path):
    winning = {**ARMS, "own-mlm": ("own", "pretrained", 1e-4, (0.50, 0.52), (0.60, 0.62))}
    own = [f for f in findings(load_comparison(_compare(tmp_path, {**SMALL_OWN, "val": {"ppl": 340.0}}, winning)))
           if f.source == "own"][0]
    assert "lost" not in own.text and "ratio 0.93" in own.text and "learned little beyond token frequencies" in own.text
    assert not any("lower fine-tuning LR" in h for h in own.helps)


def test_a_short_continued_checkpoint_is_flagged_as_too_short_to_judge(tmp_path):
    out = _compare(tmp_path, SMALL_OWN, tapt_ppl=1292.0)   # a fresh LM head after 40 steps: worse than unigram
    tapt = [f for f in findings(load_comparison(out)) if f.source == "tapt"][0]
    assert "ratio 1.36" in tapt.text and "its LM head still predicts little beyond token frequencies" in tapt.text
    assert "transfer worse than a random init" not in tapt.text
