"""Trained tokenizers: fixed special ids, [CLS] ... [SEP] framing, save/load round trips; HF tokenizers
with missing special tokens; fine-tuning encoding."""

from pathlib import Path

import pytest

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from warmstart.config.schema import BPETokenizer, HFTokenizer, WordPieceTokenizer
from warmstart.data import read_corpus
from warmstart.errors import CheckpointError, ConfigError
from warmstart.tokenizers import SPECIAL_TOKENS, TOKENIZERS, build_tokenizer, encode, load_tokenizer, special_ids

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLES = ["The river ran high after rain.", "Zürich café, naïve résumé!", "unseenwordxyz 123"]


@pytest.fixture(scope="module")
def docs():
    return read_corpus(FIXTURES / "corpus.txt")


@pytest.fixture(scope="module", params=["bpe", "wordpiece"])
def trained(request, docs):
    cfg = (BPETokenizer(vocab_size=300, min_frequency=2) if request.param == "bpe"
           else WordPieceTokenizer(vocab_size=300))
    return build_tokenizer(cfg, docs)


def test_registry_matches_schema_kinds():
    import typing

    from warmstart.config import schema

    members = typing.get_args(typing.get_args(schema.Tokenizer)[0])
    assert {m.model_fields["kind"].default for m in members} == set(TOKENIZERS)


def test_special_tokens_have_fixed_ids(trained):
    assert [trained.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert special_ids(trained) == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert len(SPECIAL_TOKENS) < len(trained) <= 300  # small corpora may stop short of vocab_size


def test_add_special_tokens_frames_with_cls_and_sep(trained):
    with_special = trained("a river")["input_ids"]
    bare = trained("a river", add_special_tokens=False)["input_ids"]
    assert with_special == [2, *bare, 3]


def test_save_and_reload_give_identical_ids(trained, tmp_path):
    from transformers import AutoTokenizer

    trained.save_pretrained(str(tmp_path))
    for loaded in (AutoTokenizer.from_pretrained(str(tmp_path)), load_tokenizer(tmp_path)):
        assert loaded(SAMPLES)["input_ids"] == trained(SAMPLES)["input_ids"]
        assert special_ids(loaded) == special_ids(trained)


def test_bpe_is_byte_level_and_lossless(docs):
    tok = build_tokenizer(BPETokenizer(vocab_size=300), docs)
    for text in SAMPLES + ["emoji 🙂 and tabs\tkept"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text


def test_wordpiece_lowercases_and_strips_accents(docs):
    tok = build_tokenizer(WordPieceTokenizer(vocab_size=300, lowercase=True), docs)
    assert tok("Café RIVER")["input_ids"] == tok("cafe river")["input_ids"]
    cased = build_tokenizer(WordPieceTokenizer(vocab_size=300, lowercase=False), docs)
    assert cased("River")["input_ids"] != cased("river")["input_ids"]


def test_encode_truncates_but_keeps_the_final_sep(trained):
    long_text = " ".join(["river"] * 50)
    out = encode(trained, [long_text, "a"], max_len=8)
    assert len(out[0]) == 8 and out[0][0] == 2 and out[0][-1] == 3
    assert out[1] == trained("a")["input_ids"]  # short texts are framed exactly as add_special_tokens does


def test_training_needs_texts():
    with pytest.raises(ConfigError, match="tokenizer.kind=bpe: needs texts"):
        build_tokenizer(BPETokenizer(), None)


def _gpt2_like(tmp_path, docs) -> Path:
    """A byte-level BPE whose only special token is <|endoftext|> (as in GPT-2), saved as an HF folder."""
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(docs, trainers.BpeTrainer(vocab_size=280, special_tokens=["<|endoftext|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                      show_progress=False))
    eot = "<|endoftext|>"
    PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=eot, bos_token=eot,
                            unk_token=eot).save_pretrained(str(tmp_path))
    return tmp_path


def test_hf_tokenizer_fallbacks_like_gpt2(tmp_path, docs):
    tok = build_tokenizer(HFTokenizer(path=str(_gpt2_like(tmp_path, docs))), None)
    ids = special_ids(tok)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    assert ids == {"pad": eot, "cls": eot, "sep": eot, "mask": None, "unk": eot}
    out = encode(tok, ["the river"], max_len=16)[0]
    assert out[0] == eot and out[-1] == eot and len(out) > 2


def test_missing_or_unreadable_tokenizer_dirs(tmp_path):
    with pytest.raises(ConfigError, match=r"tokenizer.path: .*nope: no such folder"):
        build_tokenizer(HFTokenizer(path=str(tmp_path / "nope")), None)
    with pytest.raises(CheckpointError, match="no tokenizer files"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot load tokenizer") as info:
        load_tokenizer(tmp_path)
    assert "\n" not in str(info.value)
