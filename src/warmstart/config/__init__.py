"""Config files + `--set` overrides -> frozen, typed config objects, or one-line ConfigErrors.

`load_config(path, verb, overrides)` is the only way user files enter the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warmstart.config.overrides import apply_overrides
from warmstart.config.schema import CONFIGS, CompareConfig, FinetuneConfig, PretrainConfig, Section
from warmstart.errors import ConfigError

__all__ = ["load_config", "parse_config", "infer_verb", "CONFIGS", "PretrainConfig", "FinetuneConfig", "CompareConfig"]


def read_yaml(path: str | Path) -> dict:
    """Read a YAML (or JSON) mapping, with one-line errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{p}: invalid YAML{where}: {getattr(e, 'problem', e)}") from None
    if raw is None:
        raise ConfigError(f"{p}: config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    return raw


def infer_verb(raw: dict) -> str:
    """Which verb a config belongs to, from its sections."""
    if "label_budgets" in raw or "arms" in raw or "pretrained" in raw:
        return "compare"
    if "objective" in raw:
        return "pretrain"
    return "finetune"


def parse_config(raw: dict, verb: str, source: str = "<config>") -> Section:
    """Validate a raw mapping against the verb's schema; errors become one line per problem."""
    schema = CONFIGS[verb]
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("\n".join(_format_error(source, err) for err in e.errors())) from None


def load_config(path: str | Path, verb: str | None = None, overrides: list[str] | None = None) -> Section:
    """Read `path`, apply `--set` overrides, validate against `verb`'s schema (inferred if None)."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    return parse_config(raw, verb or infer_verb(raw), str(path))


def _format_error(source: str, err: dict[str, Any]) -> str:
    # Drop pydantic's union-member tags (e.g. 'corpus') from the location so the path reads like
    # the user's file: data.path, not data.corpus.path.
    loc = [str(x) for x in err["loc"] if not _is_tag(err, x)]
    field = ".".join(loc) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check spelling; `warmstart config explain` lists the fields)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown kind {err['input'].get('kind')!r}; expected one of {err['ctx']['expected_tags']}"
    elif "input" in err and err["type"] not in ("model_type",) and not isinstance(err["input"], dict):
        msg = f"{msg}, got {err['input']!r}"
    return f"{source}: {field}: {msg}"


def _is_tag(err: dict[str, Any], part: Any) -> bool:
    # pydantic inserts the discriminator value (and type names for plain unions) into `loc`.
    return isinstance(part, str) and (part.endswith("]") or part in _union_tags())


_TAGS: set[str] | None = None


def _union_tags() -> set[str]:
    """All `kind` literals in the schema: they appear in error locations as union tags."""
    global _TAGS
    if _TAGS is None:
        import typing

        from warmstart.config import schema

        tags: set[str] = set()
        for obj in vars(schema).values():
            if isinstance(obj, type) and issubclass(obj, Section) and "kind" in obj.model_fields:
                ann = obj.model_fields["kind"].annotation
                tags.update(typing.get_args(ann))
        _TAGS = tags
    return _TAGS
