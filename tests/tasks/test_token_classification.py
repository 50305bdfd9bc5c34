"""Token classification: subword alignment on tricky strings, label_all_subtokens, predictions
with character offsets, every strategy trains on it, and a run's save/load and exact resume."""


import pytest
import torch
from pydantic import TypeAdapter
from tests.tasks.conftest import check_round_trip_and_exact_resume

from warmstart.config.schema import BPETokenizer, Strategy, TokenClassificationTask, WordPieceTokenizer
from warmstart.inputs import WORD_PATTERN, _join_spans
from warmstart.models.transformer import TransformerBackbone
from warmstart.strategies import STRATEGIES, build_strategy
from warmstart.tasks import build_task
from warmstart.tokenizers import build_tokenizer, encode_words

TRICKY = ["Zoë  Saldaña visited São Paulo", "naïve café — 東京 and תל אביב!", "tabs\tand\u00a0nbsp, don't stop",
          "e\u0301cole (école) l'Hôpital...", "x"]
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="module", params=["wordpiece", "bpe"])
def tokenizer(request):
    cfg = (WordPieceTokenizer if request.param == "wordpiece" else BPETokenizer)(vocab_size=300)
    return build_tokenizer(cfg, TRICKY * 3)


def test_every_word_gets_one_first_subword_inside_it(tokenizer):
    spans = [[(m.start(), m.end()) for m in WORD_PATTERN.finditer(t)] for t in TRICKY]
    ids, word_of = encode_words(tokenizer, TRICKY, spans, max_len=128)
    for text, sp, row_ids, row in zip(TRICKY, spans, ids, word_of, strict=True):
        assert len(row_ids) == len(row) and row[0] == row[-1] == -1  # [CLS] ... [SEP]
        assert [w for w in row if w >= 0] == sorted(w for w in row if w >= 0)  # words in order
        assert set(row) - {-1} == set(range(len(sp)))  # every word is reached
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for (a, b), w in zip(offsets, row[1:-1], strict=True):
            if w >= 0:  # the subword overlaps the characters of its word
                assert max(a, sp[w][0]) < min(b, sp[w][1])


def test_truncation_drops_words_past_max_len(tokenizer):
    text = " ".join(["word"] * 40)
    ids, word_of = encode_words(tokenizer, [text], [_join_spans(text.split())], max_len=8)
    assert len(ids[0]) == 8 and max(word_of[0]) < 40


def _module(label_all=False, scheme="iob2", labels=LABELS):
    cfg = TokenClassificationTask(dropout=0.0, label_all_subtokens=label_all)
    return build_task(cfg, TransformerBackbone.tiny("bert"), {"labels": labels, "scheme": scheme})


def test_align_first_subword_only_and_all_subtokens():
    word_of = [-1, 0, 0, 1, 2, 2, 2, -1]  # word 0 has 2 subwords, word 2 has 3
    tags = [LABELS.index(t) for t in ["B-PER", "O", "B-LOC"]]
    train, scored, starts = _module().align(tags, word_of)
    ix = {t: i for i, t in enumerate(LABELS)}
    assert train == [-100, ix["B-PER"], -100, ix["O"], ix["B-LOC"], -100, -100, -100]
    assert scored == train and starts == [-1, 0, -1, 1, 2, -1, -1, -1]
    train, scored, _ = _module(label_all=True).align(tags, word_of)
    assert train == [-100, ix["B-PER"], ix["I-PER"], ix["O"], ix["B-LOC"], ix["I-LOC"], ix["I-LOC"], -100]
    assert scored == [-100, ix["B-PER"], -100, ix["O"], ix["B-LOC"], -100, -100, -100]  # scoring: first subwords


def test_align_bioes_single_word_entity_over_subwords():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    module = _module(label_all=True, scheme="bioes", labels=labels)
    train, _, _ = module.align([labels.index("S-PER")], [-1, 0, 0, 0, -1])
    assert [labels[i] for i in train[1:-1]] == ["B-PER", "I-PER", "E-PER"]


def test_predictions_give_entities_with_character_offsets():
    module = _module()
    text = "Anna  Lee went to Oslo."
    words = [(text[m.start():m.end()], m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]
    logits = torch.full((1, len(tags) + 2, len(LABELS)), -5.0)
    for pos, tag in enumerate(tags, start=1):
        logits[0, pos, LABELS.index(tag)] = 5.0
    batch = {"word_index": torch.tensor([[-1, 0, 1, 2, 3, 4, 5, -1]]), "words": [words], "texts": [text]}
    (pred,) = module.predictions(logits, batch)
    assert pred["tags"] == tags
    assert pred["entities"] == [{"type": "PER", "text": "Anna  Lee", "start": 0, "end": 9},
                                {"type": "LOC", "text": "Oslo", "start": 18, "end": 22}]


def _batch(module):
    batch = module.backbone.example_batch(4)
    labels = torch.randint(0, len(LABELS), batch["input_ids"].shape, generator=torch.Generator().manual_seed(0))
    labels[:, 0] = -100
    return {**batch, "labels": labels, "word_labels": labels}


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_every_strategy_builds_and_trains(kind):
    module = _module()
    strategy = build_strategy(TypeAdapter(Strategy).validate_python({"kind": kind}))
    strategy.prepare(module)
    groups = strategy.param_groups(module, 1e-2)
    opt = torch.optim.AdamW(groups)
    head_before = module.head.proj.weight.detach().clone()
    batch = _batch(module)
    losses = []
    for _ in range(5):
        out = module(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
    assert not torch.equal(module.head.proj.weight, head_before) and losses[-1] < losses[0]


def _tagged_config(tmp_path, name, **train):
    import json
    import random

    from warmstart.config.schema import FinetuneConfig

    rng = random.Random(0)
    path = tmp_path / "tagged.jsonl"
    if not path.exists():
        rows = []
        for _ in range(60):
            tokens = rng.choices(["we", "saw", "it", "in", "the", "park"], k=3) + [rng.choice(["Oslo", "Lima"])]
            rows.append(json.dumps({"tokens": tokens, "tags": ["O"] * 3 + ["B-LOC"]}))
        path.write_text("\n".join(rows) + "\n")
    return FinetuneConfig.model_validate({
        "run": {"name": name, "out_dir": str(tmp_path / "runs")},
        "data": {"kind": "tagged_text", "path": str(path), "format": "jsonl", "max_len": 16},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 100},
        "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "task": {"kind": "token_classification"},
        "train": {"max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 3, "keep_checkpoints": 3,
                  "select_best": False, "progress": False, **train},
    })


def test_save_load_round_trip_and_exact_resume(tmp_path):
    check_round_trip_and_exact_resume(_tagged_config, tmp_path)
