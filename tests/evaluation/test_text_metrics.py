import pytest

from warmstart.evaluation.text_metrics import (
    chrf,
    exact_match,
    rouge_l,
    rouge_l_f1,
    rouge_tokens,
    sentence_chrf,
    text_scores,
)


def test_chrf_matches_sacrebleu_documented_values():
    # values printed by sacrebleu 2.x CHRF() (char_order 6, beta 2, whitespace excluded) in its metric card
    one = chrf(
        ["The relationship between Obama and Netanyahu is not exactly friendly."],
        [["The ties between Obama and Netanyahu are not particularly friendly."]],
    )
    assert one == pytest.approx(61.576379378113785, abs=1e-9)
    two = chrf(
        [
            "The relationship between cats and dogs is not exactly friendly.",
            "a good bookshop is just a genteel black hole that knows how to read.",
        ],
        [
            ["The relationship between dogs and cats is not exactly friendly."],
            ["A good bookshop is just a genteel Black Hole that knows how to read."],
        ],
    )
    assert two == pytest.approx(84.64214891738334, abs=1e-9)


def test_chrf_hand_computed_and_edges():
    # "ab" vs "ac": 1-grams hyp {a,b} ref {a,c} match 1 -> P=R=1/2; 2-grams "ab" vs "ac" match 0 -> P=R=0
    # mean P = mean R = 1/4 -> F2 = 5*(1/16)/(4/4+1/4)... = 0.25
    assert sentence_chrf("ab", "ac") == pytest.approx(25.0)
    assert sentence_chrf("a b c", "abc") == pytest.approx(100.0)  # whitespace is removed
    assert sentence_chrf("", "abc") == 0.0
    assert sentence_chrf("xyz", ["abc", "xyz"]) == pytest.approx(100.0)  # best reference
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        chrf(["a", "b"], ["a"])


def test_rouge_l_hand_computed():
    # LCS("the cat sat on the mat", "the cat is on the mat") = the cat on the mat = 5; P = R = 5/6
    assert rouge_l_f1("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # P = 2/2, R = 2/4 -> F1 = 2/3
    assert rouge_l_f1("a b", "a x b y") == pytest.approx(2 / 3)
    assert rouge_l_f1("", "a") == 0.0
    assert rouge_tokens("שלום, עולם! x_y") == ["שלום", "עולם", "x", "y"]
    assert rouge_l(["a b", "q"], [["z", "a b"], "q"]) == pytest.approx(100.0)


def test_exact_match_and_text_scores():
    assert exact_match(" Genesis  1 ", "Genesis 1") == 1.0
    assert exact_match("genesis 1", "Genesis 1") == 0.0
    s = text_scores(["yes", "no"], ["yes", "maybe"])
    assert s["exact_match"] == 0.5
    assert 0 < s["chrf"] < 100 and 0 <= s["rouge_l"] <= 50.0
