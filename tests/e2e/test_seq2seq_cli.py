"""Text-to-text through the real CLI on real pairs (80 short Hebrew Treebank sentences -> their
lemmas, tests/fixtures/lemmas.jsonl): span-corruption pretrain -> finetune -> evaluate -> predict ->
export (transformers' AutoModelForSeq2SeqLM and AutoTokenizer generate what `warmstart predict`
printed) -> compare (2 budgets) -> report; a record with an empty target -> exit 2, one line."""

import json
from pathlib import Path

import pytest
import torch
from tests.e2e.conftest import check_compare_and_report
from tests.e2e.test_cli import ws

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lemmas.jsonl"
MODEL = "{kind: transformer, arch: t5, n_layers: 1, d_model: 32, n_heads: 2, d_ff: 64, dropout: 0.0}"
TRAIN = "max_steps: 8, batch_size: 8, eval_every: 4, log_every: 4, progress: false, num_threads: 1"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2s")
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    (root / "corpus.txt").write_text("\n".join(r["sentence"] for r in rows) + "\n", encoding="utf-8")
    data = (f"{{kind: seq2seq_text, path: {FIXTURE}, source_field: sentence, target_field: lemmas, max_len: 24, "
            f"max_target_len: 24}}")
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt, max_len: 24, val_frac: 0.1}}
tokenizer: {{kind: bpe, vocab_size: 300, min_frequency: 1}}
model: {MODEL}
objective: {{kind: span_corruption}}
train: {{{TRAIN}}}
""", encoding="utf-8")
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {data}
init: {root}/runs/pre
task: {{kind: seq2seq, generation: {{num_beams: 2, max_new_tokens: 12}}}}
optim: {{kind: adamw, lr: 0.003}}
train: {{{TRAIN}}}
""", encoding="utf-8")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/pre
label_budgets: [16, 40]
seeds: [0]
data: {data}
task: {{kind: seq2seq, generation: {{max_new_tokens: 8}}}}
train: {{max_steps: 2, batch_size: 8, eval_every: 2, progress: false, num_threads: 1}}
""", encoding="utf-8")
    return root


@pytest.mark.slow
def test_seq2seq_lifecycle(workspace):
    root = workspace
    ws("pretrain", root / "pre.yaml")
    pre = json.loads((root / "runs" / "pre" / "result.json").read_text())
    assert pre["val"]["loss"] > 0 and pre["steps"] == 8
    ws("finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert {"loss", "exact_match", "chrf", "rouge_l"} <= set(res["test"])
    ev = json.loads(ws("evaluate", ft, "--split", "test").stdout)
    assert ev["chrf"] == pytest.approx(res["test"]["chrf"]) and ev["loss"] == pytest.approx(res["test"]["loss"])

    texts = ["חבל .", "איש לא התכוון לכך ."]
    (root / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    preds = [json.loads(x) for x in ws("predict", ft, root / "in.txt").stdout.splitlines()]
    assert [p["text"] for p in preds] == texts and all(isinstance(p["output"], str) for p in preds)

    # The export is transformers' seq2seq LM with its tokenizer: the same ids in, the same text out.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ws("export", ft, "--format", "hf", "--out", root / "hf")
    model = AutoModelForSeq2SeqLM.from_pretrained(root / "hf", local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(root / "hf", local_files_only=True)
    enc = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, num_beams=2, max_new_tokens=12, do_sample=False)
    decoded = [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)]
    assert decoded == [p["output"] for p in preds]

    ws("compare", root / "cmp.yaml")
    check_compare_and_report(root, "chrf", (16, 40))


def test_empty_target_exits_2_with_one_line(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sentence": "a b", "lemmas": "a b"}) + "\n" + json.dumps({"sentence": "c", "lemmas": ""})
                   + "\n", encoding="utf-8")
    out = ws("finetune", workspace / "ft.yaml", "--set", "run.name=bad", "--set", f"data.path={bad}", check=False)
    err = out.stderr.strip()
    assert out.returncode == 2 and err.startswith("error: ") and "\n" not in err, err
    assert f"{bad}: line 2: field 'lemmas' must be a non-empty string" in err
