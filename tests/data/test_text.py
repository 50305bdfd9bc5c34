"""Readers for corpora and labeled files: formats, and one-line errors for bad input."""

from pathlib import Path

import pytest

from warmstart.config.schema import CorpusData, LabeledTextData
from warmstart.data import SOURCES, load_corpus, load_labeled, read_corpus, read_labeled
from warmstart.data.text import read_csv
from warmstart.data.vectors import read_csv_features
from warmstart.errors import ConfigError, DataError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _one_line_error(fn, *args, match: str) -> str:
    with pytest.raises(DataError, match=match) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_sources_cover_the_text_kinds_of_the_schema():
    import typing

    from warmstart.config import schema

    members = {m for union in (schema.PretrainData, schema.FinetuneData)
               for m in typing.get_args(typing.get_args(union)[0])}
    text_kinds = {m.model_fields["kind"].default for m in members if m.modality == "text"}
    assert text_kinds == set(SOURCES)
    assert {"corpus", "demo_corpus", "labeled_text", "demo_sentiment", "tagged_text", "hebrew_ner"} <= text_kinds


def test_image_and_vector_sources_cover_their_kinds_of_the_schema():
    """Each data kind of the schema has exactly one reader: text kinds in SOURCES, image kinds in
    IMAGE_SOURCES, vector kinds in VECTOR_SOURCES (split by the section's modality)."""
    import typing

    from warmstart.config import schema
    from warmstart.data.images import IMAGE_SOURCES
    from warmstart.data.vectors import VECTOR_SOURCES

    by_modality: dict[str, set] = {}
    for union in (schema.PretrainData, schema.FinetuneData):
        for member in typing.get_args(typing.get_args(union)[0]):
            by_modality.setdefault(member.modality, set()).update(
                typing.get_args(member.model_fields["kind"].annotation))
    assert set(by_modality) == {"text", "image", "vector"}
    assert by_modality["text"] == set(SOURCES)
    assert by_modality["image"] == set(IMAGE_SOURCES)
    assert by_modality["vector"] == set(VECTOR_SOURCES)


@pytest.mark.parametrize("section, kind, known", [
    ("DigitsData", "tiff_stack", "['digits', 'image_folder', 'npz']"),
    ("SklearnTableData", "parquet", "['csv_features', 'sklearn_table']"),
])
def test_unknown_image_or_vector_kind_is_a_config_error_naming_the_known_kinds(section, kind, known):
    from warmstart.config import schema
    from warmstart.data.images import load_images
    from warmstart.data.vectors import load_vectors

    cfg = getattr(schema, section)().model_copy(update={"kind": kind})
    with pytest.raises(ConfigError) as info:
        (load_images if cfg.modality == "image" else load_vectors)(cfg)
    message = str(info.value)
    assert "\n" not in message and f"'{kind}'" in message and known in message


def test_txt_one_document_per_non_empty_line():
    docs = load_corpus(CorpusData(path=str(FIXTURES / "corpus.txt")))
    assert len(docs) == 21  # 22 lines, one blank
    assert docs[0].startswith("The river ran high")
    assert all(d and d == d.strip() for d in docs)


def test_folder_reads_txt_files_recursively_in_sorted_order():
    docs = read_corpus(FIXTURES / "corpus_dir")
    assert docs == ["First document of file a.", "Second document of file a.", "Only document of file b."]


def test_corpus_from_jsonl_and_csv_fields():
    assert read_corpus(FIXTURES / "reviews.jsonl")[0] == "Great battery life, lasts two days."
    assert read_corpus(FIXTURES / "reviews.csv", field="label")[:3] == ["pos", "neg", "neu"]


def test_labeled_csv_keeps_string_labels():
    records = load_labeled(LabeledTextData(path=str(FIXTURES / "reviews.csv")))
    assert len(records) == 20
    assert records[0] == {"text": "Great battery life, lasts two days.", "label": "pos"}
    assert read_labeled(FIXTURES / "reviews.csv", label_field="stars")[0]["label"] == "5"


def test_labeled_jsonl_keeps_json_types_and_skips_blank_lines():
    records = read_labeled(FIXTURES / "reviews.jsonl", label_field="stars")
    assert [r["label"] for r in records] == [5, 1, 3.5, 5]


def test_missing_file(tmp_path):
    msg = _one_line_error(read_corpus, tmp_path / "nope.txt", match="no such file")
    assert "nope.txt" in msg


@pytest.mark.parametrize("name", ["empty.txt", "empty.csv", "empty.jsonl"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_text("  \n\n")
    _one_line_error(read_corpus, tmp_path / name, match=rf"{name}: file is empty")


def test_undecodable_file_names_the_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"text,label\nfine,a\ncaf\xe9 \xff,b\n")
    _one_line_error(read_labeled, path, match=r"x.csv: not valid UTF-8 text \(line 3\)")


def test_missing_label_column(tmp_path):
    _one_line_error(read_labeled, FIXTURES / "reviews.csv", "text", "rating",
                    match=r"reviews.csv: no column 'rating' \(columns: text, label, stars\)")


def test_missing_label_field_in_jsonl(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", "stars": 2}\n')
    _one_line_error(read_labeled, path, match=r"r.jsonl: line 2: no field 'label' \(fields: text, stars\)")


def test_malformed_jsonl_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": \n')
    _one_line_error(read_labeled, path, match=r"bad.jsonl: line 2: not valid JSON")


def test_jsonl_line_must_be_an_object(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('["text", "label"]\n')
    _one_line_error(read_corpus, path, match=r"line 1: expected a JSON object, got list")


def test_empty_label_and_ragged_csv_rows(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("text,label\nhello,a\nworld,\n")
    _one_line_error(read_labeled, path, match=r"gap.csv: line 3: empty label in 'label'")
    path.write_text("text,label\nhello\n")
    _one_line_error(read_labeled, path, match=r"gap.csv: line 2: expected 2 fields")


def test_unsupported_suffix_and_empty_folder(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    _one_line_error(read_corpus, tmp_path / "data.parquet", match="unsupported file type '.parquet'")
    (tmp_path / "empty").mkdir()
    _one_line_error(read_corpus, tmp_path / "empty", match="folder has no .txt files")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("text,label\nhé,a\n".encode("utf-8-sig"))
    assert read_labeled(path) == [{"text": "hé", "label": "a"}]


def test_long_csv_fields_are_accepted_and_rows_keep_their_starting_line(tmp_path):
    # Issue 17.5: a document over the csv module's default 128 KiB field limit was "malformed CSV".
    path = tmp_path / "huge.csv"
    long_doc = "word " * 60_000  # 300 KB
    path.write_text(f'text,label\n"{long_doc}",a\n"two\nlines",b\nshort,\n')
    _, rows = read_csv(path, ["text", "label"])
    assert [n for n, _ in rows] == [2, 3, 5] and rows[0][1]["text"] == long_doc
    _one_line_error(read_labeled, path, match=r"huge.csv: line 5: empty label in 'label'")


def test_duplicate_csv_column_is_an_error(tmp_path):
    # Issue 17.5: `text,label,label` was accepted and one of the two label columns silently used.
    path = tmp_path / "dup.csv"
    path.write_text("text,label,label\nhello,a,b\n")
    _one_line_error(read_labeled, path, match=r"dup.csv: line 1: column 'label' appears more than once")
    _one_line_error(read_csv_features, path, match=r"dup.csv: line 1: column 'label' appears more than once")


def test_nul_bytes_are_an_error(tmp_path):
    # Issue 17.5: NUL bytes inside labels were accepted as label text.
    path = tmp_path / "nul.csv"
    path.write_bytes(b"text,label\nhello,a\nworld,b\x00c\n")
    _one_line_error(read_labeled, path, match=r"nul.csv: line 3: NUL byte")
    path.write_bytes("text,label\nhi,a\n".encode("utf-16-le"))  # UTF-16 without a BOM: NULs between characters
    _one_line_error(read_corpus, path, match=r"nul.csv: line 1: NUL byte .*UTF-16")
    jsonl = tmp_path / "nul.jsonl"  # a NUL escaped in JSON reaches the label as a character
    jsonl.write_text('{"text": "hi", "label": "a"}\n{"text": "yo", "label": "b\\u0000"}\n')
    _one_line_error(read_labeled, jsonl, match=r"nul.jsonl: line 2: label 'label' contains a control character")


def test_ragged_csv_rows_with_extra_fields_are_an_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\nhello,a\nworld,b,c\n")
    _one_line_error(read_labeled, path, match=r"ragged.csv: line 3: expected 2 fields, got 3")
