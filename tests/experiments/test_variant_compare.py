"""compare with quantize and prune sources: each variant cell is its `of` arm's cell at the same budget
and seed, quantized or pruned, scored on the same test split, listed in compare.json and drawn in the
report; bad variant sources fail with one line."""

import json

import pytest

from warmstart.cli import main
from warmstart.config import parse_config
from warmstart.config.sections.sources import QUANT_METHODS
from warmstart.errors import ConfigError
from warmstart.experiments.compare import compare
from warmstart.reports.render import write_report
from warmstart.workflows.quantize import METHODS

TRAIN = {"max_steps": 4, "batch_size": 16, "eval_every": 2, "log_every": 2, "progress": False}


def _raw(root, **sources):
    return {"run": {"name": "variants", "out_dir": str(root / "runs")},
            "sources": {"own": str(root / "runs" / "pre"), "scratch": {"scratch": "own"}, **sources},
            "label_budgets": [8, 16], "seeds": [0],
            "data": {"kind": "labeled_text", "path": str(root / "labeled.csv"), "max_len": 16},
            "train": TRAIN}


def test_quantized_and_pruned_arms_are_cells_of_their_source(tiny_mlm_root):
    raw = {**_raw(tiny_mlm_root, own_w8={"quantize": "weight-only-int8", "of": "own"},
                  own_p50={"prune": 0.5, "of": "own", "recover_steps": 2}),
           "arms": [{"name": "own", "source": "own"}, {"name": "own_w8", "source": "own_w8"},
                    {"name": "own_p50", "source": "own_p50"}]}
    out = compare(parse_config(raw, "compare", "v.yaml"), say=lambda *_: None)
    summary = json.loads((out / "compare.json").read_text())
    cells = {(c["arm"], c["label_budget"]): c for c in summary["cells"]}
    assert {a for a, _ in cells} == {"own", "own_w8", "own_p50"}
    for budget in (8, 16):
        own, q, p = cells["own", budget], cells["own_w8", budget], cells["own_p50", budget]
        assert q["init"] == "quantized" and p["init"] == "pruned"
        assert q["n_labels"] == p["n_labels"] == own["n_labels"] == budget
        # derived from the same-budget, same-seed cell of `own`, whose test metrics they record as the source's
        for c in (q, p):
            result = json.loads((out / c["run_dir"] / "result.json").read_text())
            assert result["source_test"] == own["test"] and c["variant"]["of_run_dir"] == str(out / own["run_dir"])
        assert q["variant"]["file_mb"] < q["variant"]["fp32_mb"]  # int8 weights
        assert 0.45 < p["variant"]["sparsity_achieved"] < 0.55
        assert p["steps"] == 2 and (out / p["run_dir"] / "variant_metrics.jsonl").is_file()
    # the variant run directories load through evaluate like any run
    assert main(["evaluate", str(out / cells["own_w8", 8]["run_dir"])]) == 0

    report = write_report(out).read_text()
    assert "Quantized and pruned arms" in report and "weight-only-int8" in report and "pruned 50%" in report
    assert "own_w8" in report.split("Data efficiency")[1]  # on the data-efficiency table too

    # A re-run finds every cell finished (variants included) and trains nothing.
    said = []
    compare(parse_config(raw, "compare", "v.yaml"), say=said.append)
    assert any("6 cells already complete, 0 to run" in s for s in said)


def test_bad_variant_sources_fail_with_one_line(tiny_mlm_root, capsys):
    bad = [({"q": {"quantize": "int4", "of": "own"}}, "sources.q"),
           ({"q": {"quantize": "static-int8", "of": "own", "backend": "torch"}}, "static-int8 runs on onnxruntime"),
           ({"q": {"quantize": "dynamic-int8", "of": "nobody"}}, "sources.q: of: 'nobody' must name an arm"),
           ({"q": {"quantize": "dynamic-int8", "of": "own"}, "r": {"prune": 0.5, "of": "q"}},
            "sources.r: of: 'q' must name an arm with fine-tuned cells"),
           ({"p": {"prune": 1.5, "of": "own"}}, "sources.p.prune: Input should be less than 1"),
           ({"p": {"prune": 0.5, "of": "own", "structured": "rows"}}, "sources.p.structured: "),
           ({"p": {"prune": 0.5, "quantize": "dynamic-int8", "of": "own"}}, "sources.p: expected a run path, or a "
            "mapping with exactly one of")]
    for sources, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_config(_raw(tiny_mlm_root, **sources), "compare", "v.yaml")
    path = tiny_mlm_root / "bad.yaml"
    path.write_text(json.dumps(_raw(tiny_mlm_root, q={"quantize": "dynamic-int8", "of": "nobody"})))
    assert main(["compare", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must name an arm" in err


def test_schema_methods_match_quantize():
    assert QUANT_METHODS == METHODS
