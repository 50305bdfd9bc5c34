"""The embedding-table backbone: the Backbone contract for each encoder, padding invariance,
mapping word vectors onto a tokenizer's vocabulary, and frozen vs trained tables."""

import numpy as np
import pytest
import torch

from warmstart.checkpoint.io import load_tensors, save_checkpoint
from warmstart.config.schema import EmbeddingModel
from warmstart.models.base import check_layer_groups
from warmstart.models.embedding import EmbeddingBackbone, init_embedding_table
from warmstart.tokenizers.words import token_to_word

ENCODERS = ["mean", "cnn", "bilstm"]


def _backbone(encoder: str) -> EmbeddingBackbone:
    return EmbeddingBackbone(64, 16, encoder=encoder, d_hidden=8, kernel_sizes=(2, 3), pool_ignore_ids=(2, 3)).eval()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_contract_and_checkpoint_round_trip(encoder, tmp_path):
    bb = _backbone(encoder)
    batch = bb.example_batch(4)
    feats = bb(batch)
    assert feats.pooled.shape == (4, bb.feature_dim) and feats.tokens.shape[:2] == batch["input_ids"].shape
    check_layer_groups(bb)
    assert len(bb.layer_groups()) == (1 if encoder == "mean" else 3)
    save_checkpoint(tmp_path, "c", {"backbone": bb.state_dict()}, {"backbone": {"format_version": 1, **bb.spec()}},
                    point_latest=False)
    again = EmbeddingBackbone.from_spec(bb.spec())
    again.load_state_dict(load_tensors(tmp_path / "c", "backbone"), strict=True)
    torch.testing.assert_close(again.eval()(batch).pooled, feats.pooled, rtol=0, atol=0)


def test_tiny_preset_meets_the_registry_contract():
    bb = EmbeddingBackbone.tiny()
    assert bb(bb.example_batch(2)).pooled.shape == (2, bb.feature_dim)
    assert len(bb.layer_groups()) >= 3  # what tests/models/test_contract.py asks of every tiny()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_right_padding_does_not_change_pooled_features(encoder):
    bb = _backbone(encoder)
    ids = torch.tensor([[2, 9, 17, 33, 41, 3]])
    short = bb({"input_ids": ids, "attention_mask": torch.ones_like(ids)}).pooled
    padded_ids = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], 1).long()
    torch.testing.assert_close(bb({"input_ids": padded_ids, "attention_mask": mask}).pooled, short,
                               rtol=1e-5, atol=1e-6)


def test_token_to_word_conventions():
    assert token_to_word("Ġcat") == "cat" and token_to_word("▁cat") == "cat"
    assert token_to_word("##ing") is None and token_to_word("Ġ") is None
    assert token_to_word("Cat") == "Cat"


def test_vectors_are_mapped_onto_a_subword_vocabulary():
    words = ["the", "cat", "Paris", "paris"]
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Ġcat", "##s", "PARIS", "zebra", "the"]
    special = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    table, cov = init_embedding_table(vectors, words, tokens, special, seed=0)
    np.testing.assert_array_equal(table[[0, 2, 3, 4]], 0.0)
    np.testing.assert_allclose(table[1], vectors.mean(0))  # [UNK] = the mean word vector
    np.testing.assert_array_equal(table[5], vectors[1])  # Ġcat -> cat
    np.testing.assert_array_equal(table[7], vectors[2])  # PARIS -> paris, most frequent casing (Paris) first
    np.testing.assert_array_equal(table[9], vectors[0])
    assert cov == {"mapped": 3, "tokens": 5, "coverage": 0.6}  # ##s and zebra get random rows


def test_from_config_with_and_without_vectors(tmp_path):
    from warmstart.data.word_vectors import save_vectors

    save_vectors(tmp_path, np.ones((2, 6), dtype=np.float32), ["hello", "world"])
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "world", "x"]
    special = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    bb = EmbeddingBackbone.from_config(EmbeddingModel(encoder="cnn", vectors=str(tmp_path), d_hidden=4), 7, special,
                                       tokens)
    assert bb.d_model == 6 and bb.feature_dim == 12 and bb.coverage == {"mapped": 1, "tokens": 2, "coverage": 0.5}
    torch.testing.assert_close(bb.embed.weight[5], torch.ones(6))
    fresh = EmbeddingBackbone.from_config(EmbeddingModel(d_model=8), 7, special)
    assert fresh.embed.weight.shape == (7, 8) and fresh.pool_ignore_ids == [2, 3]


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_table_stays_fixed_while_the_encoder_trains(freeze):
    bb = EmbeddingBackbone(30, 8, encoder="cnn", d_hidden=4, kernel_sizes=(3,), freeze_embeddings=freeze)
    table, conv = bb.embed.weight.detach().clone(), bb.convs[0].weight.detach().clone()
    opt = torch.optim.AdamW(bb.parameters(), lr=0.1)
    batch = {"input_ids": torch.randint(5, 30, (4, 7)), "attention_mask": torch.ones(4, 7, dtype=torch.long)}
    bb(batch).pooled.pow(2).sum().backward()
    opt.step()
    assert torch.equal(bb.embed.weight, table) == freeze
    assert not torch.equal(bb.convs[0].weight, conv)
