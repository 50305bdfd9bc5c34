"""Per-group metrics (data.group_field), the bias check: result.json's test_by_group and
`warmstart evaluate --by-group`, through the real CLI in-process."""

import io
import json
import random
from contextlib import redirect_stdout

import pytest
from PIL import Image

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


def _check_groups_partition_the_test_split(result, names):
    by_group = result["test_by_group"]
    assert set(by_group["groups"]) == names
    n = sum(g["n"] for g in by_group["groups"].values())
    assert n > 0
    for metric in ("acc", "loss"):
        weighted = sum(g["n"] * g[metric] for g in by_group["groups"].values()) / n
        assert weighted == pytest.approx(result["test"][metric], abs=1e-6)
    assert by_group["max_recall_gap"] == max(v for v in by_group["recall_gap"].values() if v is not None)


def test_vectors_group_column_is_not_a_feature(tmp_path, capsys):
    rng = random.Random(0)
    rows = ["x1,x2,region,label"]
    for _ in range(150):
        label, region = rng.choice(["a", "b"]), rng.choice(["north", "south"])
        shift = 1.0 if label == "a" else -1.0
        rows.append(f"{shift + rng.gauss(0, 1):.3f},{rng.gauss(0, 1):.3f},{region},{label}")
    (tmp_path / "vec.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: vec, out_dir: {tmp_path}/runs}}
data: {{kind: csv_features, path: {tmp_path}/vec.csv, group_field: region}}
model: {{kind: mlp, d_model: 8}}
train: {{max_steps: 4, batch_size: 16, eval_every: 2, num_threads: 1, progress: false}}
""")
    assert main(["finetune", str(tmp_path / "ft.yaml")]) == 0
    run = tmp_path / "runs" / "vec"
    result = json.loads((run / "result.json").read_text())
    _check_groups_partition_the_test_split(result, {"north", "south"})
    assert json.loads((run / "transforms.json").read_text())["feature_names"] == ["x1", "x2"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--by-group"]) == 0
    assert json.loads(capsys.readouterr().out)["by_group"]["worst"] == result["test_by_group"]["worst"]

    (tmp_path / "ft.yaml").write_text((tmp_path / "ft.yaml").read_text().replace("group_field: region",
                                                                               "group_field: zone"))
    assert main(["finetune", str(tmp_path / "ft.yaml"), "--overwrite"]) == 2
    assert "no column 'zone'" in capsys.readouterr().err


@pytest.fixture
def image_folder(tmp_path):
    """Two classes (dark and light 6x6 images) x 20, a group file: the camera that took each."""
    rng = random.Random(0)
    lines = ["file,group"]
    for cls, base in (("dark", 40), ("light", 200)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(20):
            px = bytes(min(255, max(0, base + rng.randint(-30, 30))) for _ in range(36))
            Image.frombytes("L", (6, 6), px).save(tmp_path / "imgs" / cls / f"{i:02d}.png")
            lines.append(f"{cls}/{i:02d}.png,{'cam1' if i % 2 else 'cam2'}")
    (tmp_path / "groups.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "ft.yaml").write_text(f"""# warmstart finetune ft.yaml
run: {{name: img, out_dir: {tmp_path}/runs}}
data: {{kind: image_folder, path: {tmp_path}/imgs, color: gray, group_file: {tmp_path}/groups.csv}}
model: {{kind: resnet, widths: [4]}}
train: {{max_steps: 4, batch_size: 8, eval_every: 2, num_threads: 1, progress: false}}
""")
    return tmp_path


def test_image_folder_groups_from_a_csv(image_folder, capsys):
    assert main(["finetune", str(image_folder / "ft.yaml")]) == 0
    result = json.loads((image_folder / "runs" / "img" / "result.json").read_text())
    _check_groups_partition_the_test_split(result, {"cam1", "cam2"})


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("dark/03.png", "dark/99.png"), "line 5: no image 'dark/99.png' under"),
    (lambda text: text.replace("dark/03.png", "dark/02.png"), "line 5: image 'dark/02.png' is listed twice"),
    (lambda text: "\n".join(text.splitlines()[:-1]) + "\n", "no group for 1 image(s), e.g. 'light/19.png'"),
    (lambda text: text.replace("dark/00.png,cam2", "dark/00.png,"), "line 2: group 'group' must be a non-empty"),
    (lambda text: text.replace("file,group", "path,group"), "no column 'file'"),
])
def test_image_group_file_errors_are_one_line(image_folder, capsys, edit, message):
    groups = image_folder / "groups.csv"
    groups.write_text(edit(groups.read_text()))
    assert main(["finetune", str(image_folder / "ft.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {groups}: ") and message in err and "\n" not in err
