"""Per-group metrics (data.group_field), the bias check: result.json's test_by_group and
`warmstart evaluate --by-group`, through the real CLI in-process."""

import io
import json
import random
from contextlib import redirect_stdout

import pytest

from warmstart.cli import main


@pytest.fixture(scope="module")
def grouped_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    rng = random.Random(0)
    words = {"pos": ["great", "love", "good"], "neg": ["bad", "hate", "awful"]}
    rows = ["text,label,source"]
    for i in range(120):
        label, source = rng.choice(["pos", "neg"]), rng.choice(["forum", "news", "mail"])
        rows.append(f"{' '.join(rng.choices(words[label], k=2))} item {i % 7},{label},{source}")
    (root / "data.csv").write_text("\n".join(rows) + "\n")
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {{kind: labeled_text, path: {root}/data.csv, max_len: 8, group_field: source}}
tokenizer: {{kind: wordpiece, vocab_size: 100}}
model: {{kind: transformer, arch: bert, size: tiny, n_layers: 1, d_model: 16, n_heads: 2}}
train: {{max_steps: 4, batch_size: 8, eval_every: 2, num_threads: 1, progress: false}}
""")
    assert main(["finetune", str(root / "ft.yaml")]) == 0
    return root


def test_result_has_per_group_test_metrics_that_add_up(grouped_run):
    result = json.loads((grouped_run / "runs" / "ft" / "result.json").read_text())
    by_group = result["test_by_group"]
    groups = by_group["groups"]
    assert set(groups) == {"forum", "news", "mail"} and by_group["metric"] == "acc"
    # Relational: the groups partition the test split, so example-weighted group metrics give the overall ones.
    n = sum(g["n"] for g in groups.values())
    assert n == 24  # test_frac 0.2 of 120
    for metric in ("acc", "loss"):
        assert sum(g["n"] * g[metric] for g in groups.values()) / n == pytest.approx(result["test"][metric], abs=1e-6)
    accs = {name: g["acc"] for name, g in groups.items()}
    assert accs[by_group["worst"]] == min(accs.values()) and accs[by_group["best"]] == max(accs.values())
    assert by_group["gap"] == pytest.approx(max(accs.values()) - min(accs.values()))


def test_evaluate_by_group_matches_the_result(grouped_run, capsys):
    run = grouped_run / "runs" / "ft"
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["evaluate", str(run), "--by-group"]) == 0
    shown = json.loads(out.getvalue())
    result = json.loads((run / "result.json").read_text())
    assert shown["split"] == "test" and shown["acc"] == pytest.approx(result["test"]["acc"])
    by_group, saved = shown["by_group"], result["test_by_group"]
    assert {k: by_group[k] for k in ("metric", "worst", "best")} == {k: saved[k] for k in ("metric", "worst", "best")}
    for group, metrics in saved["groups"].items():
        shown_metrics = dict(by_group["groups"][group])
        assert shown_metrics.pop("recall") == pytest.approx(metrics.pop("recall"))  # per class
        assert shown_metrics == pytest.approx(metrics)
    assert by_group["recall_gap"] == pytest.approx(saved["recall_gap"])


def test_group_field_errors_are_one_line(grouped_run, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label,source\ngood one,pos,forum\nbad one,neg,\n")
    cfg = tmp_path / "ft.yaml"
    recipe = (grouped_run / "ft.yaml").read_text().replace(f"{grouped_run}/runs", f"{tmp_path}/runs")
    cfg.write_text(recipe.replace(str(grouped_run / "data.csv"), str(bad)))
    assert main(["finetune", str(cfg)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {bad}: line 3: group 'source' must be a non-empty string or "
                                               "number, got ''")
    cfg.write_text(recipe.replace("group_field: source", "group_field: region"))
    assert main(["finetune", str(cfg)]) == 2
    assert "no column 'region' (columns: text, label, source)" in capsys.readouterr().err
