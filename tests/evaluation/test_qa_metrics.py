"""SQuAD metrics against hand-computed cases: the official normalization, token F1, best over
references, no-answer scoring, and the v2 threshold search."""

import math

import pytest
import torch

from warmstart.evaluation.metrics import QAMetrics, squad_exact, squad_f1, squad_normalize, squad_scores
from warmstart.types import StepOutput


@pytest.mark.parametrize("raw, norm", [
    ("The  Cat!", "cat"),
    ("an apple, a pear & THE plum.", "apple pear plum"),
    ("Theory of the atom", "theory of atom"),  # articles only as whole words
    ("Anne\tand\n\nAndy", "anne and andy"),
    ("U.S.A.", "usa"),  # punctuation is removed, not replaced by a space
    ("«Zürich» café", "«zürich» café"),  # only ASCII punctuation, as the official script
    ("a-the an", "athe"),  # punctuation goes first, so "a-the" is the word "athe"
    ("", ""),
])
def test_official_normalization(raw, norm):
    assert squad_normalize(raw) == norm


def test_token_f1_and_exact_by_hand():
    # gold -> [cat, sat, on, mat], pred -> [cat, on, mat]: 3 shared; P = 1, R = 3/4, F1 = 6/7
    assert squad_f1("the cat sat on the mat", "Cat on the mat.") == pytest.approx(6 / 7)
    # repeated words count as often as both have them: gold [x b b], pred [b b b]: 2 shared, P = R = 2/3
    assert squad_f1("x b b", "b b b") == pytest.approx(2 / 3)
    assert squad_f1("cat", "dog") == 0.0
    assert squad_exact("The Cat.", "cat") == 1.0 and squad_exact("cat", "cats") == 0.0


def test_best_over_references_and_no_answer():
    assert squad_scores(["1903", "in 1903", "the year 1903"], "year 1903") == (1.0, 1.0)
    em, f1 = squad_scores(["Marie Curie", "Curie"], "Pierre Curie")
    assert em == 0.0 and f1 == pytest.approx(max(0.5, 2 * 0.5 * 1 / 1.5)) == pytest.approx(2 / 3)
    assert squad_scores([], "") == (1.0, 1.0)  # unanswerable, answered "no answer"
    assert squad_scores([], "Curie") == (0.0, 0.0)
    assert squad_scores(["Curie"], "") == (0.0, 0.0)
    assert squad_scores(["the"], "a") == (1.0, 1.0)  # both normalize to nothing


def _metrics(rows, threshold=0.0, unanswerable=True, fit=False):
    m = QAMetrics(threshold, unanswerable, fit=fit, on_fit=fitted.append)
    out = StepOutput(loss=torch.tensor(1.0), n_items=len(rows), scores=torch.tensor(rows, dtype=torch.float64))
    m.update(out)
    return m.compute()


fitted: list[float] = []

# (has answer, span exact, span F1, no-answer margin)
ROWS = [
    [1.0, 1.0, 1.0, -2.0],  # answered right, margin well below 0
    [1.0, 0.0, 0.5, 1.0],   # its span is half right, but the null wins at threshold 0
    [0.0, 0.0, 0.0, 3.0],   # unanswerable, null wins: right
    [0.0, 0.0, 0.0, -1.0],  # unanswerable, but a span wins: wrong
]


def test_scores_at_a_threshold_by_hand():
    m = _metrics(ROWS, threshold=0.0)
    # q1: 1/1, q2: null -> 0/0, q3: null -> 1/1, q4: span -> 0/0
    assert m["exact"] == pytest.approx(2 / 4) and m["f1"] == pytest.approx(2 / 4)
    assert m["has_ans_exact"] == 0.5 and m["has_ans_f1"] == 0.5
    assert m["no_ans_exact"] == m["no_ans_f1"] == 0.5
    m = _metrics(ROWS, threshold=2.0)  # q2 answered now: f1 = (1 + 0.5 + 1 + 0) / 4
    assert m["f1"] == pytest.approx(2.5 / 4) and m["exact"] == pytest.approx(2 / 4)


def test_best_threshold_search_by_hand():
    # margins ascending: -2 (q1), -1 (q4), 1 (q2), 3 (q3). Null everywhere: 2 (the two unanswerable).
    # F1 after switching q1: 3, +q4: 2, +q2: 2.5, +q3: 1.5 -> best 3 at threshold -2.
    m = _metrics(ROWS, threshold=0.0)
    assert m["best_f1"] == pytest.approx(3 / 4) and m["best_threshold"] == -2.0
    assert m["best_exact"] == pytest.approx(3 / 4)
    fitted.clear()
    m = _metrics(ROWS, threshold=0.0, fit=True)  # validation: everything scored at the fitted threshold
    assert fitted == [-2.0] and m["threshold"] == -2.0 and m["f1"] == pytest.approx(3 / 4)


def test_v1_never_answers_no_answer():
    rows = [[1.0, 1.0, 1.0, -math.inf], [1.0, 0.0, 0.25, -math.inf]]
    m = _metrics(rows, threshold=math.inf, unanswerable=False)
    assert m["f1"] == pytest.approx(1.25 / 2) and m["exact"] == 0.5
    assert "best_f1" not in m and "has_ans_f1" not in m and "threshold" not in m


def test_training_outputs_carry_loss_only():
    m = QAMetrics(0.0, True)
    m.update(StepOutput(loss=torch.tensor(2.0), n_items=3))
    assert m.compute()["loss"] == 2.0


def test_reduce_packs_and_unpacks_the_rows(monkeypatch):
    """Under DDP each rank's rows travel in its own slot of one summed vector; here rank 1 of 2,
    with the other rank's 3 rows simulated by the sum."""
    import torch.distributed as dist

    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    other = [[0.0, 0.0, 0.0, 3.0], [1.0, 1.0, 1.0, -2.0], [1.0, 0.0, 0.5, 1.0]]
    calls = []

    def sum_over_ranks(values):
        calls.append(list(values))
        if len(calls) == 1:  # the sizes: the other rank adds its 3 rows at slot 0
            return [values[0] + 3, values[1]]
        flat = [x for row in other for x in row] + [0.0] * 4 + [2.0, 3]  # other's rows, loss sum, item count
        return [a + b for a, b in zip(values, flat, strict=True)]

    m = QAMetrics(0.0, True)
    m.update(StepOutput(loss=torch.tensor(1.0), n_items=1, scores=torch.tensor([[0.0, 0.0, 0.0, -1.0]],
                                                                               dtype=torch.float64)))
    m.reduce(sum_over_ranks)
    assert calls[0] == [0.0, 1.0]
    assert m.rows == [tuple(r) for r in other] + [(0.0, 0.0, 0.0, -1.0)]
    assert m.loss_sum == 3.0 and m.n == 4
    assert m.compute()["f1"] == pytest.approx(2 / 4)  # the hand-computed case above, all four questions
