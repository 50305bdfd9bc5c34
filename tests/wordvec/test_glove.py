"""GloVe: hand-written gradients equal autograd's, the loss decreases, a planted pair ends up similar."""

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from warmstart.wordvec.cooccur import count_cooccurrences
from warmstart.wordvec.glove import GloVe, glove_weights, train_glove
from warmstart.wordvec.vocab import build_vocab, sentences_to_ids, tokenize_corpus


def test_weighting_function():
    x = torch.tensor([1.0, 10.0, 50.0, 100.0, 1000.0])
    np.testing.assert_allclose(glove_weights(x, 100.0, 0.75), [0.01 ** 0.75, 0.1 ** 0.75, 0.5 ** 0.75, 1.0, 1.0],
                               rtol=1e-6)


def test_one_step_matches_autograd_adagrad():
    """A batch of distinct cells: our update equals AdaGrad (accumulators starting at 1) on the
    autograd gradient of 0.5 * sum f(x) (w.c + b + b~ - log x)^2."""
    torch.manual_seed(0)
    model = GloVe(6, 4, seed=1)
    rows, cols = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    x = torch.tensor([3.0, 20.0, 150.0])
    log_x, f_x = x.log(), glove_weights(x, 100.0, 0.75)
    params = [p.clone().requires_grad_(True) for p in (model.W, model.C, model.bw, model.bc)]
    W, C, bw, bc = params
    diff = (W[rows] * C[cols]).sum(1) + bw[rows] + bc[cols] - log_x
    loss = 0.5 * (f_x * diff ** 2).sum()
    loss.backward()
    lr = 0.1
    expected = [p.detach() - lr * p.grad / (1.0 + p.grad ** 2).sqrt() for p in params]
    cost = model.epoch(rows, cols, log_x, f_x, lr=lr, batch_size=3)
    assert abs(cost - loss.item() / 3) < 1e-6
    for got, want in zip((model.W, model.C, model.bw, model.bc), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def _cooc(corpus):
    sents = tokenize_corpus(corpus)
    vocab = build_vocab(sents, min_count=1)
    return vocab, count_cooccurrences(sentences_to_ids(sents, vocab.index()), len(vocab), window=3)


@pytest.mark.parametrize("workers", [1, 2])
def test_loss_decreases_and_planted_pair_is_similar(corpus, workers):
    vocab, X = _cooc(corpus)
    costs = []
    vectors = train_glove(X, d_model=16, epochs=15, x_max=10.0, lr=0.05, batch_size=256, seed=0, workers=workers,
                          on_epoch=lambda epoch, cost, s: costs.append(cost))
    assert costs[-1] < 0.5 * costs[0]
    assert all(b < a for a, b in pairwise(costs))
    idx = vocab.index()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    planted = unit[idx["cat"]] @ unit[idx["dog"]]
    fillers = [unit[idx["cat"]] @ unit[idx[f"w{i}"]] for i in range(40)]
    assert planted > max(fillers), (planted, max(fillers))


def test_training_is_reproducible_for_a_seed(corpus):
    _, X = _cooc(corpus[:50])
    a = train_glove(sp.csr_matrix(X), 8, 2, seed=3)
    b = train_glove(sp.csr_matrix(X), 8, 2, seed=3)
    np.testing.assert_array_equal(a, b)
