"""bench-deploy: one row per variant with its own test score against the reference (no timing asserted:
only that the timed columns are filled); bad inputs fail with one line and exit 2 through the CLI."""

import json

import pytest

from warmstart import workflows
from warmstart.cli import main
from warmstart.workflows.bench_deploy import bench_deploy, format_table
from warmstart.workflows.prune import prune
from warmstart.workflows.quantize import quantize

pytest.importorskip("onnxruntime", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxscript", reason="the deploy extra (onnx, onnxscript, onnxruntime) is not installed")


@pytest.fixture(scope="module")
def runs(tiny_text_csv, tiny_finetune_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    workflows.finetune(tiny_finetune_config(tiny_text_csv, tmp), say=lambda *_: None)
    quantize(tmp / "ft", "weight-only-int8", out=tmp / "w8", say=lambda *_: None)
    prune(tmp / "ft", 0.5, "neurons", out=tmp / "pn", say=lambda *_: None)
    return tmp


def test_table_rows_and_deltas(runs, tmp_path):
    out = tmp_path / "deploy.json"
    table = bench_deploy(runs / "ft", [runs / "w8", runs / "pn"], threads=1, calls=20, out=out, say=lambda *_: None)
    rows = {r["variant"]: r for r in table["rows"]}
    assert list(rows) == ["fine-tuned fp32 (torch)", "fp32 (onnxruntime)", "weight-only-int8 (torch)",
                          "pruned neurons 50%"]
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(table["rows"]))
    for name, source in [("weight-only-int8 (torch)", runs / "w8"), ("pruned neurons 50%", runs / "pn")]:
        assert rows[name]["acc"] == json.loads((source / "result.json").read_text())["test"]["acc"]
        assert rows[name]["delta"] == pytest.approx(rows[name]["acc"] - rows["fine-tuned fp32 (torch)"]["acc"])
    assert rows["weight-only-int8 (torch)"]["params"] == rows["fine-tuned fp32 (torch)"]["params"]
    assert rows["pruned neurons 50%"]["params"] < rows["fine-tuned fp32 (torch)"]["params"]
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 and r["batch32_per_s"] > 0 for r in rows.values())
    assert format_table(table).count("\n| ") == 5  # header + 4 rows


def test_bench_deploy_bad_inputs(runs, capsys):
    assert main(["bench-deploy", str(runs / "ft"), "--calls", "5"]) == 2
    assert main(["bench-deploy", str(runs / "w8")]) == 2  # the reference must be the fine-tune itself
    assert main(["bench-deploy", str(runs / "ft"), str(runs / "nope"), "--no-onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[:2] == ["error: --calls 5: expected at least 20 (p95 needs a tail)",
                       f"error: {runs / 'w8'}: bench-deploy's first run is the fine-tuned reference (this one is a "
                       "quantized run)"]
    assert len(err) == 3 and err[2].startswith("error: ") and "nope" in err[2]
