"""Typed configuration: frozen dataclasses beside each stage's code; YAML files and `--set` only override them.

Unknown keys are errors that list the valid ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    pass


def _fail_unknown(cls: type, unknown: set[str], where: str) -> None:
    valid = ", ".join(f.name for f in dataclasses.fields(cls))
    names = ", ".join(sorted(unknown))
    raise ConfigError(f"unknown config key(s) {names} in {where or cls.__name__}; valid keys: {valid}")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None:
        if tp is type(None) or (origin in (typing.Union, types.UnionType) and type(None) in args) or tp is Any:
            return None
        raise ConfigError(f"{where}: null is not allowed here")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    if typing.get_origin(tp) is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from a mapping, recursively, with type checks and unknown-key errors."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        _fail_unknown(cls, unknown, where)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    _check_not_negative(cls, kwargs, where)
    return cls(**kwargs)


def _check_not_negative(cls: type, kwargs: dict, where: str) -> None:
    """No setting of this pipeline means anything below zero (limits, sizes, counts, seeds, ratios; `None`
    disables a limit): `ingest.max_text_bytes=-1` once passed and silently excluded every document. A dataclass
    that has a setting where a negative number is meaningful lists it in `NEGATIVE_OK`."""
    allowed = getattr(cls, "NEGATIVE_OK", frozenset())
    for key, value in kwargs.items():
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for v in numbers:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 and key not in allowed:
                name = f"{where}.{key}" if where else key
                raise ConfigError(f"{name} must be >= 0 (use null to disable a limit), got {v!r}")


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def parse_overrides(pairs: list[str]) -> dict:
    """`["a.b=1", "c=[x, y]"]` -> `{"a": {"b": 1}, "c": ["x", "y"]}`; values are parsed as YAML."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


# --- describing a config dataclass: every setting, its default and the comment beside it in the source -------------


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str  # dotted, e.g. "en.gopher.min_words"
    value: Any  # the value in the described object (a class's default)
    type: str
    comment: str  # the `# ...` beside the field in the source (else the comment lines just above it)
    group: bool = False  # a nested dataclass: its settings follow, keyed below this one


YAML_WIDTH = 119
_IGNORED_COMMENTS = ("fmt:", "noqa", "type:", "pragma")


@functools.cache
def _own_field_comments(cls: type) -> dict[str, str]:
    """{field: comment} for the fields `cls` itself declares, read from its source."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = src.splitlines()
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, trailing: code before it on the line)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                text = tok.string.lstrip("#").strip()
                if not text.startswith(_IGNORED_COMMENTS):
                    comments[row] = (text, bool(lines[row - 1][:col].strip()))
        tree = ast.parse(src)
    except (SyntaxError, tokenize.TokenError):
        return {}
    classdef = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    out: dict[str, str] = {}
    for node in classdef.body if classdef else []:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        trailing = [comments[r][0] for r in range(node.lineno, node.end_lineno + 1) if comments.get(r, ("", 0))[1]]
        if trailing:
            out[node.target.id] = " ".join(trailing)
            continue
        above, row = [], node.lineno - 1  # a block of comment lines directly above the field
        while row in comments and not comments[row][1]:
            above.insert(0, comments[row][0])
            row -= 1
        if above:
            out[node.target.id] = " ".join(above)
    return out


def field_comments(cls: type) -> dict[str, str]:
    """{field: comment} for every field of dataclass `cls`, inherited ones from the class that declares them."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            own = base.__dict__.get("__annotations__", {})
            comments = _own_field_comments(base)
            # a field redeclared without a comment keeps its base's: it still says what the setting is
            out |= {name: comments[name] for name in own if name in comments}
    return out


def _class_doc(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    if not doc or doc.startswith(f"{cls.__name__}("):  # the signature dataclasses writes when there is none
        return ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    text = str(tp).replace("typing.", "").replace("NoneType", "None")
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text)  # lmpipe.core.runner.InputSpec -> InputSpec


def describe(obj: Any, prefix: str = "") -> list[Setting]:
    """Every setting of a config dataclass (a class: its defaults; an instance: its values), nested dataclasses
    flattened to dotted keys, each with its type and the comment beside the field in the source."""
    if isinstance(obj, type):
        obj = obj()
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    out: list[Setting] = []
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        comment = comments.get(f.name, "")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.append(Setting(key, None, _type_name(hints[f.name]), comment or _class_doc(type(value)), group=True))
            out.extend(describe(value, prefix=f"{key}."))
        else:
            out.append(Setting(key, value, _type_name(hints[f.name]), comment))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def yaml_value(value: Any) -> str:
    """One value as YAML on one line (flow style): what a user writes after `key:` or in `--set key=...`."""
    text = yaml.safe_dump([_plain(value)], default_flow_style=True, allow_unicode=True, width=1 << 30).strip()
    return text[1:-1]  # the list around it


def _is_block(value: Any) -> bool:
    """A list or mapping of mappings (a job's inputs): YAML block style reads better than one long line."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return any(isinstance(v, dict) or (dataclasses.is_dataclass(v) and not isinstance(v, type)) for v in items)


def settings_yaml(obj: Any, indent: int = 0) -> str:
    """A config dataclass (class: defaults; instance: values) as YAML a user can save and edit, with each field's
    source comment as a YAML comment. A mapping value whose values are dataclasses (a job's `stages`) nests too."""
    if isinstance(obj, type):
        obj = obj()
    comments = field_comments(type(obj))
    pad = " " * indent
    lines: list[str] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        nested = dataclasses.is_dataclass(value) and not isinstance(value, type)
        stages = isinstance(value, dict) and value and all(dataclasses.is_dataclass(v) for v in value.values())
        block = not nested and not stages and _is_block(value)
        comment = comments.get(f.name) or (_class_doc(type(value)) if nested else "")
        head = f"{pad}{f.name}:" if nested or stages or block else f"{pad}{f.name}: {yaml_value(value)}"
        if comment and len(head) + 4 + len(comment) > YAML_WIDTH:  # a long comment goes above
            lines.extend(f"{pad}# {line}" for line in textwrap.wrap(comment, YAML_WIDTH - len(pad) - 2))
        elif comment:
            head += f"  # {comment}"
        lines.append(head)
        if nested:
            lines.append(settings_yaml(value, indent + 2))
        elif stages:
            for name, sub in value.items():
                doc = _class_doc(type(sub))
                lines.append(f"{pad}  {name}:" + (f"  # {doc}" if doc else ""))
                lines.append(settings_yaml(sub, indent + 4))
        elif block:
            text = yaml.safe_dump(_plain(value), default_flow_style=False, allow_unicode=True, sort_keys=False)
            lines.extend(f"{pad}  {line}" for line in text.rstrip("\n").splitlines())
    return "\n".join(line for line in lines if line)
