"""Word vectors through the real verbs: pretrain (word2vec) -> evaluate -> export -> fine-tune and
compare an embedding-table classifier started from the vectors vs a random table.

In-process (cli.main) rather than subprocesses: each subprocess would pay the torch import again."""

import json

import numpy as np
import pytest

from warmstart.cli import main
from warmstart.wordvec import load_vectors, load_word2vec_format


@pytest.fixture(scope="module")
def root(toy_text):
    root = toy_text
    (root / "w2v.yaml").write_text(f"""# warmstart pretrain w2v.yaml
run: {{name: w2v, out_dir: {root}/runs}}
data: {{kind: corpus, path: {root}/corpus.txt}}
objective: {{kind: word2vec, arch: cbow, d_model: 16, window: 3, min_count: 2, epochs: 3, workers: 1, sample: 0, analogy_vocab: 100}}
""")  # noqa: E501 - the config file is written as a user writes it, one section per line
    train = "{max_steps: 8, batch_size: 16, eval_every: 4, log_every: 4, progress: false}"
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft-cnn, out_dir: {root}/runs}}
data: {{kind: labeled_text, path: {root}/labeled.csv, max_len: 16, label_budget: 40}}
model: {{kind: embedding, encoder: cnn, vectors: {root}/runs/w2v, d_hidden: 4, kernel_sizes: [2, 3], freeze_embeddings: true}}
train: {train}
""")  # noqa: E501 - the config file is written as a user writes it, one section per line
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/w2v
arms:
  - {{name: pretrained, init: pretrained}}
  - {{name: frozen, init: pretrained, strategy: {{kind: linear_probe}}}}
  - {{name: scratch, init: scratch}}
label_budgets: [40]
seeds: [0]
data: {{kind: labeled_text, path: {root}/labeled.csv, max_len: 16}}
optim: {{kind: adamw, lr: 1.0e-2}}
train: {train}
""")
    assert main(["pretrain", str(root / "w2v.yaml")]) == 0
    return root


def test_pretrain_writes_vectors_metrics_and_scores(root):
    run = root / "runs" / "w2v"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["verb"] == "pretrain" and cfg["objective"]["kind"] == "word2vec" and cfg["model"] is None
    epochs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and all(e["loss"] > 0 for e in epochs)
    result = json.loads((run / "result.json").read_text())
    vectors, words = load_vectors(run)
    assert result["vocab_size"] == len(words) == 24 and vectors.shape == (24, 16)
    assert result["losses"] == [e["loss"] for e in epochs]
    # The benchmarks' words are mostly missing from this toy corpus: every pair is counted as OOV.
    ws = json.loads((run / "eval.json").read_text())["wordsim353"]
    assert ws["n_pairs"] + ws["oov"] == 353


def test_evaluate_prints_the_benchmark_table(root, capsys):
    assert main(["evaluate", str(root / "runs" / "w2v")]) == 0
    out = capsys.readouterr().out
    assert "WordSim353 rho" in out and "SimLex-999 rho" in out and "analogy acc" in out
    assert main(["evaluate", str(root / "runs" / "w2v"), "--split", "test"]) == 2
    assert "not on a split" in capsys.readouterr().err


@pytest.mark.parametrize("fmt, name", [("word2vec", "vectors.txt"), ("word2vec-binary", "vectors.bin"),
                                       ("safetensors", "st")])
def test_export_formats_round_trip(root, fmt, name):
    vectors, words = load_vectors(root / "runs" / "w2v")
    out = root / "export" / name
    assert main(["export", str(root / "runs" / "w2v"), "--format", fmt, "--out", str(out)]) == 0
    got, got_words = load_vectors(out) if fmt == "safetensors" else load_word2vec_format(out)
    assert got_words == words
    np.testing.assert_array_equal(got, vectors)


def test_word_vector_recipe_errors_are_one_line(root, capsys):
    for extra, needle in [(["--set", "train.max_steps=5"], "train: not used by objective.kind=word2vec"),
                          (["--set", "init=runs/x"], "init: objective.kind=word2vec trains new vectors"),
                          (["--set", "model.kind=mlp"], "use model.kind=embedding")]:
        assert main(["pretrain", str(root / "w2v.yaml"), "--overwrite", *extra]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_finetune_cnn_on_the_vectors_keeps_the_frozen_table(root):
    assert main(["finetune", str(root / "ft.yaml")]) == 0
    run = root / "runs" / "ft-cnn"
    assert 0 <= json.loads((run / "result.json").read_text())["test"]["acc"] <= 1
    # The table came from the vectors through the run's word tokenizer and stayed frozen: exporting
    # the fine-tuned run's table gives back the pretrained vectors, word for word.
    assert main(["export", str(run), "--format", "safetensors", "--out", str(root / "ft_table")]) == 0
    table, table_words = load_vectors(root / "ft_table")
    vectors, words = load_vectors(root / "runs" / "w2v")
    assert table_words == words
    np.testing.assert_array_equal(table, vectors)


def test_compare_pretrained_frozen_and_random_tables(root):
    assert main(["compare", str(root / "cmp.yaml")]) == 0
    summary = json.loads((root / "runs" / "cmp" / "compare.json").read_text())
    cells = {c["arm"]: c for c in summary["cells"]}
    assert set(cells) == {"pretrained", "frozen", "scratch"}
    assert (cells["frozen"]["params_trained"] < cells["pretrained"]["params_trained"]
            == cells["scratch"]["params_trained"])
    cell_cfg = json.loads((root / "runs" / "cmp" / "cells" / "scratch_b40_s0" / "config.json").read_text())
    assert cell_cfg["init_weights"] == "random" and cell_cfg["lineage"]["init"] == str(root / "runs" / "w2v")
