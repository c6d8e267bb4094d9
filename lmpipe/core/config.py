"""Typed configuration: frozen dataclasses beside each stage's code; YAML files and `--set` only override them.

Unknown keys are errors that list the valid ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
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
