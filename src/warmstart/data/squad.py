"""Extractive QA data: SQuAD-format JSON (v1.1, and v2.0 with unanswerable questions) -> one record
per question {"id", "question", "context", "answers": [{"text", "start"}], "label", "text"}.

`answers` are the reference spans (character `start` into `context`, end = start + len(text)); an
unanswerable question (v2 `is_impossible: true`) has none. Every problem is a one-line DataError
naming the file and the question id: a missing field, or an answer whose text is not at its
`answer_start` in the context. The embedded Hebrew QA set (questions templated from the Hebrew
Treebank's gold named entities) is built here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from warmstart.data.text import _jsonl_rows, read_text_file
from warmstart.errors import DataError


def qa_record(qid: str, question: str, context: str, answers: list[dict]) -> dict:
    """A QA record. `label` (the first reference, "" for no answer) and `text` (what a tokenizer
    trained from scratch learns from) keep the fields every labeled record has."""
    return {"id": qid, "question": question, "context": context, "answers": answers,
            "label": answers[0]["text"] if answers else "", "text": f"{question}\n{context}"}


def _field(path: Path, where: str, obj: dict, name: str, kind: type):
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise DataError(f"{path}: {where}: field '{name}' must be a {kind.__name__}")
    return value


def read_squad(path: str | Path) -> list[dict]:
    """Records of a SQuAD-format file: {"data": [{"paragraphs": [{"context", "qas": [{"id",
    "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}. A question without
    answers is allowed only when it is marked is_impossible (v2)."""
    path = Path(path)
    try:
        doc = json.loads(read_text_file(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    records, seen = [], set()
    for a, article in enumerate(_field(path, "top level", doc, "data", list)):
        for p, para in enumerate(_field(path, f"data[{a}]", article, "paragraphs", list)):
            context = _field(path, f"data[{a}].paragraphs[{p}]", para, "context", str)
            for q, qa in enumerate(_field(path, f"data[{a}].paragraphs[{p}]", para, "qas", list)):
                qid = str(qa.get("id", f"data[{a}].paragraphs[{p}].qas[{q}]")) if isinstance(qa, dict) else "?"
                where = f"question {qid}"
                question = _field(path, where, qa, "question", str)
                impossible = qa.get("is_impossible", False)
                if not isinstance(impossible, bool):
                    raise DataError(f"{path}: {where}: field 'is_impossible' must be true or false")
                answers = []
                for ans in [] if impossible else _field(path, where, qa, "answers", list):
                    text, start = _field(path, where, ans, "text", str), ans.get("answer_start")
                    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
                        raise DataError(f"{path}: {where}: answer_start must be an integer >= 0")
                    if not text or context[start:start + len(text)] != text:
                        raise DataError(f"{path}: {where}: answer {text!r} not found in its context at "
                                        f"answer_start {start} (the context has {context[start:start + len(text)]!r})")
                    answers.append({"text": text, "start": start})
                if not impossible and not answers:
                    raise DataError(f"{path}: {where}: no answers (mark an unanswerable question is_impossible: true)")
                if not question.strip():
                    raise DataError(f"{path}: {where}: empty question")
                if qid in seen:
                    raise DataError(f"{path}: {where}: the id appears twice")
                seen.add(qid)
                records.append(qa_record(qid, question, context, answers))
    if not records:
        raise DataError(f"{path}: no questions")
    return records


def read_questions(path: Path) -> list[dict]:
    """Questions to answer (predict): {"id", "question", "context"} from a SQuAD-format .json file,
    or from JSON lines with "question" and "context" fields (and an optional "id"; default the
    line number)."""
    if path.suffix.lower() == ".json":
        return [{k: r[k] for k in ("id", "question", "context")} for r in read_squad(path)]
    items = []
    for n, row in _jsonl_rows(path):
        for name in ("question", "context"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise DataError(f"{path}: line {n}: field '{name}' must be a non-empty string")
        items.append({"id": str(row.get("id", f"line {n}")), "question": row["question"], "context": row["context"]})
    return items


# ------------------------------------------------------------------ the embedded Hebrew QA set

# One question per entity type, in Hebrew (the contexts are Hebrew): "Who is the person mentioned?",
# "Which organization is mentioned?", "Which country or city ...?", "Which place ...?", "Which
# building or facility ...?", "Which event ...?", "Which work (book, film, song) ...?", "Which
# language ...?", "Which product ...?".
HEBREW_QUESTIONS = {
    "PER": "מי האדם שמוזכר?",
    "ORG": "איזה ארגון מוזכר?",
    "GPE": "איזו מדינה או עיר מוזכרת?",
    "LOC": "איזה מקום מוזכר?",
    "FAC": "איזה מבנה מוזכר?",
    "EVE": "איזה אירוע מוזכר?",
    "WOA": "איזו יצירה מוזכרת?",
    "ANG": "איזו שפה מוזכרת?",
    "DUC": "איזה מוצר מוזכר?",
}
_ASKED_WHEN_ABSENT = ("PER", "ORG", "GPE", "LOC")  # the common types: the no-answer questions ask about these
_ANSWERABLE_SHARE = 0.75  # of sentences that have an entity, how many get a question it answers


def hebrew_qa_records() -> list[dict]:
    """One question per Hebrew Treebank sentence (6,153, in the corpus's order, so a split with
    hebrew_ner's settings puts each sentence in the same split as there).

    The context is the sentence (its surface tokens joined by spaces); the answers are facts of the
    gold NEMO annotation: for a sentence with entities, 3 times in 4 the question asks for one of
    its entity types (HEBREW_QUESTIONS) and every entity of that type is a reference answer (as
    SQuAD lists several acceptable answers); otherwise the question asks for one of PER, ORG, GPE,
    LOC that the sentence does not mention, and it is unanswerable (SQuAD v2). The draws use a
    fixed seed (0), so the set is the same on every machine. Nothing is generated but the question."""
    from warmstart.data.tagged import _hebrew_sentences

    rng = np.random.Generator(np.random.PCG64(0))
    records = []
    for n, (tokens, spans) in enumerate(_hebrew_sentences()):
        starts = np.cumsum([0] + [len(t) + 1 for t in tokens])  # character start of each token
        context = " ".join(tokens)
        present = sorted({typ for typ, _, _ in spans})
        absent = [t for t in _ASKED_WHEN_ABSENT if t not in present]
        u, pick = rng.random(), rng.random()
        if present and (u < _ANSWERABLE_SHARE or not absent):
            typ = present[int(pick * len(present))]
            answers = [{"text": context[starts[a]:starts[b] - 1], "start": int(starts[a])}
                       for t, a, b in spans if t == typ]
        else:
            typ, answers = absent[int(pick * len(absent))], []
        records.append(qa_record(f"hetb-{n}", HEBREW_QUESTIONS[typ], context, answers))
    return records
