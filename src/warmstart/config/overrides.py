"""Parse `--set a.b.c=value` overrides into the nested dict of a config file, before validation."""

from __future__ import annotations

from typing import Any

import yaml

from warmstart.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.max_steps=50` -> (["train", "max_steps"], 50). Values are parsed as YAML scalars/lists."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.max_steps=50")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str):  # YAML 1.1 reads "1e-3" as a string; users mean a number
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip().split("."), parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Return a copy of `raw` with each override set (intermediate sections are created)."""
    out = _deep_copy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d
