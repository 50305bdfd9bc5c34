"""Property-based fuzzing of the real CLI entry point, in-process (`warmstart.cli.main(argv)`).

Generated recipes (`config validate|show|explain`), generated data files (a tiny fine-tune of 1 step)
and generated argument lists must all keep the CLI's promises (issue 17):

- the exit code is 0 or 2 (argparse's own usage errors included), never an exception;
- no traceback; a failure prints exactly one line, `error: ...`, naming the file or field;
- no run directory claims completion (result.json) unless the command succeeded, and every
  checkpoint directory left behind verifies against its manifest.

Default run: 150 recipes + 25 raw recipe files + 60 text/vector data files + 30 image folders and
.npz arrays + 40 argument lists = 305 examples, derandomized (the same examples every run), about a
minute on 2 shared cores. `pytest -m fuzz` runs 2,500 examples (1,000 + 200 + 600 + 300 + 400) with
fresh random draws.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import itertools
import json
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from warmstart.checkpoint.io import checkpoint_problem
from warmstart.cli import main
from warmstart.config import schema

RECIPES = Path(__file__).parents[2] / "src" / "warmstart" / "recipes"
COUNTER = itertools.count()
OUTCOMES: collections.Counter = collections.Counter()  # exit codes seen, per test


def _settings(n: int, fuzz: bool):
    # No shrinking: on 2 shared cores it can take many minutes; the failing example is printed as drawn.
    return settings(max_examples=n, deadline=None, derandomize=not fuzz, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


def _run_cases(case, min_share: float = 0.1) -> None:
    """Run a hypothesis test; both outcomes (exit 0 and exit 2) must be common enough to matter, so
    the generators keep exercising the success path (training, writing runs) as well as the errors."""
    OUTCOMES.clear()
    case()
    total = sum(OUTCOMES.values())
    print(f"exit codes over {total} calls: {dict(OUTCOMES)}")
    assert OUTCOMES[0] >= min_share * total and OUTCOMES[2] >= min_share * total, dict(OUTCOMES)


def _budget(default: int, fuzz: int):
    """Parametrize a fuzz test with its default example count and its `-m fuzz` count."""
    return pytest.mark.parametrize("n, fuzz", [pytest.param(default, False, id=f"{default}-examples"),
                                               pytest.param(fuzz, True, id=f"{fuzz}-examples",
                                                            marks=pytest.mark.fuzz)])


# ------------------------------------------------------------------------------------ the harness


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """main(argv) with stdout/stderr captured and stdin replaced; argparse's SystemExit becomes a code."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse: --help (0) or a usage error (2)
                code = e.code if isinstance(e.code, int) else 2
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def results(out_dir: Path) -> dict[Path, int]:
    """result.json files under out_dir's run directories, with their modification times."""
    return {p: p.stat().st_mtime_ns for p in out_dir.glob("*/result.json")}


def check_promises(argv: list[str], code: int, err: str, names: list[str], out_dir: Path | None = None,
                   before: dict[Path, int] | None = None) -> None:
    """The CLI's promises for one call; `names` are strings of which the error line must contain one.
    `before`: results(out_dir) before the call (a failed call must not have written any of them)."""
    OUTCOMES[code] += 1
    assert code in (0, 2), f"{argv}: exit code {code}\n{err}"
    assert "Traceback" not in err, f"{argv}: traceback\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        if lines and lines[0].startswith("usage:"):  # argparse: usage, then one `prog: error: ...` line
            assert ": error: " in lines[-1], f"{argv}: {err}"
        else:
            assert len(lines) == 1 and lines[0].startswith("error: "), f"{argv}: expected one error line, got\n{err}"
            assert any(n in lines[0] for n in names), f"{argv}: error names none of {names}: {lines[0]}"
    if out_dir is not None:
        check_run_dirs(out_dir, code == 0, before or {})


def check_run_dirs(out_dir: Path, succeeded: bool, before: dict[Path, int]) -> None:
    for path, mtime in results(out_dir).items():
        assert succeeded or before.get(path) == mtime, f"{path}: written by a failed command"
        json.loads(path.read_text())
    for run in (p for p in out_dir.glob("*") if p.is_dir()):
        for ckpt in (run / "checkpoints").glob("*"):
            if ckpt.is_dir() and not ckpt.name.endswith((".tmp", ".old")):
                assert checkpoint_problem(ckpt) is None, f"{ckpt}: {checkpoint_problem(ckpt)}"


def fresh_dir(root: Path) -> Path:
    d = root / f"case{next(COUNTER)}"
    d.mkdir(parents=True)
    return d


# ------------------------------------------------------------------------------------ recipes

@functools.cache
def _load_recipes() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted(RECIPES.glob("*.yaml"))]


def _kinds() -> dict[str, list[str]]:
    """Every `kind` of every section type, by section name, for mutations that switch kinds."""
    import typing

    from warmstart.config import _members

    out: dict[str, list[str]] = {}
    for cfg in schema.CONFIGS.values():
        for name, field in cfg.model_fields.items():
            ann = field.annotation
            if typing.get_origin(ann) is list:
                ann = typing.get_args(ann)[0]
            kinds = [k for m in _members(ann) if isinstance(m, type) and "kind" in getattr(m, "model_fields", {})
                     for k in typing.get_args(m.model_fields["kind"].annotation)]
            if kinds:
                out.setdefault(name, [])
                out[name] += [k for k in kinds if k not in out[name]]
    return out


KINDS = _kinds()
WORDS = st.sampled_from(["x", "kind", "path", "lr", "max_steps", "n_layers", "d_model", "name", "seed", "all",
                         "label_budget", "val_frac", "strategy", "adamw", "bert", "gpt2", "-", "", "null", "é∂"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, 2, 0.5, 1e-9, 1e9, -1, 2**31, 2**63]),
    WORDS, st.text(max_size=12),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(WORDS, inner, max_size=3)), max_leaves=6)


@st.composite
def mutated_recipe(draw) -> dict:
    """A shipped recipe with 0-3 mutations: a section or key removed, an unknown key added, a value
    replaced by a value of any type, or a section's kind switched (to any kind, or garbage)."""
    raw = json.loads(json.dumps(draw(st.sampled_from(_load_recipes()))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        sections = [k for k, v in raw.items() if isinstance(v, dict)]
        op = draw(st.sampled_from(["drop_section", "drop_key", "unknown_key", "value", "kind", "kind", "whole"]))
        if op == "drop_section" and raw:
            raw.pop(draw(st.sampled_from(sorted(raw))))
        elif op == "whole":
            raw[draw(st.sampled_from(sorted(KINDS) + ["run", "train", "init"]))] = draw(VALUES)
        elif sections:
            name = draw(st.sampled_from(sorted(sections)))
            section = raw[name]
            if op == "drop_key" and section:
                section.pop(draw(st.sampled_from(sorted(section))))
            elif op == "unknown_key":
                section[draw(WORDS) + "_x"] = draw(VALUES)
            elif op == "value" and section:
                section[draw(st.sampled_from(sorted(section)))] = draw(VALUES)
            elif op == "kind":
                section["kind"] = draw(st.one_of(st.sampled_from(KINDS.get(name, ["x"])), VALUES))
    return raw


@_budget(150, 1000)
def test_fuzz_recipes_through_config_verbs(tmp_path, n, fuzz):
    @_settings(n, fuzz)
    @given(raw=mutated_recipe(), action=st.sampled_from(["validate", "show", "explain"]),
           schema_flag=st.sampled_from([[], [], [], ["--schema", "pretrain"], ["--schema", "finetune"],
                                        ["--schema", "compare"]]),
           overrides=st.lists(st.tuples(st.sampled_from(["optim.lr", "train.max_steps", "schedule.kind", "model.kind",
                                                         "task.kind", "strategy.r", "data.kind", "run", "x.y.z"]),
                                        SCALARS.map(str)), max_size=2) | st.just([]))
    def case(raw, action, schema_flag, overrides):
        path = tmp_path / f"r{next(COUNTER)}.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True))
        sets = [a for k, v in overrides for a in ("--set", f"{k}={v}")]
        argv = ["config", action, str(path), *schema_flag, *sets]
        code, _, err = run_cli(argv)
        check_promises(argv, code, err, [str(path), "--set"])

    _run_cases(case)


@_budget(25, 200)
def test_fuzz_raw_recipe_bytes(tmp_path, n, fuzz):
    """Recipe files that are not YAML mappings at all: random bytes, other encodings, deep nesting."""
    @_settings(n, fuzz)
    @given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-16")),
                          st.integers(1, 1500).map(lambda d: ("[" * d + "]" * d).encode()),
                          st.integers(1, 1500).map(lambda d: ("a: {" * d + "}" * d).encode()),
                          st.sampled_from([b"!!python/object:os.system {}", b"a: &x [*x]", b"\xef\xbb\xbfrun: {}",
                                           b"- 1\n- 2", b"~", b"key: [unclosed", b"\x00\x00", LAUGHS])))
    def case(body):
        path = tmp_path / f"b{next(COUNTER)}.yaml"
        path.write_bytes(body)
        for argv in (["config", "validate", str(path)], ["finetune", str(path)]):
            code, _, err = run_cli(argv)
            check_promises(argv, code, err, [str(path)])

    _run_cases(case, min_share=0)


# ------------------------------------------------------------------------------------ data files

CLEAN_TEXT = st.sampled_from(["good movie", "bad day", "love it", "awful", "a fine film", "so sad", "great fun"])
WILD_TEXT = st.one_of(st.sampled_from(["", " ", "NaN", "inf", "-inf", "1e309", "a,b", 'say "hi"', "two\nlines",
                                       "x" * 200, "\ufeffbom", "tab\there"]), st.text(max_size=20))
CLEAN_LABELS = st.sampled_from([["pos", "neg"], ["pos", "neg", "mid"], ["1", "2.5", "-3", "0"], ["7"]])
WILD_LABELS = st.one_of(st.sampled_from(["", "NaN", "nan", "inf", "-inf", "1e400", "abc", "pos\x00", " pos ", "a|b"]),
                        st.text(max_size=4))


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


@st.composite
def labeled_file(draw) -> tuple[str, bytes]:
    """(suffix, bytes) of a labeled text file: CSV (duplicate/missing columns, ragged rows, empty
    cells, NaN/inf, quoting) or JSONL (wrong types, non-objects, NaN), in some encoding, maybe with
    a BOM or random bytes spliced in. `defect` sets how often a cell, row or header goes wrong, so
    clean files (that train) and broken ones are both common."""
    defect = draw(st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.5]))
    bad = lambda: draw(st.floats(0, 1)) < defect  # noqa: E731
    labels = draw(CLEAN_LABELS)
    text = lambda: draw(WILD_TEXT) if bad() else draw(CLEAN_TEXT)  # noqa: E731
    label = lambda: draw(WILD_LABELS) if bad() else draw(st.sampled_from(labels))  # noqa: E731
    n = draw(st.one_of(st.integers(12, 40), st.integers(0, 12)))
    if draw(st.booleans()):
        suffix = ".csv"
        header = ["text", "label"]
        if bad():
            header = draw(st.sampled_from([["label", "text"], ["text", "label", "label"], ["text", "text", "label"],
                                           ["text"], ["txt", "label"], ["text", "label", "x"], ["", "label"]]))
        rows = []
        for _ in range(n):
            row = [label() if h == "label" else text() for h in header]
            if bad() and bad():  # ragged
                row = row[:-1] if draw(st.booleans()) else row + ["extra"]
            rows.append(row)
        body = _csv_text(header, rows)
    else:
        suffix = ".jsonl"
        values = st.one_of(WILD_TEXT, WILD_LABELS, st.integers(-2, 2), st.floats(), st.none(), st.booleans(),
                           st.lists(st.integers(), max_size=2), st.dictionaries(WORDS, st.integers(), max_size=1))
        lines = []
        for _ in range(n):
            if bad() and bad():
                lines.append(draw(st.sampled_from(["[1, 2]", "\"text\"", "{bad json", "", "null", "{}"])))
                continue
            obj = {"text": draw(values) if bad() else text(), "label": draw(values) if bad() else label()}
            if obj["label"] in ("1", "2.5", "-3", "0", "7") and draw(st.booleans()):
                obj["label"] = float(obj["label"])  # JSON numbers as labels
            lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
        body = "\n".join(lines) + "\n"
    encoding = "utf-8" if not bad() else draw(st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "latin-1"]))
    raw = body.encode(encoding, errors="replace")
    if bad() and bad():  # splice random bytes in
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    return suffix, raw


@st.composite
def features_file(draw) -> bytes:
    """A numeric CSV for data.kind=csv_features: NaN/inf/empty cells, duplicate columns, ragged rows."""
    defect = draw(st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.5]))
    bad = lambda: draw(st.floats(0, 1)) < defect  # noqa: E731
    header = ["a", "b", "label"]
    if bad():
        header = draw(st.sampled_from([["a", "a", "label"], ["a", "b"], ["label"], ["a", "label", "label"]]))
    labels = draw(CLEAN_LABELS)
    numbers = st.one_of(st.floats(width=32, allow_nan=False, allow_infinity=False).map(repr),
                        st.integers(-5, 5).map(str))
    wild = st.sampled_from(["", "nan", "inf", "-inf", "1e400", "x", " 3 ", "0x10", "1_000"])
    rows = []
    for _ in range(draw(st.one_of(st.integers(12, 40), st.integers(0, 12)))):
        row = [(draw(WILD_LABELS) if bad() else draw(st.sampled_from(labels))) if h == "label"
               else draw(wild) if bad() else draw(numbers) for h in header]
        if bad() and bad():
            row = row[:-1]
        rows.append(row)
    return _csv_text(header, rows).encode()


LAUGHS = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(  # aliases expanding to 10^7 values
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n".encode() for p, n in zip("abcdef", "bcdefg", strict=True))
TINY = {"max_steps": 1, "batch_size": 4, "eval_every": 1, "eval_batches": 1, "num_threads": 1, "progress": False,
        "select_best": False}


@_budget(60, 600)
def test_fuzz_data_files_through_finetune(tmp_path, n, fuzz):
    @_settings(n, fuzz)
    @given(text_file=labeled_file(), vec_file=features_file(), use_vectors=st.integers(0, 3),
           task=st.sampled_from(["classification", "classification", "regression"]),
           budget=st.sampled_from([None, None, 1, 2, 0.5]))
    def case(text_file, vec_file, use_vectors, task, budget):
        case_dir = fresh_dir(tmp_path)
        if use_vectors == 0:
            data_path = case_dir / "data.csv"
            data_path.write_bytes(vec_file)
            recipe = {"data": {"kind": "csv_features", "path": str(data_path)},
                      "model": {"kind": "mlp", "d_model": 8, "n_layers": 1}}
        else:
            suffix, body = text_file
            data_path = case_dir / f"data{suffix}"
            data_path.write_bytes(body)
            recipe = {"data": {"kind": "labeled_text", "path": str(data_path), "max_len": 8},
                      "tokenizer": {"kind": "wordpiece", "vocab_size": 100},
                      "model": {"kind": "transformer", "arch": "bert", "n_layers": 1, "d_model": 8, "n_heads": 1,
                                "d_ff": 8}}
        recipe["data"]["label_budget"] = budget
        recipe.update(run={"name": "ft", "out_dir": str(case_dir / "runs")}, task={"kind": task}, train=TINY)
        cfg = case_dir / "ft.yaml"
        cfg.write_text(yaml.safe_dump(recipe))
        argv = ["finetune", str(cfg)]
        code, _, err = run_cli(argv)
        check_promises(argv, code, err, [str(data_path), str(cfg), "data."], case_dir / "runs")

    _run_cases(case, min_share=0.05)  # random draws train in ~8% of cases (derandomized: 13%)


# ------------------------------------------------------------------------------------ images and arrays

IMAGE_MODES = ["L", "RGB", "RGBA", "P", "1", "I;16", "I", "F", "CMYK", "LA"]
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "gif": "GIF", "tiff": "TIFF", "webp": "WEBP"}


def _image_bytes(draw, size: tuple[int, int], mode: str, fmt: str) -> bytes:
    from PIL import Image

    w, h = size
    im = Image.frombytes("L", (w, h), draw(st.binary(min_size=w * h, max_size=w * h)))
    try:
        im = im.convert(mode)
        buf = io.BytesIO()
        im.save(buf, IMAGE_FORMATS[fmt])
    except (OSError, ValueError, KeyError):  # a mode this format cannot store: the plain grayscale image
        buf = io.BytesIO()
        Image.frombytes("L", (w, h), bytes(w * h)).save(buf, IMAGE_FORMATS[fmt])
    return buf.getvalue()


@st.composite
def image_folder(draw, root: Path) -> dict:
    """A class-folder dataset under root/imgs: images of one or mixed sizes and modes, in any format
    Pillow writes; defects: truncated or empty files, random bytes named .png, an empty class
    folder, a stray non-image file; and maybe a group file (some rows naming missing images or empty
    groups). Returns the data section."""
    defect = draw(st.sampled_from([0.0, 0.0, 0.05, 0.2, 0.5]))
    bad = lambda: draw(st.floats(0, 1)) < defect  # noqa: E731
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    mode, fmt = draw(st.sampled_from(IMAGE_MODES)), draw(st.sampled_from(sorted(IMAGE_FORMATS)))
    folder = root / "imgs"
    files = []
    for cls in draw(st.sampled_from([["a", "b"], ["a", "b", "c"]])) if not bad() else ["only"]:
        (folder / cls).mkdir(parents=True)
        for i in range(draw(st.integers(0, 8)) if bad() else draw(st.integers(5, 8))):
            ext = fmt
            if bad():  # another size, mode or format in the same folder
                size_i = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
                mode_i, ext = draw(st.sampled_from(IMAGE_MODES)), draw(st.sampled_from(sorted(IMAGE_FORMATS)))
                body = _image_bytes(draw, size_i, mode_i, ext)
            else:
                body = _image_bytes(draw, size, mode, fmt)
            if bad():
                body = draw(st.sampled_from([body[: len(body) // 2], body[:8], b"", draw(st.binary(max_size=64))]))
            path = folder / cls / f"{i}.{ext}"
            path.write_bytes(body)
            files.append(path.relative_to(folder).as_posix())
        if bad():
            (folder / cls / "notes.txt").write_text("not an image")
    data = {"kind": "image_folder", "path": str(folder), "color": draw(st.sampled_from(["gray", "rgb"])),
            "resize": draw(st.sampled_from([None, [4, 4], [size[1], size[0]]])) if not bad() else [4, 4]}
    if draw(st.booleans()):
        rows = [[f, draw(st.sampled_from(["cam1", "cam2"]))] for f in files]
        for row in rows:
            if bad():
                row[draw(st.integers(0, 1))] = draw(st.sampled_from(["", "missing.png", "a/../b/0.png", " ", "\x00"]))
        (root / "groups.csv").write_text(_csv_text(["file", "group"], rows))
        data["group_file"] = str(root / "groups.csv")
    return data


@st.composite
def npz_file(draw, root: Path) -> dict:
    """An .npz of images (N,H,W / N,C,H,W / N,H,W,C) or feature rows (N,F): uint8, float with
    NaN/inf, ints, bools, complex or strings; labels of another length, 2-d, missing; or the file
    truncated. Returns the data section."""
    import numpy as np

    defect = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
    bad = lambda: draw(st.floats(0, 1)) < defect  # noqa: E731
    n = draw(st.integers(0, 6)) if bad() else draw(st.integers(12, 30))
    shape = draw(st.sampled_from([(n, 4, 4), (n, 1, 4, 4), (n, 4, 4, 3), (n, 3, 4, 4)]))
    if bad():
        shape = draw(st.sampled_from([(n, 6), (n,), (n, 2, 2, 2, 2), (0, 4, 4), shape]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(["uint8", "float32"])) if not bad() else draw(
        st.sampled_from(["float64", "int64", "bool", "complex64", "float16", "<U2"]))
    x = (rng.random(shape) * 255).astype(dtype) if dtype != "<U2" else np.full(shape, "ab")
    if bad() and x.dtype.kind == "f" and x.size:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    y = rng.integers(0, 3, n)
    if bad():
        y = draw(st.sampled_from([y[: max(n - 1, 0)], y.reshape(-1, 1), y.astype(float) / 2, np.array(["a"] * n)]))
    arrays = {"x": x, "y": y} if not bad() else draw(st.sampled_from([{"x": x}, {"y": y}, {"x": x, "y": y}]))
    path = root / "data.npz"
    np.savez(path, **arrays)
    if bad():
        raw = path.read_bytes()
        path.write_bytes(raw[: draw(st.integers(0, len(raw)))])
    return {"kind": "npz", "path": str(path)}


@_budget(30, 300)
def test_fuzz_images_and_arrays_through_finetune(tmp_path, n, fuzz):
    @_settings(n, fuzz)
    @given(data=st.data(), source=st.sampled_from(["folder", "folder", "npz"]),
           model=st.sampled_from([{"kind": "mlp", "d_model": 8, "n_layers": 1}, {"kind": "resnet", "widths": [4]}]),
           task=st.sampled_from(["classification", "classification", "regression"]))
    def case(data, source, model, task):
        task = task if source == "npz" else "classification"  # folder names are not numbers
        case_dir = fresh_dir(tmp_path)
        section = data.draw(image_folder(case_dir) if source == "folder" else npz_file(case_dir))
        recipe = {"run": {"name": "ft", "out_dir": str(case_dir / "runs")}, "data": section, "model": model,
                  "task": {"kind": task}, "train": TINY}
        cfg = case_dir / "ft.yaml"
        cfg.write_text(yaml.safe_dump(recipe))
        argv = ["finetune", str(cfg)]
        code, _, err = run_cli(argv)
        check_promises(argv, code, err, [section["path"], section.get("group_file", section["path"]), str(cfg),
                                         "data."], case_dir / "runs")

    _run_cases(case, min_share=0.05)


# ------------------------------------------------------------------------------------ argument lists


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_text_csv):
    """A finished tiny fine-tune (for evaluate/predict/export/report) and its recipe."""
    root = tmp_path_factory.mktemp("fuzz_run")
    recipe = {"run": {"name": "done", "out_dir": str(root / "runs")},
              "data": {"kind": "labeled_text", "path": str(tiny_text_csv), "max_len": 8},
              "tokenizer": {"kind": "wordpiece", "vocab_size": 100},
              "model": {"kind": "transformer", "arch": "bert", "n_layers": 1, "d_model": 8, "n_heads": 1, "d_ff": 8},
              "train": TINY}
    cfg = root / "done.yaml"
    cfg.write_text(yaml.safe_dump(recipe))
    code, _, err = run_cli(["finetune", str(cfg)])
    assert code == 0, err
    (root / "bad.yaml").write_text("train: {max_stepz: 1}\n")
    (root / "binary.bin").write_bytes(bytes(range(256)))
    (root / "texts.txt").write_text("love it\n\nawful day\n")
    return root


@_budget(40, 400)
def test_fuzz_argument_lists(finished_run, n, fuzz):
    root = finished_run
    run = root / "runs" / "done"
    paths = [str(p) for p in (run, root / "done.yaml", root / "bad.yaml", root / "binary.bin", root / "texts.txt",
                              root / "missing", root, run / "checkpoints", run / "checkpoints" / "step_000001")]
    words = ["--resume", "--overwrite", "--split", "test", "val", "train", "nope", "--format", "hf", "word2vec",
             "--jobs", "0", "-1", "2", "--schema", "compare", "--steps", "1", "--min-lr", "--max-lr", "nan", "1e9",
             "--out", str(root / "out"), "--set", "train.max_steps=1", "train.max_steps=-1", "optim.lr=abc",
             "x=", "=1", "-", "--fresh", "--vision", "--help", "validate", "show", "explain", "bogus", ""]
    cfg, texts = str(root / "done.yaml"), str(root / "texts.txt")
    # Commands that work on the finished run; the generator then perturbs some of them.
    valid = [["evaluate", str(run)], ["evaluate", str(run), "--split", "val"], ["predict", str(run), texts],
             ["predict", str(run), "-"], ["export", str(run), "--out", str(root / "hf")], ["report", str(run)],
             ["config", "validate", cfg], ["config", "show", cfg, "--set", "train.max_steps=2"],
             ["config", "explain", cfg], ["finetune", cfg, "--resume"],
             ["lr-find", cfg, "--steps", "2", "--out", str(root / "lr")]]
    token = st.one_of(st.sampled_from(paths), st.sampled_from(words), st.text(max_size=6))

    @st.composite
    def argv_lists(draw) -> list[str]:
        argv = list(draw(st.sampled_from(valid)))
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
            op, at = draw(st.sampled_from(["insert", "delete", "replace"])), draw(st.integers(0, len(argv)))
            if op == "insert":
                argv.insert(at, draw(token))
            elif argv and at < len(argv):
                if op == "delete":
                    del argv[at]
                else:
                    argv[at] = draw(token)
        return argv

    @_settings(n, fuzz)
    @given(argv=argv_lists(), stdin=st.one_of(st.just("love it\nawful\n"), st.text(max_size=40)))
    def case(argv, stdin):
        if argv[:1] in (["demo"], ["--debug"]):  # the demo trains for minutes; --debug shows tracebacks
            return
        if argv[:1] == ["lr-find"] and "--steps" not in argv:  # keep a valid sweep tiny
            argv += ["--steps", "2"]
        before = results(root / "runs")
        code, _, err = run_cli(argv, stdin)
        check_promises(argv, code, err, [*paths, *argv, "--set", "stdin", "-:"], root / "runs", before)
        assert json.loads((run / "result.json").read_text())["steps"] == 1  # the finished run is untouched

    _run_cases(case)


def test_harness_catches_broken_promises():
    # The checks above must be able to fail: a multi-line error, a traceback, another exit code.
    with pytest.raises(AssertionError, match="one error line"):
        check_promises(["x"], 2, "error: a\nerror: b\n", ["a"])
    with pytest.raises(AssertionError, match="traceback"):
        check_promises(["x"], 2, "Traceback (most recent call last):\n", ["a"])
    with pytest.raises(AssertionError, match="exit code 1"):
        check_promises(["x"], 1, "", [])
    with pytest.raises(AssertionError, match="names none of"):
        check_promises(["x"], 2, "error: something\n", ["file.csv"])
