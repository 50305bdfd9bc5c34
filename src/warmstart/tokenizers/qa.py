"""Extractive QA inputs: (question, context) -> windows [CLS] question [SEP] context piece [SEP],
with every context position's character span, so a predicted token span maps back to the text.

A context longer than one window is cut into overlapping windows: consecutive windows share
`doc_stride` context tokens (Hugging Face's meaning of the word), so an answer cut by one window's
edge lies whole inside the next. Offsets come from the fast tokenizer (every warmstart tokenizer is
one: trained BPE/WordPiece and local Hugging Face ones alike).
"""

from __future__ import annotations

from dataclasses import dataclass

from warmstart.errors import ConfigError
from warmstart.tokenizers.hf import special_ids


@dataclass
class Window:
    """One model input of a question. Positions [ctx_start, ctx_start + len(offsets)) hold context
    tokens; offsets[i] is the (start, end-exclusive) character span of position ctx_start + i."""

    ids: list[int]
    type_ids: list[int]  # 0 for [CLS] question [SEP], 1 for the context piece and its [SEP] (BERT's segments)
    ctx_start: int
    offsets: list[tuple[int, int]]
    start: int = 0  # training target: answer start position (0 = [CLS] = no answer in this window)
    end: int = 0


def answer_tokens(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """(first, last) index of the context tokens that overlap the characters [start, end), or None
    when no token does (an answer made only of characters the tokenizer drops)."""
    hit = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    return (hit[0], hit[-1]) if hit else None


def trim_span(context: str, start: int, end: int) -> tuple[int, int]:
    """A character span without the whitespace at its ends (byte-level BPE offsets may include
    the space before a word)."""
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    return start, end


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_len: int, doc_stride: int,
                   max_question_len: int, answers: list[tuple[int, int] | None] | None = None
                   ) -> list[list[Window]]:
    """The windows of each (question, context); with `answers` (a character span per question,
    None = unanswerable), each window's start/end target: the answer's first and last token when
    the whole answer lies in the window, else [CLS] (position 0), as BERT trains SQuAD."""
    ids = special_ids(tokenizer)
    cls, sep = ids["cls"], ids["sep"]
    if not questions:
        return []
    q_ids = tokenizer(list(questions), add_special_tokens=False, truncation=True, max_length=max_question_len,
                      return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    c_enc = tokenizer(list(contexts), add_special_tokens=False, return_offsets_mapping=True,
                      return_attention_mask=False, return_token_type_ids=False)
    out = []
    for n, (q, c, offs) in enumerate(zip(q_ids, c_enc["input_ids"], c_enc["offset_mapping"], strict=True)):
        room = max_len - len(q) - 3  # context tokens per window: max_len minus question and 3 specials
        if room <= doc_stride:
            raise ConfigError(f"data.max_len ({max_len}) leaves {room} context tokens per window after a "
                              f"{len(q)}-token question, not more than data.doc_stride ({doc_stride}); raise "
                              "max_len or lower doc_stride / max_question_len")
        span = None
        if answers is not None and answers[n] is not None:
            span = answer_tokens(offs, *answers[n])
        head = [cls, *q, sep]
        windows, start = [], 0
        while True:
            stop = min(start + room, len(c))
            w = Window(ids=head + list(c[start:stop]) + [sep], type_ids=[0] * len(head) + [1] * (stop - start + 1),
                       ctx_start=len(head), offsets=[tuple(o) for o in offs[start:stop]])
            if span is not None and start <= span[0] and span[1] < stop:
                w.start, w.end = len(head) + span[0] - start, len(head) + span[1] - start
            windows.append(w)
            if stop >= len(c):
                break
            start = stop - doc_stride
        out.append(windows)
    return out
