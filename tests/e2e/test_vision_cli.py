"""Images and feature vectors through the real CLI entry point (cli.main, in-process to stay fast):
supervised pretraining on digits 0-4 -> transfer to digits 5-9 -> compare -> evaluate -> predict on
.npz / image files; vectors from CSV; bad inputs are one line and exit code 2."""

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from warmstart.cli import main

TRAIN = "{max_steps: 8, batch_size: 32, eval_every: 4, log_every: 4, progress: false}"


def ws(capsys, *args, code=0):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert rc == code, f"warmstart {' '.join(map(str, args))} -> {rc}:\n{err[-2000:]}"
    return out, err


def _latest(run):
    return run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()


@pytest.fixture(scope="module")
def digits_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    (root / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {root}/runs}}
data: {{kind: digits, classes: [0, 1, 2, 3, 4], augment: {{shift: 1}}}}
model: {{kind: resnet, widths: [4, 8]}}
objective: {{kind: supervised}}
train: {TRAIN}
""")
    (root / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {root}/runs}}
data: {{kind: digits, classes: [5, 6, 7, 8, 9], label_budget: 25}}
init: {root}/runs/pre
train: {TRAIN}
""")
    (root / "cmp.yaml").write_text(f"""# warmstart compare cmp.yaml
run: {{name: cmp, out_dir: {root}/runs}}
pretrained: {root}/runs/pre
arms:
  - {{name: probe, init: pretrained, strategy: {{kind: linear_probe}}}}
  - {{name: scratch, init: scratch}}
label_budgets: [10, 25]
seeds: [0]
data: {{kind: digits, classes: [5, 6, 7, 8, 9]}}
train: {{max_steps: 4, batch_size: 16, eval_every: 2, progress: false}}
""")
    return root


def test_supervised_pretraining_transfers_to_a_different_label_set(digits_ws, capsys):
    root = digits_ws
    ws(capsys, "pretrain", root / "pre.yaml")
    pre = root / "runs" / "pre"
    assert json.loads((_latest(pre) / "head.json").read_text())["labels"] == [0, 1, 2, 3, 4]
    assert json.loads((pre / "result.json").read_text())["val"]["acc"] >= 0
    assert json.loads((pre / "transforms.json").read_text())["input_shape"] == [1, 8, 8]

    ws(capsys, "finetune", root / "ft.yaml")
    ft = root / "runs" / "ft"
    res = json.loads((ft / "result.json").read_text())
    assert res["n_labels"] == 25 and 0 <= res["test"]["acc"] <= 1
    assert json.loads((_latest(ft) / "head.json").read_text())["labels"] == [5, 6, 7, 8, 9]  # a fresh head
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["lineage"]["init_weights"] == "pretrained" and cfg["lineage"]["init"] == str(pre)
    # The target run inherits the source run's normalization, so the backbone sees the same scale.
    assert (ft / "transforms.json").read_text() == (pre / "transforms.json").read_text()

    out, _ = ws(capsys, "evaluate", ft)
    assert json.loads(out)["acc"] == pytest.approx(res["test"]["acc"])

    # predict: an .npz of digit images in [0, 1], and a folder of image files (resized to 8x8 gray).
    from sklearn.datasets import load_digits

    images = load_digits().images[:3] / 16.0
    np.savez(root / "three.npz", x=images.astype(np.float32))
    out, _ = ws(capsys, "predict", ft, root / "three.npz")
    preds = [json.loads(line) for line in out.splitlines()]
    assert [p["input"] for p in preds] == ["three.npz[0]", "three.npz[1]", "three.npz[2]"]
    assert all(p["label"] in range(5, 10) and sum(p["probs"].values()) == pytest.approx(1, abs=1e-3) for p in preds)
    (root / "pngs").mkdir()
    for i, img in enumerate(images[:2]):
        Image.fromarray((img * 255).astype(np.uint8)).resize((16, 16)).save(root / "pngs" / f"d{i}.png")
    out, _ = ws(capsys, "predict", ft, root / "pngs")
    preds = [json.loads(line) for line in out.splitlines()]
    assert [p["input"].rsplit("/", 1)[-1] for p in preds] == ["d0.png", "d1.png"]
    _, err = ws(capsys, "predict", ft, "-", code=2)
    assert "stdin takes texts" in err and err.count("\n") == 1


def test_compare_linear_probe_keeps_the_pretrained_backbone(digits_ws, capsys):
    root = digits_ws
    if not (root / "runs" / "pre" / "result.json").exists():
        ws(capsys, "pretrain", root / "pre.yaml")
    ws(capsys, "compare", root / "cmp.yaml")
    summary = json.loads((root / "runs" / "cmp" / "compare.json").read_text())
    assert ({(c["arm"], c["n_labels"]) for c in summary["cells"]}
            == {(a, n) for a in ("probe", "scratch") for n in (10, 25)})
    pre = load_file(_latest(root / "runs" / "pre") / "backbone.safetensors")
    probe = load_file(_latest(root / "runs" / "cmp" / "cells" / "probe_b10_s0") / "backbone.safetensors")
    weights = [k for k in pre if "running" not in k and "num_batches" not in k]
    assert weights and all(np.array_equal(pre[k], probe[k]) for k in weights)
    scratch = load_file(_latest(root / "runs" / "cmp" / "cells" / "scratch_b10_s0") / "backbone.safetensors")
    assert not all(np.array_equal(pre[k], scratch[k]) for k in weights)


def test_feature_vectors_from_csv_pretrain_regress_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = x[:, 0] + 2 * x[:, 1]
    rows = ["a,b,c,d,target"] + [",".join(f"{v:.4f}" for v in (*row, t)) for row, t in zip(x, y, strict=True)]
    (tmp_path / "f.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pre.yaml").write_text(f"""# warmstart pretrain pre.yaml
run: {{name: pre, out_dir: {tmp_path}/runs}}
data: {{kind: csv_features, path: {tmp_path}/f.csv, label_field: target}}
model: {{kind: mlp, n_layers: 1, d_model: 16}}
objective: {{kind: denoising, d_hidden: 16}}
train: {TRAIN}
""")
    (tmp_path / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: ft, out_dir: {tmp_path}/runs}}
data: {{kind: csv_features, path: {tmp_path}/f.csv, label_field: target, augment: {{noise_std: 0.05}}}}
init: {tmp_path}/runs/pre
task: {{kind: regression}}
train: {TRAIN}
""")
    ws(capsys, "pretrain", tmp_path / "pre.yaml")
    ws(capsys, "finetune", tmp_path / "ft.yaml")
    res = json.loads((tmp_path / "runs" / "ft" / "result.json").read_text())
    assert np.isfinite(res["test"]["mse"])
    (tmp_path / "new.csv").write_text("d,c,b,a\n0,0,1,0\n0,0,0,1\n")  # columns in any order
    out, _ = ws(capsys, "predict", tmp_path / "runs" / "ft", tmp_path / "new.csv")
    preds = [json.loads(line) for line in out.splitlines()]
    assert [p["input"] for p in preds] == ["new.csv:2", "new.csv:3"] and all(np.isfinite(p["value"]) for p in preds)
    (tmp_path / "short.csv").write_text("a,b,c\n1,2,3\n")
    _, err = ws(capsys, "predict", tmp_path / "runs" / "ft", tmp_path / "short.csv", code=2)
    assert err.startswith("error: ") and "short.csv" in err and "'d'" in err and err.count("\n") == 1


def _png(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size, size), dtype=np.uint8)).save(path)


def test_bad_image_and_vector_inputs_exit_2_with_one_line(tmp_path, capsys):
    mixed = tmp_path / "mixed"
    _png(mixed / "a" / "0.png", 8), _png(mixed / "b" / "0.png", 9)
    empty = tmp_path / "empty"
    _png(empty / "a" / "0.png", 8)
    (empty / "b").mkdir()
    broken = tmp_path / "broken"
    _png(broken / "a" / "0.png", 8)
    (broken / "b").mkdir()
    (broken / "b" / "x.jpg").write_bytes(b"definitely not a jpeg")
    (tmp_path / "nan.csv").write_text("f1,f2,label\n1,2,a\n3,nan,b\n")
    np.savez(tmp_path / "nan.npz", x=np.full((4, 8, 8), np.nan, dtype=np.float32), y=np.arange(4))
    cases = [
        ("{kind: image_folder, path: %s}" % mixed, "mixed/b/0.png: image is 9x9 but", "resize"),
        ("{kind: image_folder, path: %s, resize: [8, 8]}" % empty, "empty/b: class folder has no images", ""),
        ("{kind: image_folder, path: %s}" % broken, "broken/b/x.jpg: cannot read image", ""),
        ("{kind: csv_features, path: %s/nan.csv}" % tmp_path, "nan.csv: line 3, column 'f2'", "finite number"),
        ("{kind: npz, path: %s/nan.npz}" % tmp_path, "nan.npz: x has 256 NaN/inf", ""),
    ]
    for i, (data, needle, extra) in enumerate(cases):
        (tmp_path / f"bad{i}.yaml").write_text(f"""# warmstart finetune bad{i}.yaml
run: {{name: bad{i}, out_dir: {tmp_path}/runs}}
data: {data}
model: {{kind: mlp, n_layers: 1, d_model: 8}}
train: {TRAIN}
""")
        _, err = ws(capsys, "finetune", tmp_path / f"bad{i}.yaml", code=2)
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert needle in err and extra in err, err
    # A model that does not fit the modality is caught by the schema, before any data is read.
    (tmp_path / "vit_vec.yaml").write_text("""# warmstart finetune vit_vec.yaml
data: {kind: sklearn_table, name: iris}
model: {kind: vit}
""")
    _, err = ws(capsys, "finetune", tmp_path / "vit_vec.yaml", code=2)
    assert "model.kind=vit does not fit vector data" in err and err.count("\n") == 1


def test_demo_vision_runs_the_shipped_recipes_end_to_end(tmp_path, capsys, monkeypatch):
    # The shipped vision demo recipes, shrunk to a few steps and one budget/seed: same wiring.
    import yaml

    import warmstart.demo as demo

    shipped = demo.RECIPES
    for name, shrink in [("vision_demo_pretrain.yaml", {"train": {"max_steps": 4, "batch_size": 32, "eval_every": 2}}),
                         ("vision_demo_compare.yaml", {"label_budgets": [20], "seeds": [0],
                                                      "train": {"max_steps": 3, "batch_size": 16, "eval_every": 3}})]:
        raw = yaml.safe_load((shipped / name).read_text())
        raw.pop("schedule", None)
        raw.update(shrink)
        raw["train"]["progress"] = False
        (tmp_path / name).write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(demo, "RECIPES", tmp_path)
    out, _ = ws(capsys, "demo", "--vision", "--out", tmp_path / "demo")
    assert "denoising autoencoder" in out and "| linear_probe |" in out
    summary = json.loads((tmp_path / "demo" / "compare" / "compare.json").read_text())
    assert sorted({c["arm"] for c in summary["cells"]}) == ["finetuned", "linear_probe", "scratch"]
    assert (tmp_path / "demo" / "compare" / "report.html").is_file()
    assert json.loads((tmp_path / "demo" / "pretrain" / "config.json").read_text())["objective"]["kind"] == "denoising"
