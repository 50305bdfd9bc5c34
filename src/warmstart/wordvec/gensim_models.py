"""word2vec and fastText via gensim, with a training loss that is correct per epoch.

gensim's own loss (`get_latest_training_loss`) is unreliable in two ways. Each training job copies
the model's `running_training_loss` into a float32 C variable, adds the job's loss to it and writes
it back, so (1) the running total is accumulated in float32 across the whole run and stops growing
once it is large (adding ~1 to ~1e8 is lost), and (2) with several workers two jobs read the same
starting value and the later write discards the other job's loss. Here `running_training_loss`
is a thread-local property: every job starts from 0, its (small, so precise) float32 total is read
back when the job ends and added to a float64 per-epoch sum under a lock. The C code is unchanged,
so training is as fast as calling gensim directly (benchmarks/wordvec_speed.py measures it).

Both models train on the in-memory word lists of `vocab.tokenize_corpus` (words interned, so a list
costs a pointer per word). On 2 cores that measured ~10% faster than re-tokenizing a streamed
iterable each epoch (the producer thread competes with the workers for the GIL). gensim's
corpus_file mode was ~5% faster still, but it bypasses the per-job hook, and its per-thread epoch
totals would again be float32 sums.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from gensim.models import FastText, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

from warmstart.errors import DataError
from warmstart.wordvec.vocab import Vocab

if TYPE_CHECKING:
    from warmstart.config.schema import FastTextObjective, Word2VecObjective


class _PerJobLoss:
    """Mixin for gensim's Word2Vec/FastText: exact per-epoch loss sums across worker threads."""

    def _job_state(self):
        state = self.__dict__.get("_loss_state")
        if state is None:  # created lazily: gensim's __init__ assigns running_training_loss first
            state = self.__dict__["_loss_state"] = (threading.local(), threading.Lock())
        return state

    @property
    def running_training_loss(self) -> float:
        return getattr(self._job_state()[0], "loss", 0.0)

    @running_training_loss.setter
    def running_training_loss(self, value: float) -> None:
        self._job_state()[0].loss = value

    def _do_train_job(self, sentences, alpha, inits):
        local, lock = self._job_state()
        local.loss = 0.0  # this job's loss only; the C code adds to it in float32
        tally, raw_tally = super()._do_train_job(sentences, alpha, inits)
        with lock:
            self.epoch_loss += local.loss  # float64 sum of per-job totals
            self.epoch_words += tally
        return tally, raw_tally

    def get_latest_training_loss(self) -> float:
        """Total loss of all epochs so far (float64 sum of per-job float32 sums)."""
        return self.total_loss


class LossTrackingWord2Vec(_PerJobLoss, Word2Vec):
    """gensim Word2Vec whose loss is summed per job (see the module docstring)."""

    epoch_loss = 0.0
    epoch_words = 0
    total_loss = 0.0


class LossTrackingFastText(_PerJobLoss, FastText):
    """gensim FastText with the same bookkeeping (gensim computes no fastText loss: it stays 0)."""

    epoch_loss = 0.0
    epoch_words = 0
    total_loss = 0.0


class _EpochLog(CallbackAny2Vec):
    """Times each epoch and hands (epoch, loss per trained word, raw words/s, seconds) to `on_epoch`."""

    def __init__(self, raw_words: int, has_loss: bool,
                 on_epoch: Callable[[int, float | None, float, float], None] | None):
        self.raw_words, self.has_loss, self.on_epoch = raw_words, has_loss, on_epoch
        self.epoch, self.t0 = 0, 0.0

    def on_epoch_begin(self, model):
        model.epoch_loss, model.epoch_words = 0.0, 0
        self.t0 = time.perf_counter()

    def on_epoch_end(self, model):
        # gensim calls this after every worker has finished (and reported) its last job of the epoch.
        seconds = time.perf_counter() - self.t0
        self.epoch += 1
        model.total_loss += model.epoch_loss
        # Loss per trained word: the summed negative-sampling loss (-log sigma(pos) - sum log sigma(-neg))
        # divided by the center words actually trained (after frequent-word downsampling).
        loss = model.epoch_loss / max(model.epoch_words, 1) if self.has_loss else None
        if self.on_epoch is not None:
            self.on_epoch(self.epoch, loss, self.raw_words / max(seconds, 1e-9), seconds)


def gensim_params(cfg: Word2VecObjective | FastTextObjective, seed: int) -> dict:
    """gensim constructor arguments for a Word2VecObjective or FastTextObjective."""
    params = dict(
        vector_size=cfg.d_model, window=cfg.window, min_count=cfg.min_count, max_final_vocab=cfg.max_vocab,
        sg=1 if cfg.arch == "skipgram" else 0, hs=0, negative=cfg.negative, ns_exponent=cfg.ns_exponent,
        sample=cfg.sample, alpha=cfg.lr, min_alpha=cfg.min_lr, epochs=cfg.epochs, workers=cfg.workers, seed=seed,
    )
    if cfg.kind == "fasttext":
        params.update(min_n=cfg.min_n, max_n=cfg.max_n, bucket=cfg.bucket)
    return params


def train_gensim(cfg: Word2VecObjective | FastTextObjective, sentences: list[list[str]], seed: int,
                 on_epoch: Callable[[int, float | None, float, float], None] | None = None,
                 ) -> tuple[np.ndarray, Vocab, dict]:
    """Train word2vec or fastText on word lists; returns (vectors (V, D) float32, vocab, facts).

    on_epoch(epoch, loss, words_per_s, seconds) is called after each epoch; loss is None for fastText
    (and for word2vec with compute_loss off).
    Vocabulary rows are gensim's: descending count, then first seen.
    """
    cls = LossTrackingFastText if cfg.kind == "fasttext" else LossTrackingWord2Vec
    has_loss = cfg.kind == "word2vec" and cfg.compute_loss  # gensim's fastText kernels compute no loss
    model = cls(**gensim_params(cfg, seed), **({"compute_loss": True} if has_loss else {}))
    t0 = time.perf_counter()
    model.build_vocab(sentences)
    vocab_s = time.perf_counter() - t0
    if not model.wv.index_to_key:
        raise DataError(f"corpus: no word occurs min_count={cfg.min_count} times; nothing to train")
    log = _EpochLog(model.corpus_total_words, has_loss, on_epoch)
    model.train(sentences, total_examples=model.corpus_count, total_words=model.corpus_total_words,
                epochs=model.epochs, callbacks=[log], compute_loss=has_loss)
    # For fastText, wv.vectors are the full word vectors (own vector + mean of its n-gram vectors).
    vectors = np.ascontiguousarray(model.wv.vectors, dtype=np.float32)
    counts = [int(model.wv.get_vecattr(w, "count")) for w in model.wv.index_to_key]
    facts = {"vocab_s": vocab_s, "train_s": model.total_train_time, "raw_words": int(model.corpus_total_words),
             "loss_total": model.total_loss if has_loss else None}
    return vectors, Vocab(list(model.wv.index_to_key), counts), facts
