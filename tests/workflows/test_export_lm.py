"""export --format hf of a causal-LM pretraining run: transformers' AutoModelForCausalLM with the trained
LM head (its output bias folded in exactly), a tokenizer that frames prompts as pretraining framed
documents, and `pipeline("text-generation")` continuing greedily as the warmstart model would."""

import random

import pytest
import torch

from warmstart import workflows
from warmstart.checkpoint.io import resolve_checkpoint
from warmstart.config import parse_config
from warmstart.runs import load_run_config
from warmstart.workflows.export_lm import fold_logit_bias
from warmstart.workflows.pretrain import pretrain_objective

WORDS = "the cat sat on a mat and dog ran to big red house".split()


@pytest.fixture(scope="module")
def clm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clm")
    rng = random.Random(0)
    (root / "c.txt").write_text("\n".join(" ".join(rng.choices(WORDS, k=rng.randint(4, 12))) for _ in range(300)))
    cfg = parse_config({
        "run": {"name": "clm", "out_dir": str(root / "runs")},
        "data": {"kind": "corpus", "path": str(root / "c.txt"), "max_len": 16, "val_frac": 0.1},
        "tokenizer": {"kind": "bpe", "vocab_size": 300},
        "model": {"kind": "transformer", "arch": "gpt2", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "objective": {"kind": "causal_lm"}, "schedule": {"kind": "constant"},
        "train": {"max_steps": 20, "batch_size": 8, "eval_every": 20, "progress": False}}, "pretrain", "clm")
    return workflows.pretrain(cfg, say=lambda *_: None)


def test_causal_lm_exports_as_text_generation_model(clm_run, tmp_path):
    from transformers import AutoConfig, AutoTokenizer, pipeline

    out = workflows.export(clm_run, "hf", tmp_path / "hf")
    config = AutoConfig.from_pretrained(str(out), local_files_only=True)
    assert config.architectures == ["GPT2LMHeadModel"] and not (out / "warmstart_head.safetensors").exists()

    _, cfg = load_run_config(clm_run)
    ours, val = pretrain_objective(cfg, clm_run, resolve_checkpoint(clm_run))
    ours.eval()
    assert ours.head.bias.abs().max() > 1e-3  # the trained bias is there to fold (else this test shows nothing)
    generator = pipeline("text-generation", model=str(out), device="cpu")
    batch = val.make_batch(list(range(min(4, val.n))))
    with torch.no_grad():
        mine = ours.head(ours.backbone(batch).tokens)
        theirs = generator.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert (mine - theirs).abs().max() < 1e-5

    # Prompts start with the document separator (as every pretraining document did), without [CLS]/[SEP] around.
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids = tokenizer("the cat")["input_ids"]
    sep = tokenizer.convert_tokens_to_ids("[SEP]")
    assert ids[0] == sep and sep not in ids[1:] and tokenizer.convert_tokens_to_ids("[CLS]") not in ids
    assert generator.model.generation_config.eos_token_id == sep

    # Greedy generation continues with the warmstart model's most likely next token.
    prompt = torch.tensor([ids])
    with torch.no_grad():
        feats = ours.backbone({"input_ids": prompt, "attention_mask": torch.ones_like(prompt)})
        first = int(ours.head(feats.tokens)[0, -1].argmax())
    text = generator("the cat", max_new_tokens=3, do_sample=False)[0]["generated_text"]
    expected = tokenizer.decode([first], skip_special_tokens=True).strip()
    assert text.startswith("the cat") and (first == sep or text[len("the cat"):].strip().startswith(expected))


@pytest.mark.parametrize("beta_scale", [0.0, 1.0])  # beta = 0 forces the shifted fold; a random beta the plain one
def test_fold_logit_bias_is_exact(beta_scale):
    torch.manual_seed(0)
    V, D = 50, 16
    w, b = torch.randn(V, D), torch.randn(V)
    ln = torch.nn.LayerNorm(D)
    with torch.no_grad():
        ln.weight.copy_(torch.rand(D) + 0.5)
        ln.bias.copy_(beta_scale * torch.randn(D))
    x = torch.randn(8, D) * 3
    with torch.no_grad():
        want = ln(x) @ w.T + b
        folded, beta = fold_logit_bias(w, b, ln.weight, ln.bias)
        ln.bias.copy_(beta)
        got = ln(x) @ folded.T
    assert (want - got).abs().max() < 1e-4
