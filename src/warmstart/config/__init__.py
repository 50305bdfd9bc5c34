"""Config files + `--set` overrides -> frozen, typed config objects, or one-line ConfigErrors.

`load_config(path, verb, overrides)` is the only way user files enter the library.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warmstart.config.overrides import apply_overrides
from warmstart.config.schema import (
    CONFIGS,
    CompareConfig,
    FinetuneConfig,
    FinetuneData,
    PretrainConfig,
    PretrainData,
    Section,
)
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
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]  # a reader error's text runs on
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    except RecursionError:  # the YAML parser recurses once per level of nesting
        raise ConfigError(f"{p}: invalid YAML: nested too deeply") from None
    if raw is None:
        raise ConfigError(f"{p}: config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    problem = _alias_problem(raw)
    if problem:
        raise ConfigError(f"{p}: invalid config: {problem}")
    return raw


MAX_VALUES = 100_000


def _alias_problem(raw: Any) -> str | None:
    """YAML aliases (&a / *a) can make a value contain itself, or expand a few lines into billions of
    values; either would hang or crash validation. Returns what is wrong, or None."""
    count, todo = 0, [(raw, frozenset())]
    while todo:
        node, parents = todo.pop()
        count += 1
        if count > MAX_VALUES:
            return f"more than {MAX_VALUES:,} values once YAML aliases are expanded"
        if isinstance(node, (dict, list)):
            if id(node) in parents:
                return "a YAML alias makes a value contain itself"
            children = node.values() if isinstance(node, dict) else node
            todo.extend((c, parents | {id(node)}) for c in children)
    return None


def infer_verb(raw: dict) -> str:
    """Which verb a config belongs to, from its sections."""
    if "label_budgets" in raw or "arms" in raw or "pretrained" in raw:
        return "compare"
    if "objective" in raw:
        return "pretrain"
    if "teacher" in raw:
        return distill_verb(raw)
    return "finetune"


def distill_verb(raw: dict) -> str:
    """distill_lm for a distill recipe whose data is an unlabeled text corpus (a pretraining data kind that
    no fine-tune reads: LM distillation), else distill."""
    kinds = {k for m in _members(PretrainData) for k in _kinds_of(m)} - {k for m in _members(FinetuneData)
                                                                          for k in _kinds_of(m)}
    data = raw.get("data")
    return "distill_lm" if isinstance(data, dict) and data.get("kind") in kinds else "distill"


def parse_config(raw: dict, verb: str, source: str = "<config>") -> Section:
    """Validate a raw mapping against the verb's schema; errors become one line per problem."""
    schema = CONFIGS[verb]
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        problems = [_format_error(err, schema) for err in e.errors()]
        # One line: the first problem in full, then the fields of the others (fix and re-run to see them).
        field, msg = problems[0]
        more = "" if len(problems) == 1 else f" (and {len(problems) - 1} more: {', '.join(f for f, _ in problems[1:])})"
        raise ConfigError(f"{source}: {field}: {msg}{more}") from None


def load_config(path: str | Path, verb: str | None = None, overrides: list[str] | None = None) -> Section:
    """Read `path`, apply `--set` overrides, validate against `verb`'s schema (inferred if None)."""
    file_raw = read_yaml(path)
    raw = apply_overrides(file_raw, overrides or [])
    verb = verb or infer_verb(raw)
    _default_kinds(file_raw, raw, CONFIGS[verb])
    return parse_config(raw, verb, str(path))


def _default_kinds(file_raw: dict, raw: dict, schema: type[Section]) -> None:
    """A section that only `--set` overrides created (`--set optim.lr=0.1` on a recipe without an
    `optim:` section) takes the kind of the section's default, as if the file had spelled it out."""
    for name, section in raw.items():
        field = schema.model_fields.get(name)
        default_kind = getattr(field.default, "kind", None) if field is not None else None
        if (isinstance(section, dict) and "kind" not in section and default_kind is not None
                and not isinstance(file_raw.get(name), dict)):
            section["kind"] = default_kind


def _format_error(err: dict[str, Any], schema: type[Section]) -> tuple[str, str]:
    """(field, message) of one pydantic error, worded for the user's file."""
    # Drop pydantic's union-member tags (e.g. 'corpus') from the location so the path reads like
    # the user's file: data.path, not data.corpus.path.
    loc = [str(x) for x in err["loc"] if not _is_tag(err, x)]
    field = ".".join(loc) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check spelling; `warmstart config explain` lists the fields)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] in ("union_tag_invalid", "union_tag_not_found") or (
            err["type"] == "model_attributes_type" and _kinds_at(schema, err["loc"])):
        # A polymorphic section without a usable `kind`: name the kinds that exist, in schema order.
        kinds = ", ".join(_kinds_at(schema, err["loc"]))
        given = err["input"].get("kind") if isinstance(err["input"], dict) else None
        if err["type"] == "union_tag_invalid":
            msg = f"unknown kind {given!r}; expected one of {kinds}"
        elif err["type"] == "union_tag_not_found":
            field, msg = f"{field}.kind", f"required field is missing; one of {kinds}"
        else:
            msg = f"expected a section with a kind (one of {kinds}), got {err['input']!r}"
    elif "input" in err and err["type"] not in ("model_type",) and not isinstance(err["input"], dict):
        msg = f"{msg}, got {err['input']!r}"
    return field, msg


def _kinds_at(schema: type[Section], loc: tuple) -> list[str]:
    """The `kind`s of the discriminated union at `loc` of `schema` ([] if there is none), following
    field names, list indices and pydantic's union tags along the way."""
    types: list = [schema]
    for part in loc:
        nxt: list = []
        for t in types:
            if isinstance(part, int):
                if typing.get_origin(t) is list:
                    nxt += _members(typing.get_args(t)[0])
            elif isinstance(t, type) and issubclass(t, Section):
                if part in t.model_fields:
                    nxt += _members(t.model_fields[part].annotation)
                elif part in _kinds_of(t):  # a union tag: stay on the member it names
                    nxt.append(t)
        types = nxt
    kinds = [k for t in types if isinstance(t, type) and issubclass(t, Section) for k in _kinds_of(t)]
    return kinds if len(kinds) > 1 else []


def _members(ann: Any) -> list:
    """The alternatives of an annotation: Annotated and Optional unwrapped, unions flattened."""
    if typing.get_origin(ann) is typing.Annotated:
        return _members(typing.get_args(ann)[0])
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _members(a)]
    return [] if ann is type(None) else [ann]


def _kinds_of(model: type[Section]) -> tuple[str, ...]:
    field = model.model_fields.get("kind")
    return typing.get_args(field.annotation) if field is not None else ()


def _is_tag(err: dict[str, Any], part: Any) -> bool:
    # pydantic inserts the discriminator value (and type names for plain unions) into `loc`.
    return isinstance(part, str) and (part.endswith("]") or part in _union_tags())


_TAGS: set[str] | None = None


def _union_tags() -> set[str]:
    """All `kind` literals in the schema: they appear in error locations as union tags."""
    global _TAGS
    if _TAGS is None:
        from warmstart.config import schema

        tags: set[str] = set()
        for obj in vars(schema).values():
            if isinstance(obj, type) and issubclass(obj, Section) and "kind" in obj.model_fields:
                ann = obj.model_fields["kind"].annotation
                tags.update(typing.get_args(ann))
        _TAGS = tags
    return _TAGS
