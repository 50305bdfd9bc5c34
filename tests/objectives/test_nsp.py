"""Masked LM + next-sentence prediction (objective.nsp): pair construction (balance, true next pairs
are consecutive text of one document, random pairs come from another document, sentence order swaps),
the combined loss, NSP accuracy above chance on a corpus where the pair label is learnable, the
config switch, and exact resume of a pretraining run."""

import json
import random
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from warmstart.config import parse_config
from warmstart.config.schema import MaskedLMObjective
from warmstart.data.loaders import pair_examples
from warmstart.data.pairs import split_segments
from warmstart.errors import ConfigError, DataError
from warmstart.models.transformer import TransformerBackbone
from warmstart.objectives import build_objective

SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
SEP = 3


def _stream(lengths, seed=0):
    """A token stream of documents of the given lengths, each followed by SEP; document d's tokens
    are 1000 * (d + 1) + position, so every token says which document and where it comes from."""
    parts = []
    for d, n in enumerate(lengths):
        parts += [1000 * (d + 1) + p for p in range(n)] + [SEP]
    return np.asarray(parts, dtype=np.int64)


def _doc(tokens):
    return {int(t) // 1000 - 1 for t in tokens}


def test_segments_cover_documents_without_crossing_them_or_the_split():
    ids = _stream([25, 3, 12, 40, 18, 30, 9, 22])
    train, val = split_segments(ids, SEP, 6, 0.25, "next")
    for part in (train, val):
        for k in range(len(part.starts)):
            seg = part.segment(k)
            assert len(_doc(seg)) == 1 and np.all(np.diff(seg) == 1)  # one document, contiguous
    assert max(train.doc) < min(val.doc)  # validation is a tail of whole documents
    # Every full segment of every document is kept (ragged tails dropped): 4+0+2+6+3+5+1+3.
    assert len(train.starts) + len(val.starts) == 24
    assert len(train) + len(val) == 24 - 7  # anchors: all but the last segment of each document that has any


@pytest.mark.parametrize("mode", ["next", "sentence_order"])
def test_pairs_are_balanced_and_each_kind_is_what_it_claims(mode):
    ids = _stream([30, 14, 50, 7, 26, 40, 33, 12, 60])
    train, _ = split_segments(ids, SEP, 5, 0.1, mode)
    make = pair_examples(train, mode, SPECIAL["cls"], SEP)
    torch.manual_seed(0)
    labels = []
    for _ in range(40):
        batch = make(list(range(len(train))))
        ids_b, types = batch["input_ids"], batch["token_type_ids"]
        assert ids_b.shape == (len(train), 2 * 5 + 3)
        assert (ids_b[:, 0] == SPECIAL["cls"]).all() and (ids_b[:, 6] == SEP).all() and (ids_b[:, -1] == SEP).all()
        assert (types[:, :7] == 0).all() and (types[:, 7:] == 1).all()
        for row, label in zip(ids_b.tolist(), batch["nsp_labels"].tolist(), strict=True):
            a, b = row[1:6], row[7:12]
            if label == 0:  # the true next segment: A then B is contiguous text of one document
                assert len(_doc(a + b)) == 1 and b[0] == a[-1] + 1 and np.all(np.diff(a + b) == 1)
            elif mode == "next":  # a random segment of another document
                assert _doc(a) != _doc(b)
            else:  # the two consecutive segments, swapped
                assert len(_doc(a + b)) == 1 and a[0] == b[-1] + 1
        labels += batch["nsp_labels"].tolist()
    assert 0.45 < np.mean(labels) < 0.55


def test_random_segments_are_drawn_from_every_other_document():
    ids = _stream([10, 10, 10, 10, 10, 10])
    train, val = split_segments(ids, SEP, 5, 0.1, "next")  # 4 training documents of 2 segments
    assert sorted(set(val.doc)) == [4, 5]  # validation keeps 2 documents: its random segments need another
    seen = set()
    for u in np.linspace(0, 0.999, 200):
        a, b, label = train.pair(0, "next", True, float(u))
        assert label == 1 and _doc(b) != _doc(a)
        seen.add(int(b[0]))
    assert seen == {2000, 2005, 3000, 3005, 4000, 4005}  # all 6 segments outside document 0, none inside


def test_pairs_are_deterministic_given_the_rng():
    train, _ = split_segments(_stream([30, 20, 25, 40]), SEP, 4, 0.2, "next")
    make = pair_examples(train, "next", 2, SEP)
    torch.manual_seed(5)
    first = make([0, 3, 1, 2])
    torch.manual_seed(5)
    again = make([0, 3, 1, 2])
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_too_short_documents_fail_with_one_line():
    with pytest.raises(DataError, match=r"next-sentence prediction needs documents at least") as e:
        split_segments(_stream([8, 9, 7, 9]), SEP, 5, 0.1, "next")  # no document holds 2 segments
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="too few to hold out"):
        split_segments(_stream([15, 3]), SEP, 5, 0.1, "next")  # 1 document with segments: no second one


def _pair_batch(module, n=8, seg_len=5, seed=0):
    train, _ = split_segments(_stream([40] * 6), SEP, seg_len, 0.2, module.cfg.nsp)
    torch.manual_seed(seed)
    batch = pair_examples(train, module.cfg.nsp, 2, SEP)(list(range(n)))
    ids = batch["input_ids"]
    batch["input_ids"] = torch.where(ids >= 1000, ids % 50 + 5, ids)  # text ids into the tiny vocabulary (64)
    return batch


@pytest.mark.parametrize("mode", ["next", "sentence_order"])
def test_nsp_contract_and_loss_is_mlm_plus_nsp(mode, fixed_batch_losses):
    module = build_objective(MaskedLMObjective(nsp=mode), TransformerBackbone.tiny("bert"), SPECIAL)
    batch = _pair_batch(module)
    out = module(batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.n_items > 0
    m = out.metrics
    c = module.cfg.mask_prob * (batch["input_ids"].size(1) - 3)
    assert float(out.loss.detach()) == pytest.approx(float(m["mlm_loss"]) + float(m["nsp_loss_sum"]) * c / out.n_items)
    out.loss.backward()
    assert module.head.nsp.seq_relationship.weight.grad.abs().sum() > 0
    assert module.backbone.input_embeddings().weight.grad.abs().sum() > 0
    # The NSP head lives in the objective head (saved with checkpoints, dropped by fine-tuning).
    assert {"nsp.pooler.weight", "nsp.seq_relationship.weight"} <= set(module.head.state_dict())
    losses = fixed_batch_losses(module, batch)
    assert losses[-1] < losses[0]


def test_switch_values_and_explain():
    base = {"data": {"kind": "corpus", "path": "c.txt"}, "model": {"kind": "transformer"},
            "tokenizer": {"kind": "wordpiece"}}
    for value, expected in [(True, "next"), (False, "off"), ("sentence_order", "sentence_order"), ("next", "next")]:
        cfg = parse_config({**base, "objective": {"kind": "masked_lm", "nsp": value}}, "pretrain", "x.yaml")
        assert cfg.objective.nsp == expected
    assert parse_config({**base, "objective": {"kind": "masked_lm"}}, "pretrain", "x.yaml").objective.nsp == "off"
    with pytest.raises(ConfigError, match=r"objective\.masked_lm\.nsp|objective\.nsp") as e:
        parse_config({**base, "objective": {"kind": "masked_lm", "nsp": "maybe"}}, "pretrain", "x.yaml")
    assert "\n" not in str(e.value)
    from warmstart.cli import explain

    cfg = parse_config({**base, "objective": {"kind": "masked_lm", "nsp": True}}, "pretrain", "x.yaml")
    lines = [ln for ln in explain(cfg) if ln.startswith("objective.nsp")]
    assert lines and '"next"' in lines[0] and "sentence_order" in lines[0]


@pytest.mark.slow  # 250 training steps: ~10 s on a quiet CPU, minutes on a loaded one
def test_nsp_accuracy_rises_above_chance_on_a_learnable_signal():
    """Each document repeats one of 12 "topic" tokens: a true next segment shares A's token, a random
    segment of another document almost never does. Chance is 0.5."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    parts = []
    for d in range(60):
        parts += [10 + d % 12] * 30 + [SEP]
    train, val = split_segments(np.asarray(parts), SEP, 6, 0.2, "next")
    backbone = TransformerBackbone.build("bert", "tiny", vocab_size=64, max_len=16, special={"pad": 0, "cls": 2,
                                         "sep": SEP}, n_layers=2, d_model=32, n_heads=2, d_ff=64, dropout=0.0)
    module = build_objective(MaskedLMObjective(nsp=True), backbone, SPECIAL)
    make_train, make_val = pair_examples(train, "next", 2, SEP), pair_examples(val, "next", 2, SEP)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    first = None
    for _ in range(250):
        out = module(make_train(rng.integers(len(train), size=32).tolist()))
        first = first if first is not None else float(out.loss.detach())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert float(out.loss.detach()) < first
    module.eval()
    metrics = module.new_metrics()
    with torch.no_grad():
        for _ in range(4):
            metrics.update(module(make_val(list(range(len(val))))))
    assert metrics.compute()["nsp_acc"] > 0.8


# ------------------------------------------------------------------------------- runs end to end


@pytest.fixture(scope="module")
def topic_corpus(tmp_path_factory):
    """A few dozen documents of words (wordpiece tokenizes them), long enough for 3+ segments each."""
    rng = random.Random(0)
    words = "river boat bread oven violin tempo snow glacier market price garden tulip".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(24, 40))) for _ in range(40)]
    path = tmp_path_factory.mktemp("nsp") / "docs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _pretrain_cfg(corpus, out, name, steps, nsp, **train):
    train = {"max_steps": steps, "batch_size": 8, "num_threads": 2, "progress": False, **train}
    return parse_config({
        "run": {"name": name, "out_dir": str(out), "seed": 1},
        "data": {"kind": "corpus", "path": str(corpus), "max_len": 19, "val_frac": 0.2},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 120},
        "model": {"kind": "transformer", "arch": "bert", "n_layers": 1, "d_model": 16, "n_heads": 2, "dropout": 0.1},
        "objective": {"kind": "masked_lm", "nsp": nsp},
        "optim": {"kind": "adamw", "lr": 3e-3},
        "train": train,
    }, "pretrain", "x.yaml")


def test_resume_is_bitwise_identical_and_nsp_acc_is_recorded(topic_corpus, tmp_path):
    from warmstart.workflows import pretrain

    quiet = lambda *_: None  # noqa: E731
    cfg = _pretrain_cfg(topic_corpus, tmp_path, "straight", steps=6, nsp="sentence_order", save_every=3,
                        keep_checkpoints=3, eval_every=3, log_every=1)
    run = pretrain(cfg, say=quiet)
    # NSP accuracy is logged with every evaluation and lands in result.json; the pairs' shape too.
    result = json.loads((run / "result.json").read_text())
    assert {"loss", "ppl", "mlm_loss", "nsp_loss", "nsp_acc"} <= set(result["val"]) and result["unigram_ppl"] > 0
    assert result["corpus"]["segment_len"] == 8 and result["corpus"]["block_len"] == 19
    logged = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(ln.get("split") == "val" and "nsp_acc" in ln for ln in logged) >= 2
    # The backbone checkpoint has no NSP weights (fine-tuning drops the head); the head file has them.
    assert not any("nsp" in k for k in load_file(str(run / "checkpoints" / "step_000006" / "backbone.safetensors")))
    assert any(k.startswith("nsp.") for k in load_file(str(run / "checkpoints" / "step_000006" / "head.safetensors")))

    final = run / "checkpoints" / "step_000006"
    before = {stem: load_file(str(final / f"{stem}.safetensors")) for stem in ("backbone", "head", "optimizer")}
    log_before = (run / "metrics.jsonl").read_text()
    shutil.rmtree(final)
    (run / "checkpoints" / "latest").write_text("step_000003")
    (run / "result.json").unlink()
    pretrain(cfg, resume=True, say=quiet)
    for stem, a in before.items():
        b = load_file(str(final / f"{stem}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stem

    def strip(text):
        return [{k: v for k, v in json.loads(ln).items() if k != "elapsed_s"} for ln in text.splitlines()]

    assert strip((run / "metrics.jsonl").read_text()) == strip(log_before)

    # export --format hf: transformers' BertForPreTraining with every weight from the run; its MLM and
    # NSP logits are ours (to the head LayerNorm's eps), and AutoModel loads the directory too.
    from transformers import AutoModel, AutoTokenizer, BertForPreTraining

    from warmstart.workflows.export import export
    from warmstart.workflows.pretrain import pretrain_objective

    out = export(run, "hf")
    assert "token_type_ids" in AutoTokenizer.from_pretrained(str(out))("a b", "c")
    module, val_set = pretrain_objective(cfg, run, final)
    module.eval()
    torch.manual_seed(0)
    batch = val_set.make_batch([0, 1, 2])
    hf = BertForPreTraining.from_pretrained(str(out)).eval()
    with torch.no_grad():
        feats = module.backbone(batch)
        theirs = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"])
        assert torch.allclose(theirs.seq_relationship_logits, module.head.nsp(feats.tokens[:, 0]), atol=1e-4)
        assert torch.allclose(theirs.prediction_logits, module.head(feats.tokens), atol=1e-3)
    assert type(AutoModel.from_pretrained(str(out))).__name__ == "BertModel"
