"""Token classification through the real CLI: pretrain -> finetune -> evaluate -> predict ->
export -> compare (2 budgets) -> report, and bad tagged files -> exit 2 with one line."""

import json
import random
import subprocess
import sys

import pytest
from tests.e2e.conftest import check_compare_and_report
from tests.e2e.test_cli import ws

PEOPLE = ["Anna", "Boris", "Chen", "Dana", "Emil"]
PLACES = ["Paris", "Oslo", "Lima", "Kyiv", "Accra"]
FILLER = ["the", "visit", "was", "long", "and", "quiet", "today", "we", "saw", "it"]


def _sentence(rng):
    """Tokens and IOB2 tags: filler words around a person (one or two words) and a place."""
    tokens, tags = rng.choices(FILLER, k=rng.randint(1, 3)), []
    tags = ["O"] * len(tokens)
    person = rng.sample(PEOPLE, rng.randint(1, 2))
    tokens += person + ["met"] + rng.choices(FILLER, k=rng.randint(0, 2)) + ["in", rng.choice(PLACES)]
    tags += ["B-PER"] + ["I-PER"] * (len(person) - 1) + ["O"] * (len(tokens) - len(tags) - len(person) - 1) + ["B-LOC"]
    return tokens, tags


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagging")
    rng = random.Random(0)
    sents = [_sentence(rng) for _ in range(160)]
    (root / "tagged.jsonl").write_text("".join(json.dumps({"tokens": t, "tags": g}) + "\n" for t, g in sents))
    (root / "corpus.txt").write_text("\n".join(" ".join(_sentence(rng)[0]) for _ in range(300)) + "\n")
    train = "{max_steps: 10, batch_size: 16, eval_every: 5, log_every: 5, progress: false}"
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt, max_len: 24, val_frac: 0.1}}
tokenizer: {{kind: wordpiece, vocab_size: 120}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 32, n_heads: 2}}
objective: {{kind: masked_lm}}
train: {train}
""")
    data = f"{{kind: tagged_text, path: {root}/tagged.jsonl, format: jsonl, max_len: 24}}"
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {data}
init: {root}/runs/pre
task: {{kind: token_classification, label_all_subtokens: true}}
optim: {{kind: adamw, lr: 0.003}}
train: {{max_steps: 24, batch_size: 16, eval_every: 12, log_every: 12, progress: false}}
""")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/pre
label_budgets: [20, 60]
seeds: [0]
data: {data}
task: {{kind: token_classification}}
train: {{max_steps: 4, batch_size: 16, eval_every: 2, progress: false}}
""")
    return root


def test_tagging_lifecycle(workspace):
    root = workspace
    ws("pretrain", root / "pre.yaml")
    ws("finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert {"f1", "precision", "recall", "token_acc"} <= set(res["test"])
    assert res["test"]["token_acc"] > 0.6  # the tags are easy; "O" alone would give about 0.6

    ev = json.loads(ws("evaluate", ft, "--split", "test").stdout)
    assert ev["f1"] == pytest.approx(res["test"]["f1"]) and ev["token_acc"] == pytest.approx(res["test"]["token_acc"])

    line = "Dana  Emil met   them in Oslo."
    (root / "inputs.txt").write_text(line + "\n")
    (pred,) = [json.loads(x) for x in ws("predict", ft, root / "inputs.txt").stdout.splitlines()]
    assert pred["text"] == line
    assert pred["tokens"] == ["Dana", "Emil", "met", "them", "in", "Oslo", "."] and len(pred["tags"]) == 7
    for ent in pred["entities"]:  # character offsets point into the input line
        assert line[ent["start"]:ent["end"]] == ent["text"] and ent["type"] in ("PER", "LOC")

    ws("export", ft, "--format", "hf", "--out", root / "hf")
    code = f"from transformers import AutoModel; AutoModel.from_pretrained({str(root / 'hf')!r}, local_files_only=True)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_tagging_compare_and_report(workspace):
    root = workspace
    if not (root / "runs" / "pre" / "result.json").exists():
        ws("pretrain", root / "pre.yaml")
    ws("compare", root / "cmp.yaml")
    check_compare_and_report(root, "f1", (20, 60))


@pytest.mark.parametrize("content, needle", [
    ('{"tokens": ["Anna", "met"], "tags": ["I-PER", "O"]}\n', "line 1: tag 'I-PER' after"),
    ('{"tokens": ["x"], "tags": ["O"]}\n{"tokens": ["Anna", "met"], "tags": ["B-PER"]}\n',
     "line 2: 2 tokens but 1 tags"),
])
def test_bad_tagged_file_exits_2_with_one_line(workspace, tmp_path, content, needle):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    out = ws("finetune", workspace / "ft.yaml", "--set", "run.name=bad", "--set", f"data.path={bad}", check=False)
    err = out.stderr.strip()
    assert out.returncode == 2 and err.startswith("error: ") and "\n" not in err, err
    assert str(bad) in err and needle in err
