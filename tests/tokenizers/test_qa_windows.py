"""Extractive-QA windows: layout, overlap (doc_stride), coverage of every context token, and
answer spans that map back to the exact characters on tricky strings (accents, non-Latin
scripts, runs of whitespace, punctuation glued to words), with our BPE and WordPiece tokenizers."""

import pytest

from warmstart.config.schema import BPETokenizer, WordPieceTokenizer
from warmstart.errors import ConfigError
from warmstart.tokenizers import build_tokenizer, special_ids
from warmstart.tokenizers.qa import answer_tokens, encode_windows, trim_span

CONTEXTS = [
    "Zürich  café,   naïve résumé! The river (Aare) ran high   after rain.",
    "ראש הממשלה  ביקר   בפריז, ונפגש עם נשיא צרפת.",
    "Price: $3.50/kg -- \"quoted\" text... and e-mail@example.com; ok?",
    "Ünïcödé\tTabs\u00a0and\u3000wide spaces, 東京タワー is tall.",
]
# (context index, answer) pairs: each answer occurs once in its context.
ANSWERS = [(0, "café"), (0, "résumé"), (0, "(Aare)"), (0, "high   after"), (1, "בפריז"), (1, "נשיא צרפת"),
           (2, "$3.50/kg"), (2, "\"quoted\""), (2, "e-mail@example.com"), (3, "Ünïcödé"), (3, "東京タワー"),
           (3, "wide spaces")]
QUESTIONS = ["Which thing is named here?", "מה?"]


@pytest.fixture(scope="module", params=["bpe", "wordpiece"])
def tokenizer(request):
    texts = CONTEXTS * 3 + QUESTIONS * 3
    cfg = (BPETokenizer(vocab_size=300, min_frequency=1) if request.param == "bpe"
           else WordPieceTokenizer(vocab_size=200))
    return build_tokenizer(cfg, texts)


def _windows(tokenizer, max_len, doc_stride, answers=None):
    qs = [QUESTIONS[n % 2] for n in range(len(ANSWERS))]
    cs = [CONTEXTS[c] for c, _ in ANSWERS]
    return encode_windows(tokenizer, qs, cs, max_len, doc_stride, max_question_len=6, answers=answers)


@pytest.mark.parametrize("max_len, doc_stride", [(64, 4), (20, 5), (16, 2)])
def test_answer_targets_map_back_to_the_exact_characters(tokenizer, max_len, doc_stride):
    spans = [(CONTEXTS[c].index(a), CONTEXTS[c].index(a) + len(a)) for c, a in ANSWERS]
    for (c, answer), span, windows in zip(ANSWERS, spans, _windows(tokenizer, max_len, doc_stride, spans), strict=True):
        context = CONTEXTS[c]
        hits = [w for w in windows if w.start > 0]
        full = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        first, last = answer_tokens([tuple(o) for o in full], *span)
        # An answer of at most doc_stride + 1 tokens always lies whole in some window (longer ones may not).
        assert hits or last - first > doc_stride, f"{answer!r} lies whole in no window"
        for w in hits:
            lo, hi = w.offsets[w.start - w.ctx_start][0], w.offsets[w.end - w.ctx_start][1]
            # The answer's tokens cover exactly its characters (whitespace at the ends trimmed).
            assert context[slice(*trim_span(context, lo, hi))] == answer
        for w in windows:
            assert len(w.ids) <= max_len and len(w.type_ids) == len(w.ids)
            assert w.start <= w.end and (w.start == 0) == (w.end == 0)


@pytest.mark.parametrize("max_len, doc_stride", [(20, 5), (16, 2), (16, 0)])
def test_windows_cover_every_context_token_with_the_stride_as_overlap(tokenizer, max_len, doc_stride):
    ids = special_ids(tokenizer)
    for (c, _), windows in zip(ANSWERS, _windows(tokenizer, max_len, doc_stride), strict=True):
        full = tokenizer(CONTEXTS[c], add_special_tokens=False, return_offsets_mapping=True)
        offsets = [tuple(o) for o in full["offset_mapping"]]
        joined, prev = [], None
        for w in windows:
            q_len = w.ctx_start - 2
            assert w.ids[0] == ids["cls"] and w.ids[q_len + 1] == ids["sep"] and w.ids[-1] == ids["sep"]
            assert w.type_ids == [0] * w.ctx_start + [1] * (len(w.offsets) + 1)
            if prev is not None:  # consecutive windows share exactly doc_stride context tokens
                assert prev[len(prev) - doc_stride:] == w.offsets[:doc_stride] if doc_stride else True
                joined += w.offsets[doc_stride:]
            else:
                joined += w.offsets
            prev = w.offsets
        assert joined == offsets
        assert len(windows) > 1 or len(offsets) <= max_len - (windows[0].ctx_start + 1)


def test_window_too_small_for_the_stride_is_a_config_error(tokenizer):
    with pytest.raises(ConfigError, match="doc_stride"):
        encode_windows(tokenizer, ["Which thing is named here?"], [CONTEXTS[0]], 12, 8, max_question_len=6)


def test_answer_tokens_and_trim():
    offsets = [(0, 3), (3, 4), (5, 9), (9, 9)]  # "abc" "," "defg" and an empty (dropped) token
    assert answer_tokens(offsets, 1, 2) == (0, 0)  # inside one token
    assert answer_tokens(offsets, 2, 6) == (0, 2)  # across tokens
    assert answer_tokens(offsets, 4, 5) is None  # only the space between tokens
    assert trim_span("  ab c  ", 0, 8) == (2, 6) and trim_span("   ", 0, 3) == (3, 3)
