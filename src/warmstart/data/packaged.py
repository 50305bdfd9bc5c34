"""Data files that installed packages ship (the embedded demo tweets, the Hebrew NER corpus, the
MiniLM checkpoint), found without importing the package: some of them fail to import, and none is
needed for more than its files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from warmstart.errors import DataError


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
