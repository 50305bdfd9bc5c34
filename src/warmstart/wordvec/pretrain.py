"""`warmstart pretrain` for word vectors: documents + an objective section in, a run directory out.

`pretrain(cfg)` is what workflows.pretrain calls for a word2vec/fasttext/glove objective: it reads
the same corpus sources as the text pipeline (data.kind corpus or demo_corpus), then `train` fits
the vectors with the objective's trainer (TRAINERS, keyed like the schema's WordVecObjective kinds).

Run directory (plus config.json and result.json from `pretrain`):
  vectors.safetensors, vocab.txt   the word vectors ("vectors", (V, D) float32), most frequent word first
  metrics.jsonl                    one line per epoch: step/epoch, split, loss, words_per_s, elapsed_s
  eval.json                        WordSim353 / SimLex-999 / analogy scores (evaluate_vectors)
  backbone.json                    the embedding backbone these vectors make (kind "embedding")
  tokenizer/                       a word-level tokenizer: 5 special tokens, then vocab.txt's words
  checkpoints/final/               backbone.safetensors + backbone.json + manifest.json, so a fine-tune
                                   with `init: <run>` loads the table like any pretrained backbone
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError

from warmstart.config.schema import (
    EmbeddingModel,
    FastTextObjective,
    GloVeObjective,
    PretrainConfig,
    Word2VecObjective,
    WordVecObjective,
)
from warmstart.data.word_vectors import VECTORS_FILE, VOCAB_FILE, load_vectors, save_vectors
from warmstart.errors import ConfigError, DataError
from warmstart.wordvec.evaluate import evaluate_vectors
from warmstart.wordvec.vocab import build_vocab, sentences_to_ids, tokenize_corpus, word_tokenizer

_OBJECTIVES = {"word2vec": Word2VecObjective, "fasttext": FastTextObjective, "glove": GloVeObjective}


def parse_objective(cfg: WordVecObjective | dict) -> Word2VecObjective | FastTextObjective | GloVeObjective:
    """An objective section from a dict (validated) or an already-built section object."""
    if isinstance(cfg, (Word2VecObjective, FastTextObjective, GloVeObjective)):
        return cfg
    if not isinstance(cfg, dict) or cfg.get("kind") not in _OBJECTIVES:
        kind = cfg.get("kind") if isinstance(cfg, dict) else type(cfg).__name__
        raise ConfigError(f"objective.kind: expected one of {', '.join(_OBJECTIVES)}, got {kind!r}")
    try:
        return TypeAdapter(_OBJECTIVES[cfg["kind"]]).validate_python(cfg)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"objective.{field}: {err['msg']}" if field else f"objective: {err['msg']}") from None


def pretrain(cfg: PretrainConfig, resume: bool = False, overwrite: bool = False, say=print) -> Path:
    """`warmstart pretrain` with a word-vector objective (cfg: a validated PretrainConfig); returns the run dir.

    gensim cannot continue a run from the middle, so --resume returns a finished run as it is and
    starts an unfinished one over."""
    from warmstart import data
    from warmstart.checkpoint.io import write_json_atomic
    from warmstart.runs import open_run_dir, write_config

    run_dir, _ = open_run_dir(cfg, resume, overwrite)
    if resume and (run_dir / "result.json").is_file():
        say(f"{run_dir}: already complete")
        return run_dir
    texts = data.load_corpus(cfg.data)  # the same documents a masked-LM run on this data section reads
    write_config(run_dir, cfg, "pretrain", {"objective": cfg.objective.kind})
    say(f"corpus: {len(texts):,} documents -> {cfg.objective.kind} vectors")
    summary = train(cfg.objective, texts, run_dir, say=say, seed=cfg.run.seed, backbone=cfg.model)
    write_json_atomic(run_dir / "result.json", summary)
    say(f"pretrain done: {summary['vocab_size']:,} words x {summary['d_model']}, "
        f"{summary['words_per_s']:,.0f} words/s, {summary['total_s']:.1f}s -> {run_dir}")
    if summary["eval"] is not None:
        from warmstart.wordvec.evaluate import format_eval_table

        say(format_eval_table({run_dir.name: summary["eval"]}))
    return run_dir


def train(cfg: WordVecObjective | dict, texts: list[str], run_dir: str | Path, say: Callable[[str], None] | None = None,
          seed: int = 0, backbone: EmbeddingModel | None = None) -> dict:
    """Train word vectors of the kind `cfg` names on `texts` and write `run_dir` (see module docstring).

    Args:
        cfg: a Word2VecObjective / FastTextObjective / GloVeObjective, or a dict for one.
        texts: the documents (e.g. the corpus loader's output).
        say: called with one progress line per epoch (None = silent).
        seed: used when cfg.seed is null (pass run.seed).
        backbone: the kind=embedding backbone the vectors are saved into (None = the mean encoder).

    Returns a summary: kind, vocab_size, d_model, n_docs, n_words, per-epoch losses, words/s, timings
    and the eval.json scores.
    """
    cfg = parse_objective(cfg)
    seed = cfg.seed if cfg.seed is not None else seed
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # 1. Words: lowercase + regex split, long documents cut for gensim (vocab.py).
    sentences = tokenize_corpus(texts, cfg.lowercase)
    n_words = sum(map(len, sentences))
    if n_words == 0:
        raise DataError("corpus: the documents contain no words")
    tokenize_s = time.perf_counter() - t_start

    # 2. Train; every epoch appends one line to metrics.jsonl as soon as it ends.
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.write_text("", encoding="utf-8")
    epochs: list[dict] = []

    def on_epoch(epoch: int, loss: float | None, words_per_s: float, seconds: float) -> None:
        record = {"step": epoch, "epoch": epoch, "split": "train", "loss": loss, "words_per_s": round(words_per_s, 1),
                  "epoch_s": round(seconds, 4), "elapsed_s": round(time.perf_counter() - t_start, 4)}
        epochs.append(record)
        with open(metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if say is not None:
            shown = "n/a" if loss is None else f"{loss:.4f}"
            say(f"{cfg.kind} epoch {epoch}/{cfg.epochs}: loss {shown}, {words_per_s:,.0f} words/s")

    vectors, vocab, facts = TRAINERS[cfg.kind](cfg, sentences, n_words, seed, on_epoch)
    train_s = time.perf_counter() - t_start

    # 3. Artifacts: vectors + vocab, the word tokenizer, the backbone checkpoint, then evaluation.
    save_vectors(run_dir, vectors, vocab.words)
    word_tokenizer(vocab.words, cfg.lowercase).save_pretrained(str(run_dir / "tokenizer"))
    spec = _save_backbone(run_dir, vectors, vocab.words, cfg.kind, backbone)
    scores = None
    if cfg.evaluate:
        from warmstart.checkpoint.io import write_json_atomic

        scores = evaluate_vectors(vectors, vocab.words, restrict_vocab=cfg.analogy_vocab)
        write_json_atomic(run_dir / "eval.json", scores)
    return {
        "kind": cfg.kind, "vocab_size": len(vocab), "d_model": int(vectors.shape[1]), "n_docs": len(texts),
        "n_words": n_words, "epochs": cfg.epochs, "losses": [e["loss"] for e in epochs],
        "words_per_s": n_words * cfg.epochs / max(sum(e["epoch_s"] for e in epochs), 1e-9),
        "tokenize_s": round(tokenize_s, 4), **{k: v for k, v in facts.items() if k != "raw_words"},
        "total_s": round(train_s, 4), "backbone": spec, "eval": scores,
    }


def _train_gensim(cfg: Word2VecObjective | FastTextObjective, sentences: list[list[str]], n_words: int, seed: int,
                  on_epoch):
    """word2vec / fastText by gensim (imported only here: it is a heavy import)."""
    from warmstart.wordvec.gensim_models import train_gensim

    return train_gensim(cfg, sentences, seed, on_epoch)


def _train_glove(cfg: GloVeObjective, sentences: list[list[str]], n_words: int, seed: int, on_epoch):
    """Vocabulary, co-occurrence counts, then AdaGrad epochs; words/s = corpus words / epoch time."""
    from warmstart.wordvec.cooccur import count_cooccurrences
    from warmstart.wordvec.glove import train_glove

    t0 = time.perf_counter()
    vocab = build_vocab(sentences, cfg.min_count, cfg.max_vocab)
    if len(vocab) == 0:
        raise DataError(f"corpus: no word occurs min_count={cfg.min_count} times; nothing to train")
    cooc = count_cooccurrences(sentences_to_ids(sentences, vocab.index()), len(vocab), cfg.window, cfg.symmetric)
    cooccur_s = time.perf_counter() - t0

    vectors = train_glove(cooc, cfg.d_model, cfg.epochs, cfg.x_max, cfg.alpha, cfg.lr, cfg.batch_size, seed,
                          cfg.workers, on_epoch=lambda ep, cost, s: on_epoch(ep, cost, n_words / max(s, 1e-9), s))
    return vectors, vocab, {"cooccur_s": round(cooccur_s, 4), "nonzero_cells": int(cooc.nnz)}


def _save_backbone(run_dir: Path, vectors: np.ndarray, words: list[str], kind: str,
                   model: EmbeddingModel | None) -> dict:
    """checkpoints/final (an EmbeddingBackbone over the word tokenizer's ids, its table = the vectors;
    a cnn/bilstm encoder starts random) + backbone.json."""
    import torch

    from warmstart.checkpoint.io import save_checkpoint, write_json_atomic
    from warmstart.models import backbone_json
    from warmstart.models.embedding import EmbeddingBackbone

    model = model or EmbeddingModel()
    torch.manual_seed(0)  # the encoder's random init (cnn/bilstm) is the same for every run
    backbone, _ = EmbeddingBackbone.from_vectors(
        vectors, words, encoder=model.encoder, d_hidden=model.d_hidden, kernel_sizes=model.kernel_sizes,
        freeze_embeddings=model.freeze_embeddings, dropout=model.dropout)
    spec = backbone_json(backbone)
    save_checkpoint(run_dir / "checkpoints", "final", {"backbone": backbone.state_dict()}, {"backbone": spec})
    write_json_atomic(run_dir / "backbone.json", {
        **spec, "word_vectors": {"objective": kind, "vectors": VECTORS_FILE, "vocab": VOCAB_FILE,
                                 "tokenizer": "tokenizer", "checkpoint": "checkpoints/final"}})
    return spec


def evaluate_run(run_dir: str | Path, restrict_vocab: int = 30000) -> dict:
    """evaluate_vectors on a word-vector run directory (or a word2vec .txt/.bin file)."""
    vectors, words = load_vectors(run_dir)
    return evaluate_vectors(vectors, words, restrict_vocab=restrict_vocab)


# objective kind -> trainer(cfg, sentences, n_words, seed, on_epoch) -> (vectors, vocab, facts).
# The keys equal the kinds of config.schema.WordVecObjective (tests/config/test_schema.py checks).
TRAINERS: dict[str, Callable] = {"word2vec": _train_gensim, "fasttext": _train_gensim, "glove": _train_glove}

__all__ = ["TRAINERS", "pretrain", "train", "parse_objective", "evaluate_run"]
