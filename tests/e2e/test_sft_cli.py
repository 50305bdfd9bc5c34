"""Instruction tuning through the real CLI, on real text (the first embedded demo tweets as
instructions): causal-LM pretrain -> finetune with LoRA -> evaluate -> predict (prompts and chats)
-> export (transformers' AutoModelForCausalLM + the tokenizer's chat template generate the same
completions) -> compare (a warmstart run, its scratch twin and a local HF dir; 2 budgets) -> report."""

import json

import pytest
from tests.e2e.test_cli import ws
from tests.tasks.test_sft import make_tokenizer, write_gpt2_dir, write_jsonl

from warmstart.data.instructions import demo_instruction_records

RECORDS = demo_instruction_records()[:100]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    write_jsonl(root / "data.jsonl", [{"prompt": r["messages"][0]["content"], "completion": r["completion"]}
                                      for r in RECORDS])
    (root / "corpus.txt").write_text("\n".join(r["text"] for r in demo_instruction_records()[100:400]) + "\n")
    write_gpt2_dir(root / "hf", make_tokenizer())
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt, max_len: 96, val_frac: 0.1}}
tokenizer: {{kind: bpe, vocab_size: 300}}
model: {{kind: transformer, arch: gpt2, size: tiny, n_layers: 1, d_model: 32, n_heads: 2}}
objective: {{kind: causal_lm}}
train: {{max_steps: 6, batch_size: 8, eval_every: 6, log_every: 3, progress: false}}
""")
    data = f"{{kind: instructions, path: {root}/data.jsonl, max_len: 96, max_val: 10, max_test: 10}}"
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {data}
init: {root}/runs/pre
task: {{kind: sft, metric: exact_match, max_new_tokens: 3}}
strategy: {{kind: lora, r: 4}}
optim: {{kind: adamw, lr: 0.01}}
train: {{max_steps: 8, batch_size: 8, eval_every: 4, log_every: 4, progress: false}}
""")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
sources: {{pretrained: {root}/runs/pre, scratch: {{scratch: pretrained}}, hf: {{hf: {root}/hf}}}}
label_budgets: [20, 40]
seeds: [0]
data: {data}
task: {{kind: sft, metric: exact_match, max_new_tokens: 2}}
train: {{max_steps: 2, batch_size: 8, eval_every: 2, progress: false}}
""")
    return root


@pytest.mark.slow  # ~1-2 min on 2 busy cores: 3 CLI trainings, 6 compare cells, an export
def test_sft_lifecycle(workspace):
    root = workspace
    ws("pretrain", root / "pre.yaml")
    ws("finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert {"loss", "ppl", "exact_match", "chrf", "rouge_l"} <= set(res["test"])
    assert (ft / "checkpoints" / "step_000008" / "adapter.safetensors").is_file()  # LoRA: adapters on their own

    ev = json.loads(ws("evaluate", ft, "--split", "test").stdout)
    assert ev["exact_match"] == pytest.approx(res["test"]["exact_match"]) and ev["loss"] == pytest.approx(
        res["test"]["loss"])

    # Short prompts: transformers' generate does not cut a prompt to the model's 96 positions (predict does).
    chats = [[{"role": "user", "content": "Tweet: so happy today\nSentiment:"}],
             [{"role": "system", "content": "Answer in one word."},
              {"role": "user", "content": "Tweet: what a day\nSentiment:"}]]
    write_jsonl(root / "chats.jsonl", [{"messages": m} for m in chats])
    preds = [json.loads(x) for x in ws("predict", ft, root / "chats.jsonl").stdout.splitlines()]
    assert [p["input"] for p in preds] == ["chats.jsonl:1", "chats.jsonl:2"]
    assert all(isinstance(p["completion"], str) and 1 <= p["n_tokens"] <= 3 for p in preds)
    (root / "prompts.txt").write_text("Tweet: sunny again\n")
    (line,) = [json.loads(x) for x in ws("predict", ft, root / "prompts.txt").stdout.splitlines()]
    assert line["input"] == "Tweet: sunny again"

    # The export is a plain transformers causal LM (LoRA merged) whose tokenizer carries the plain
    # template as its chat template: transformers alone generates what `warmstart predict` printed.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws("export", ft, "--format", "hf", "--out", root / "export")
    model = AutoModelForCausalLM.from_pretrained(root / "export", local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(root / "export", local_files_only=True)
    for messages, pred in zip(chats, preds, strict=True):
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        out = model.generate(**enc)  # greedy, max_new_tokens and EOS from the exported generation_config.json
        text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        assert text == pred["completion"]

    ws("compare", root / "cmp.yaml")
    summary = json.loads((root / "runs" / "cmp" / "compare.json").read_text())
    assert summary["metric"] == "exact_match" and summary["higher_is_better"] is True
    assert {(c["arm"], c["n_labels"]) for c in summary["cells"]} == {(a, n) for a in ("pretrained", "scratch", "hf")
                                                                    for n in (20, 40)}
    assert ws("report", root / "runs" / "cmp").stdout.strip().endswith("report.html")
    assert "Headline metric: test exact\\_match" in (root / "runs" / "cmp" / "report.md").read_text()
