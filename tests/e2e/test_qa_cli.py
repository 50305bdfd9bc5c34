"""Extractive QA through the real CLI: pretrain -> finetune (SQuAD v2 file) -> evaluate -> predict
(answer text, character offsets, score) -> export (transformers' AutoModelForQuestionAnswering gives
the same logits) -> compare (2 budgets) -> report; an answer not in its context -> exit 2, one line."""

import json
import random

import pytest
import torch
from tests.e2e.conftest import check_compare_and_report
from tests.e2e.test_cli import ws

PEOPLE = ["Anna", "Boris", "Chen", "Dana", "Emil", "Farah"]
PLACES = ["Paris", "Oslo", "Lima", "Kyiv", "Accra", "Quito"]
FILLER = ["the", "visit", "was", "long", "and", "quiet", "today", "we", "saw", "it", "rain", "fell"]


def _paragraph(rng, n):
    """A context with a meeting (person, place) among filler sentences, and its questions: who
    (answerable), where (answerable, two references when the place is said twice), and who
    paid (unanswerable)."""
    who, where = rng.choice(PEOPLE), rng.choice(PLACES)
    filler = " ".join(rng.choices(FILLER, k=rng.randint(4, 14)))
    context = f"{filler.capitalize()}. Then {who} travelled to {where} by train."
    if rng.random() < 0.5:
        context += f" {where} was cold."
    qas = [{"id": f"{n}-who", "question": "Who travelled?",
            "answers": [{"text": who, "answer_start": context.index(f"Then {who}") + 5}]},
           {"id": f"{n}-where", "question": "Where did they travel?",
            "answers": [{"text": where, "answer_start": i} for i in _all(context, where)]},
           {"id": f"{n}-paid", "question": "Who paid?", "answers": [], "is_impossible": True}]
    return {"context": context, "qas": qas}


def _all(text, sub):
    return [i for i in range(len(text)) if text.startswith(sub, i)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    rng = random.Random(0)
    doc = {"version": "v2.0", "data": [{"title": "trips", "paragraphs": [_paragraph(rng, n) for n in range(90)]}]}
    (root / "squad.json").write_text(json.dumps(doc))
    corpus = [_paragraph(rng, 0)["context"] for _ in range(300)]
    (root / "corpus.txt").write_text("\n".join(corpus) + "\n")
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt, max_len: 32, val_frac: 0.1}}
tokenizer: {{kind: wordpiece, vocab_size: 150}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 32, n_heads: 2}}
objective: {{kind: masked_lm}}
train: {{max_steps: 10, batch_size: 16, eval_every: 5, log_every: 5, progress: false}}
""")
    data = f"{{kind: squad, path: {root}/squad.json, max_len: 32, doc_stride: 6, max_question_len: 8}}"
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {data}
init: {root}/runs/pre
task: {{kind: extractive_qa}}
optim: {{kind: adamw, lr: 0.003}}
train: {{max_steps: 30, batch_size: 16, eval_every: 15, log_every: 15, progress: false}}
""")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/pre
label_budgets: [30, 90]
seeds: [0]
data: {data}
task: {{kind: extractive_qa}}
train: {{max_steps: 4, batch_size: 16, eval_every: 2, progress: false}}
""")
    return root


def test_qa_lifecycle(workspace):
    root = workspace
    ws("pretrain", root / "pre.yaml")
    ws("finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert {"exact", "f1", "has_ans_f1", "no_ans_f1", "best_f1", "threshold"} <= set(res["test"])
    # A third of the questions are unanswerable: answering all of them "no answer" scores 1/3; the
    # threshold fitted on val may do that, but no worse.
    assert res["test"]["f1"] >= 0.3

    ev = json.loads(ws("evaluate", ft, "--split", "test").stdout)
    assert ev["f1"] == pytest.approx(res["test"]["f1"]) and ev["exact"] == pytest.approx(res["test"]["exact"])

    context = "It rained   all day.  Then Emil travelled to Quito by train. Quito was cold, said   Émile."
    (root / "q.jsonl").write_text(json.dumps({"id": "x", "question": "Who travelled?", "context": context}) + "\n")
    (pred,) = [json.loads(x) for x in ws("predict", ft, root / "q.jsonl").stdout.splitlines()]
    assert pred["id"] == "x" and isinstance(pred["no_answer"], bool) and pred["n_best"]
    for cand in pred["n_best"]:  # character offsets point into the context
        assert context[cand["start"]:cand["end"]] == cand["text"]
    if not pred["no_answer"]:
        assert context[pred["start"]:pred["end"]] == pred["answer"] and pred["score"] == pred["n_best"][0]["score"]

    # The export is transformers' QA model: same logits as warmstart's module on the same input.
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from warmstart.workflows import load_predictor

    ws("export", ft, "--format", "hf", "--out", root / "hf")
    model = AutoModelForQuestionAnswering.from_pretrained(root / "hf", local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(root / "hf", local_files_only=True)
    question, short = "Who travelled?", "Then Dana travelled to Lima."
    enc = tok(question, short, return_tensors="pt")
    module, inputs, _ = load_predictor(ft)
    batch = inputs.predict_set([{"question": question, "context": short}]).make_batch([0])
    assert enc["input_ids"].tolist() == batch["input_ids"].tolist()  # [CLS] q [SEP] c [SEP], one window
    assert enc["token_type_ids"].tolist() == batch["token_type_ids"].tolist()
    with torch.no_grad():
        ours = module.logits(batch)
        theirs = model(**enc)
    torch.testing.assert_close(theirs.start_logits, ours[..., 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(theirs.end_logits, ours[..., 1], atol=1e-5, rtol=1e-5)


def test_qa_compare_and_report(workspace):
    root = workspace
    if not (root / "runs" / "pre" / "result.json").exists():
        ws("pretrain", root / "pre.yaml")
    ws("compare", root / "cmp.yaml")
    check_compare_and_report(root, "f1", (30, 90))


def test_answer_not_in_context_exits_2_with_one_line(workspace, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Anna went to Oslo.", "qas": [
        {"id": "q1", "question": "Who?", "answers": [{"text": "Anna", "answer_start": 0}]},
        {"id": "q2", "question": "Where?", "answers": [{"text": "Lima", "answer_start": 13}]}]}]}]}))
    out = ws("finetune", workspace / "ft.yaml", "--set", "run.name=bad", "--set", f"data.path={bad}", check=False)
    err = out.stderr.strip()
    assert out.returncode == 2 and err.startswith("error: ") and "\n" not in err, err
    assert str(bad) in err and "question q2: answer 'Lima' not found in its context" in err
