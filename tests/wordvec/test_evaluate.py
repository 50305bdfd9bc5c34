"""Evaluation math on hand-made benchmarks: Spearman on known ranks, 3CosAdd on known answers,
OOV counting, restrict_vocab, and the batched analogy search against a plain loop."""

import numpy as np
import pytest

from warmstart.errors import DataError
from warmstart.wordvec.evaluate import (
    evaluate_analogies,
    evaluate_vectors,
    format_eval_table,
    lookup_index,
    read_analogies,
    read_word_pairs,
    unit_rows,
)


def _angle(deg: float, scale: float = 1.0) -> list[float]:
    return [scale * np.cos(np.radians(deg)), scale * np.sin(np.radians(deg))]


def test_similarity_spearman_oov_and_case(tmp_path):
    words = ["a", "b", "c", "d", "e"]
    vectors = np.array([_angle(0, 2.0), _angle(10), _angle(30, 5.0), _angle(60), _angle(100)])  # norms must not matter
    pairs = tmp_path / "pairs.tsv"
    # cosine order ab > ac > ad > ae; human order ab > ad > ac > ae: one adjacent swap of 4 ranks,
    # so rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60 = 0.8.
    pairs.write_text("# comment\nA\tb\t4\na\tc\t2\na\td\t3\na\te\t1\na\tzzz\t5\n", encoding="utf-8")
    out = evaluate_vectors(vectors, words, paths={"wordsim353": pairs, "simlex999": None, "analogy": None})
    assert out == {"wordsim353": {"spearman": pytest.approx(0.8), "n_pairs": 4, "oov": 1}}


def test_analogy_known_answers_exclusion_oov_and_restriction(tmp_path):
    words = ["man", "woman", "king", "queen", "rare"]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [0, 1, 1.1]], dtype=np.float32)
    questions = tmp_path / "q.txt"
    questions.write_text(
        ": family\n"
        "Man King Woman Queen\n"    # queen: correct
        "man man woman woman\n"     # the best match is c itself, which is excluded: wrong
        "man king woman prince\n"   # prince is not in the vocabulary: oov
        "man king woman rare\n"     # rare is outside restrict_vocab=4: oov
        ": gram2-opposite\n"
        "king queen man woman\n",   # woman: correct
        encoding="utf-8")
    out = evaluate_analogies(unit_rows(vectors), lookup_index(words), read_analogies(questions), restrict_vocab=4)
    assert out["n"] == 3 and out["oov"] == 2 and out["restrict_vocab"] == 4
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["semantic"] == {"accuracy": 0.5, "n": 2}
    assert out["syntactic"] == {"accuracy": 1.0, "n": 1}


def test_batched_analogies_match_a_plain_loop():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    questions = [("gram-x" if k % 2 else "family", *(f"w{i}" for i in rng.integers(0, 60, 4))) for k in range(300)]
    out = evaluate_analogies(unit_rows(vectors), lookup_index(words), questions, restrict_vocab=50, batch_size=7)

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    correct = answered = 0
    for _, *q in questions:
        a, b, c, d = (int(w[1:]) for w in q)
        if max(a, b, c, d) >= 50:
            continue
        answered += 1
        best, best_score = None, -np.inf
        for cand in range(50):
            if cand in (a, b, c):
                continue
            score = unit[cand] @ (unit[b] - unit[a] + unit[c]) / np.linalg.norm(unit[b] - unit[a] + unit[c])
            if score > best_score:
                best, best_score = cand, score
        correct += best == d
    assert out["n"] == answered and out["oov"] == 300 - answered
    assert out["accuracy"] == pytest.approx(correct / answered)


def test_bundled_benchmarks_parse():
    from warmstart.wordvec.evaluate import BENCHMARK_FILES, benchmark_path

    assert len(read_word_pairs(benchmark_path(BENCHMARK_FILES["wordsim353"]))) == 353
    assert len(read_word_pairs(benchmark_path(BENCHMARK_FILES["simlex999"]))) == 999
    assert len(read_analogies(benchmark_path(BENCHMARK_FILES["analogy"]))) == 19544


def test_full_evaluation_and_table_on_random_vectors():
    words = ["king", "queen", "man", "woman", "cat", "dog", "tiger", "old", "new"]
    out = evaluate_vectors(np.random.default_rng(0).normal(size=(len(words), 4)), words)
    assert set(out) == {"wordsim353", "simlex999", "analogy"}
    assert out["wordsim353"]["n_pairs"] + out["wordsim353"]["oov"] == 353
    assert out["analogy"]["n"] + out["analogy"]["oov"] == 19544
    table = format_eval_table({"random": out})
    assert "random" in table and "WordSim353" in table


def test_malformed_benchmark_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\t1\nonly-one-field\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv: line 2"):
        read_word_pairs(bad)
    with pytest.raises(DataError, match="rows but the vocabulary"):
        evaluate_vectors(np.zeros((2, 3)), ["a"])
