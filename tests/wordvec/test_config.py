"""The config sections: documented fields, frozen and strict like config/schema.py, and defaults."""

import pytest
from pydantic import TypeAdapter, ValidationError

from warmstart.config.schema import (
    WORD_VECTOR_KINDS,
    EmbeddingModel,
    FastTextObjective,
    GloVeObjective,
    Word2VecObjective,
)

SECTIONS = [Word2VecObjective, FastTextObjective, GloVeObjective, EmbeddingModel]


@pytest.mark.parametrize("section", SECTIONS)
def test_every_field_is_documented_and_the_section_is_strict(section):
    for name, field in section.model_fields.items():
        assert name == "kind" or field.description, f"{section.__name__}.{name} has no description"
    obj = section()
    with pytest.raises(ValidationError):
        section(not_a_field=1)
    with pytest.raises(ValidationError):
        obj.kind = "x"  # frozen


def test_kinds_and_discriminated_union():
    assert WORD_VECTOR_KINDS == tuple(s.model_fields["kind"].default for s in SECTIONS[:3])
    union = TypeAdapter(Word2VecObjective | FastTextObjective | GloVeObjective)
    assert isinstance(union.validate_python({"kind": "glove", "x_max": 100}), GloVeObjective)
    assert union.validate_python({"kind": "fasttext"}).min_n == 3
    assert Word2VecObjective().arch == "skipgram" and Word2VecObjective().modalities == ("text",)
    with pytest.raises(ValidationError, match="kernel_sizes"):
        EmbeddingModel(kernel_sizes=[0])
