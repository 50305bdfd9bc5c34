"""Text-to-text: span-corruption masking rules, generation (greedy = beam(1) = step-by-step argmax of
the teacher-forced module), streaming text metrics, every strategy, local HF T5 directories, the
data readers' one-line errors, and a save/load/resume round trip."""

import json

import pytest
import torch

from warmstart.config.schema import (
    DiscriminativeStrategy,
    FullStrategy,
    GradualUnfreezeStrategy,
    LinearProbeStrategy,
    LoRAStrategy,
    PartialStrategy,
    Seq2SeqTask,
    SpanCorruptionObjective,
)
from warmstart.data.loaders import seq2seq_examples
from warmstart.data.seq2seq import read_seq2seq
from warmstart.errors import DataError
from warmstart.evaluation.text_metrics import text_scores
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives.span_corruption import noise_mask, span_corrupt
from warmstart.strategies import build_strategy
from warmstart.tasks import build_task

SENTINELS = list(range(63, 43, -1))  # <extra_id_0> = 63, <extra_id_1> = 62, ... (as T5 counts down)
FIXTURE = "tests/fixtures/lemmas.jsonl"


# ---------------------------------------------------------------------------------- span corruption


@pytest.mark.parametrize("length", [2, 10, 37, 64, 200])
def test_noise_mask_density_and_span_count(length):
    g = torch.Generator().manual_seed(length)
    mask = noise_mask(length, 0.15, 3.0, g)
    n_noise = min(max(round(length * 0.15), 1), length - 1)
    spans = sum(1 for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1]))
    assert len(mask) == length and sum(mask) == n_noise and not mask[0]  # rows start with kept tokens
    assert spans == min(max(round(n_noise / 3.0), 1), n_noise, length - n_noise)


def test_span_corruption_sentinel_order_and_reconstruction():
    ids = torch.randint(5, 40, (6, 50), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[2, 30:] = 0  # a padded row corrupts its real tokens only
    x, x_mask, y = span_corrupt(ids, mask, SpanCorruptionObjective(), SENTINELS, eos=3, pad=0,
                                generator=torch.Generator().manual_seed(1))
    for r in range(6):
        src = x[r][x_mask[r].bool()].tolist()
        tgt = y[r][y[r] != -100].tolist()
        assert src[-1] == 3 and tgt[-1] == 3
        used = [t for t in src if t in SENTINELS]
        assert used == SENTINELS[: len(used)] and [t for t in tgt if t in SENTINELS] == used  # in order, both sides
        assert tgt[0] == SENTINELS[0]
        # Put every span back in place of its sentinel: the original real tokens come back.
        spans, current = {}, None
        for t in tgt[:-1]:
            if t in SENTINELS:
                current = t
                spans[current] = []
            else:
                spans[current].append(t)
        rebuilt = [tok for t in src[:-1] for tok in (spans[t] if t in SENTINELS else [t])]
        original = ids[r][mask[r].bool()].tolist()
        assert rebuilt == original
        assert len(original) - (len(src) - 1 - len(used)) == round(len(original) * 0.15)  # the noise density


def test_span_corruption_is_deterministic_given_the_seed():
    ids = torch.randint(5, 40, (4, 64), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)

    def corrupt(seed):
        return span_corrupt(ids, mask, SpanCorruptionObjective(), SENTINELS, 3, 0, torch.Generator().manual_seed(seed))

    a, b, c = corrupt(7), corrupt(7), corrupt(8)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0]) or not torch.equal(a[2], c[2])


# --------------------------------------------------------------------------------------- the task


def _module(cfg=None):
    torch.manual_seed(0)
    return build_task(cfg or Seq2SeqTask(generation={"max_new_tokens": 6}), TransformerBackbone.tiny("t5"), {})


def _batch(references=("1 2", "3", "4 5 6", "7")):
    sources = [[10, 11, 12, 3], [13, 14, 3], [15, 16, 17, 18, 3], [19, 20, 3]]
    targets = [[21, 22, 3], [23, 3], [24, 25, 26, 3], [27, 3]]
    return seq2seq_examples(sources, targets, 0, {"targets": list(references)},
                            lambda ids: [" ".join(str(t) for t in row if t not in (0, 3)) for row in ids.tolist()]
                            )(list(range(4)))


def test_greedy_equals_beam_1_and_the_teacher_forced_argmax():
    module = _module().eval()
    batch = _batch()
    greedy = module.generate(batch, num_beams=1)
    assert torch.equal(greedy, module.generate(batch, num_beams=1))
    # Step-by-step argmax through the module's own (teacher-forced) forward gives the same tokens.
    for r in range(4):
        one = {k: v[r:r + 1] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        out = []
        for _ in range(greedy.size(1)):
            labels = torch.tensor([out + [0]])  # the last label is a placeholder: its logits are read
            feats = module.backbone({**one, "decoder_input_ids": torch.tensor([[module.start, *out]]),
                                     "decoder_attention_mask": torch.ones_like(labels)})
            nxt = int(module.head(feats.tokens[0, -1]).argmax())
            out.append(nxt)
            if nxt == module.eos:
                break
        row = greedy[r].tolist()
        assert row[: len(out)] == out and all(t == module.pad for t in row[len(out):])
    beams = module.generate(batch, num_beams=3)
    assert beams.size(0) == 4 and beams.dtype == torch.long


def test_metrics_stream_to_the_corpus_scores():
    module = _module().eval()
    first, second = _batch(), _batch(("21 22", "x", "24 25", "27"))
    acc = module.new_metrics()
    with torch.no_grad():
        outs = [module(first), module(second)]
    for out in outs:
        acc.update(out)
    got = acc.compute()
    preds = [t for b in (first, second) for t in b["detokenize"](module.generate(b))]
    want = text_scores(preds, list(first["targets"]) + list(second["targets"]))
    assert got["chrf"] == pytest.approx(want["chrf"]) and got["rouge_l"] == pytest.approx(want["rouge_l"])
    assert got["exact_match"] == pytest.approx(want["exact_match"]) and module.new_metrics().primary == "chrf"


def test_the_head_starts_as_the_models_own_output_layer():
    module = _module().eval()
    batch = _batch()
    lm = module.lm()  # transformers' T5ForConditionalGeneration around the same modules
    with torch.no_grad():
        theirs = lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    labels=batch["labels"]).logits
        scaled = module.backbone.input_embeddings().weight * module.backbone.model.config.d_model ** -0.5
    torch.testing.assert_close(module.head.weight, scaled)  # T5 v1.0: tied embeddings, scaled decoder states
    counted = batch["labels"] != -100
    feats = module.backbone({**batch, "decoder_input_ids": lm.prepare_decoder_input_ids_from_labels(
        labels=batch["labels"]), "decoder_attention_mask": counted.long()})
    torch.testing.assert_close(module.head(feats.tokens)[counted], theirs[counted], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["full", "linear_probe", "partial", "discriminative", "gradual_unfreeze", "lora"])
def test_every_strategy_builds_and_trains_a_step(kind):
    cfgs = {"full": FullStrategy(), "linear_probe": LinearProbeStrategy(), "partial": PartialStrategy(n_groups=2),
            "discriminative": DiscriminativeStrategy(), "gradual_unfreeze": GradualUnfreezeStrategy(every_steps=1),
            "lora": LoRAStrategy(r=2)}
    module = _module()
    strategy = build_strategy(cfgs[kind])
    strategy.prepare(module)
    strategy.on_epoch_start(0, None)
    strategy.on_step_start(1)  # gradual unfreezing: the top group thaws after one step
    opt = torch.optim.AdamW([g for g in strategy.param_groups(module, 1e-2)], lr=1e-2)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    module.train()
    strategy.train_mode(module)
    module(_batch()).loss.backward()
    opt.step()
    changed = {n for n, p in module.named_parameters() if not torch.equal(before[n], p)}
    assert "head.weight" in changed
    backbone_changed = {n for n in changed if n.startswith("backbone.")}
    if kind == "linear_probe":  # frozen encoder, decoder and embeddings: only the output layer learns
        assert not backbone_changed
    elif kind == "lora":
        assert backbone_changed and all("lora_" in n for n in backbone_changed)
    else:
        assert backbone_changed


def test_lora_merged_generates_what_unmerged_does():
    module = _module()
    strategy = build_strategy(LoRAStrategy(r=2))
    strategy.prepare(module)
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))  # non-zero adapters
    module.eval()
    batch = _batch()
    unmerged = module.generate(batch)
    with torch.no_grad():
        logits_before = module(batch).loss
    strategy.merge(module.backbone)
    assert torch.equal(module.generate(batch), unmerged)
    with torch.no_grad():
        torch.testing.assert_close(module(batch).loss, logits_before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("tied", [True, False])
def test_local_t5_directory_keeps_its_output_layer(tmp_path, tied):
    """A saved T5 (v1.0 tied and scaled, or v1.1-style untied) loads as model.kind=hf: the task's
    output layer starts from its lm_head, so the module's logits are the HF model's."""
    from transformers import T5Config, T5ForConditionalGeneration

    from warmstart.models.hf import HFBackbone

    torch.manual_seed(0)
    config = T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, pad_token_id=0,
                      eos_token_id=3, decoder_start_token_id=0, **({} if tied else {"tie_word_embeddings": False}))
    hf = T5ForConditionalGeneration(config).eval()
    if not tied:
        hf.lm_head.weight = torch.nn.Parameter(torch.randn(64, 16))
    hf.save_pretrained(tmp_path)
    module = build_task(Seq2SeqTask(), HFBackbone.load(tmp_path), {}).eval()
    batch = _batch()
    counted = batch["labels"] != -100
    with torch.no_grad():
        theirs = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        ours = module(batch)
    assert float(ours.loss) == pytest.approx(float(theirs.loss), abs=1e-5)
    assert theirs.logits[counted].shape[0] == ours.n_items


# ------------------------------------------------------------------------------------- data, errors


def test_reader_fields_and_one_line_errors(tmp_path):
    records = read_seq2seq(FIXTURE, "sentence", "lemmas")
    assert len(records) == 80 and all(r["source"] and r["target"] == r["label"] for r in records)
    bad = tmp_path / "bad.jsonl"
    rows = [{"source": "a", "target": "b"}, {"source": "c", "target": " "}]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"bad.jsonl: line 2: field 'target' must be a non-empty string"):
        read_seq2seq(bad)
    bad.write_text(json.dumps({"source": "a"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl: line 1: no field 'target'"):
        read_seq2seq(bad)
    csv = tmp_path / "bad.csv"
    csv.write_text("src,tgt\na,b\n")
    with pytest.raises(DataError, match=r"bad.csv: no column 'source' \(columns: src, tgt\)"):
        read_seq2seq(csv)
    assert read_seq2seq(csv, "src", "tgt")[0]["target"] == "b"


def test_hebrew_lemmas_align_with_hebrew_ner():
    from warmstart.data.seq2seq import hebrew_lemma_records
    from warmstart.data.tagged import hebrew_ner_records

    lemmas, ner = hebrew_lemma_records(), hebrew_ner_records()
    assert len(lemmas) == len(ner) == 6153
    assert all(a["source"] == b["text"] for a, b in zip(lemmas, ner, strict=True))  # same sentences, same order
    assert lemmas[0]["target"].split()[3:5] == ["מ", "תאילנד"]  # "מתאילנד" = "from" + "Thailand"


def test_config_checks_task_and_data_fit():
    from warmstart.config.schema import FinetuneConfig

    base = {"tokenizer": {"kind": "bpe"}, "model": {"kind": "transformer", "arch": "t5"}}
    with pytest.raises(ValueError, match="task.kind=seq2seq needs source/target pairs"):
        FinetuneConfig(**base, data={"kind": "demo_sentiment"}, task={"kind": "seq2seq"})
    with pytest.raises(ValueError, match="holds source/target pairs: use task.kind=seq2seq"):
        FinetuneConfig(**base, data={"kind": "hebrew_lemmas"}, task={"kind": "classification"})


def _config(tmp, name, **train):
    from warmstart.config.schema import FinetuneConfig

    return FinetuneConfig(
        run={"name": name, "out_dir": str(tmp / "runs")},
        data={"kind": "seq2seq_text", "path": FIXTURE, "source_field": "sentence", "target_field": "lemmas",
              "max_len": 24, "max_target_len": 24, "max_test": 8},
        tokenizer={"kind": "bpe", "vocab_size": 300, "min_frequency": 1},
        model={"kind": "transformer", "arch": "t5", "n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32,
               "dropout": 0.1},
        task={"kind": "seq2seq", "generation": {"max_new_tokens": 8}},
        train={"max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 3, "select_best": False,
               "progress": False, **train},
    )


@pytest.mark.slow
def test_round_trip_and_exact_resume(tmp_path):
    from tests.tasks.conftest import check_round_trip_and_exact_resume

    check_round_trip_and_exact_resume(_config, tmp_path)
