"""Tagged-text readers: CoNLL columns and JSON lines; every bad input is one line naming file and line."""

import json

import pytest

from warmstart.data.tagged import read_tagged
from warmstart.errors import DataError

CONLL = """-DOCSTART- -X- O O

EU NNP B-ORG
rejects VBZ O
German JJ B-MISC
call NN O

Peter NNP B-PER
Blackburn NNP I-PER
"""


def test_conll_reads_sentences_and_columns(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL)
    recs = read_tagged(path, "conll", "iob2")
    assert [r["tokens"] for r in recs] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert recs[1]["label"] == ["B-PER", "I-PER"] and recs[1]["text"] == "Peter Blackburn"
    swapped = tmp_path / "swapped.conll"
    swapped.write_text("EU\tB-ORG\tNNP\nsays\tO\tVBZ\n")
    assert read_tagged(swapped, "conll", "iob2", tag_column=1)[0]["label"] == ["B-ORG", "O"]


def test_jsonl_reads_tokens_and_tags(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"tokens": ["New", "York", "rocks"], "tags": ["B-LOC", "E-LOC", "O"]}) + "\n")
    assert read_tagged(path, "jsonl", "bioes")[0]["label"] == ["B-LOC", "E-LOC", "O"]


@pytest.mark.parametrize("fmt, content, needle", [
    ("conll", "EU B-ORG\nsays I-PER\n", "line 2: tag 'I-PER' after 'B-ORG' is not a valid IOB2"),
    ("conll", "EU B-ORG\nsays\n", "line 2: expected a token and a tag"),
    ("conll", "EU X-ORG\n", "line 1: tag 'X-ORG' is not O or one of B-TYPE, I-TYPE"),
    ("conll", "\n\n", "file is empty"),
    ("jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n',
     "line 2: 2 tokens but 1 tags"),
    ("jsonl", '{"tokens": ["a", "b"], "tags": ["O", "I-PER"]}\n', "line 1: tag 'I-PER' after 'O'"),
    ("jsonl", '{"tokens": "a b", "tags": ["O"]}\n', "line 1: field 'tokens' must be a list"),
    ("jsonl", '{"words": ["a"], "tags": ["O"]}\n', "line 1: field 'tokens'"),
])
def test_bad_tagged_files_name_file_and_line(tmp_path, fmt, content, needle):
    path = tmp_path / f"bad.{fmt}"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_tagged(path, fmt, "iob2")
    message = str(err.value)
    assert message.startswith(str(path)) and needle in message and "\n" not in message


def test_hebrew_ner_corpus_is_real_and_well_formed():
    from warmstart.data.tag_schemes import entities, first_malformed
    from warmstart.data.tagged import hebrew_ner_records

    try:
        recs = hebrew_ner_records("bioes")
    except DataError as e:
        pytest.skip(str(e))
    assert len(recs) == 6153
    assert all(first_malformed(r["label"], "bioes") is None for r in recs)
    assert sum(len(entities(r["label"], "bioes")) for r in recs) == 7711
    first = recs[0]
    # "מתאילנד" = "from Thailand": the morpheme-level GPE marks the whole surface token.
    assert first["tokens"][3] == "מתאילנד" and first["label"][3] == "S-GPE"
