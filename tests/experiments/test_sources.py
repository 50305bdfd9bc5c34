"""compare with named sources: a warmstart run, a local Hugging Face directory, scratch and a TF-IDF
baseline × two strategies on tiny fixtures - the cells, compare.json, the report's sections and
ranking, skipping finished cells on re-run, and one-line errors (exit 2) for bad names and paths."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from warmstart.config import parse_config
from warmstart.errors import ConfigError

TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}
SRC = str(Path(__file__).resolve().parents[2] / "src")



@pytest.fixture(scope="module")
def root(tiny_mlm_root):
    """A tiny masked-LM run, a tiny HF-format BERT directory (with that run's tokenizer) and a
    labelled CSV of 100 rows (a 70-example training pool)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tiny_mlm_root
    tok = AutoTokenizer.from_pretrained(str(root / "runs" / "pre" / "tokenizer"))
    bert = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=32, pad_token_id=tok.pad_token_id))
    bert.save_pretrained(str(root / "hf_tiny"))
    tok.save_pretrained(str(root / "hf_tiny"))
    return root


def body(root, **over):
    return {"run": {"name": "four", "out_dir": str(root / "runs")},
            "sources": {"own": str(root / "runs" / "pre"), "hf": {"hf": str(root / "hf_tiny")},
                        "scratch": {"scratch": "own"}, "tfidf": {"baseline": "tfidf_logreg"}},
            "strategies": [{"kind": "full"}, {"kind": "linear_probe"}],
            "label_budgets": [10, "all"], "seeds": [0, 1],
            "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
            "schedule": {"kind": "constant"}, "train": TRAIN, **over}


def test_sources_grid_cells(tmp_path):
    from warmstart.experiments.baselines import BaselineCell
    from warmstart.experiments.compare import cell_configs, reference_arm, starting_points

    cfg = parse_config(body(tmp_path), "compare", "cmp.yaml")
    assert [a.name for a in cfg.grid_arms()] == ["own_full", "hf_full", "scratch_full", "own_linear_probe",
                                                 "hf_linear_probe", "scratch_linear_probe", "tfidf"]
    cells = cell_configs(cfg, tmp_path / "four")
    assert len(cells) == 7 * 2 * 2
    by_name = {r["run_dir"]: (r, job) for r, job in cells}
    r, ft = by_name["cells/own_full_b10_s0"]
    assert (r["init"], r["source"], ft.init, ft.init_weights) == ("pretrained", "own", str(tmp_path / "runs/pre"),
                                                                   "pretrained")
    r, ft = by_name["cells/scratch_linear_probe_ball_s1"]
    assert r["init"] == "scratch" and ft.init_weights == "random" and ft.strategy.kind == "linear_probe"
    r, ft = by_name["cells/hf_full_b10_s1"]
    assert ft.init is None and ft.model.kind == "hf" and ft.model.pretrained_weights and ft.run.seed == 1
    r, job = by_name["cells/tfidf_b10_s0"]
    assert isinstance(job, BaselineCell) and r["init"] == "baseline" and r["strategy"] == "tfidf_logreg"
    assert job.data.label_budget == 10 and job.seed == 0
    assert reference_arm(cfg, starting_points(cfg)) == "scratch_full"

    # Scratch of an hf source: its architecture with random weights; explicit arms and a named reference.
    cfg = parse_config(body(tmp_path, sources={"hf": {"hf": str(tmp_path)}, "rand": {"scratch": "hf"}},
                            arms=[{"name": "probe", "source": "hf", "strategy": {"kind": "linear_probe"}},
                                  {"name": "rand", "source": "rand"}], reference="probe"), "compare", "cmp.yaml")
    (r, ft), *_ = [c for c in cell_configs(cfg, tmp_path / "x") if c[0]["arm"] == "rand"]
    assert ft.model.kind == "hf" and not ft.model.pretrained_weights and r["init"] == "scratch"
    assert reference_arm(cfg, starting_points(cfg)) == "probe"


@pytest.mark.parametrize("over, field", [
    ({"sources": {"a": {"scratch": "nope"}}}, "sources.a: scratch: 'nope' must name a run or hf source"),
    ({"sources": {"t": {"baseline": "tfidf_logreg"}, "s": {"scratch": "t"}}}, "must name a run or hf source"),
    ({"arms": [{"name": "x", "source": "missing"}]}, "unknown source 'missing'"),
    ({"arms": [{"name": "x", "init": "pretrained"}]}, "names no source"),
    ({"reference": "nobody"}, "reference: 'nobody' is not an arm"),
    ({"sources": {"t": {"baseline": "logreg"}}}, "baseline logreg takes image or vector data"),
    ({"sources": {"t": {"baseline": "svm"}}}, "sources.t"),
    ({"sources": {"t": {"hf": "x", "run": "y"}}}, "sources.t"),
    ({"pretrained": "runs/pre"}, "not both"),
    ({"inits": ["scratch"]}, "leave inits out"),
])
def test_bad_sources_are_one_line_config_errors(tmp_path, over, field):
    with pytest.raises(ConfigError, match=field) as e:
        parse_config(body(tmp_path, **over), "compare", "cmp.yaml")
    assert all(line.startswith("cmp.yaml: ") for line in str(e.value).splitlines())


def test_bad_source_paths_exit_2_with_one_line(tmp_path):
    for sources, expected in [({"own": str(tmp_path / "no_run")}, "sources.own: "),
                              ({"h": {"hf": str(tmp_path)}}, "sources.h: "),
                              ]:
        cfg = tmp_path / "cmp.yaml"
        cfg.write_text(yaml.safe_dump(body(tmp_path, sources=sources)))
        out = subprocess.run([sys.executable, "-m", "warmstart", "compare", str(cfg)], capture_output=True,
                             text=True, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}, timeout=120)
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and expected in out.stderr
        assert not (tmp_path / "runs" / "four" / "cells").exists()   # checked before any cell ran


def test_minilm_name_without_the_extra_is_a_config_error(tmp_path, monkeypatch):
    from warmstart.data import packaged
    from warmstart.experiments import sources

    monkeypatch.setattr(packaged, "minilm_dir", lambda: None)
    cfg = parse_config(body(tmp_path, sources={"m": {"hf": "minilm"}, "s": {"scratch": "m"}}), "compare", "c")
    with pytest.raises(ConfigError, match=r"sources.m: hf: minilm needs the optional extra.*warmstart\[minilm\]"):
        sources.resolve_sources(cfg.sources)


def test_four_sources_two_strategies_compare_report_and_rerun(root):
    from warmstart.experiments.compare import compare
    from warmstart.reports import write_report

    cfg = parse_config(body(root), "compare", "cmp.yaml")
    out = compare(cfg, jobs=1, say=lambda *_: None)
    summary = json.loads((out / "compare.json").read_text())
    cells = {c["run_dir"]: c for c in summary["cells"]}
    assert len(cells) == 28 and all(c["status"] == "done" for c in cells.values())
    assert summary["reference"] == "scratch_full" and summary["pretrained"] == str(root / "runs" / "pre")
    assert {k: v["kind"] for k, v in summary["sources"].items()} == {"own": "run", "hf": "hf", "scratch": "scratch",
                                                                     "tfidf": "baseline"}
    # Every arm sees the same split: same labels per budget and seed, baseline included.
    for b in ("10", "all"):
        for s in (0, 1):
            assert len({c["n_labels"] for k, c in cells.items() if k.endswith(f"_b{b}_s{s}")}) == 1
    tfidf = cells["cells/tfidf_b10_s0"]
    assert tfidf["steps"] == 0 and 0 <= tfidf["test"]["acc"] <= 1 and tfidf["params_trained"] > 0
    assert (out / "cells" / "tfidf_b10_s0" / "config.json").is_file()
    hf = cells["cells/hf_linear_probe_b10_s0"]
    assert hf["params_trained"] < hf["params_total"]

    # Re-running skips every finished cell; a deleted baseline result is redone.
    (out / "cells" / "tfidf_ball_s1" / "result.json").unlink()
    said = []
    compare(cfg, jobs=1, say=said.append)
    assert "  27 cells already complete, 1 to run" in said
    again = json.loads((out / "compare.json").read_text())["cells"]
    assert [c["test"] for c in again] == [c["test"] for c in summary["cells"]]   # the baseline is deterministic

    md = (write_report(out).parent / "report.md").read_text().replace("\\_", "_")   # markdown-escaped names
    for section in ("## Ranking", "## Data efficiency", "## Lift over scratch_full", "## Labels saved", "## Lineage"):
        assert section in md, section
    assert "Reference arm: scratch_full" in md and "tfidf = baseline tfidf_logreg" in md
    ranking = md.split("## Ranking", 1)[1].split("## ", 1)[0]
    assert "| 10 |" in ranking and "| 70 |" in ranking
    for arm in ("own_full", "hf_full", "scratch_linear_probe", "tfidf"):
        assert arm in ranking
