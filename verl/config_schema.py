"""Typed conversion between plain nested dicts (YAML/CLI) and config dataclasses.

Generic over any dataclass tree: unknown keys, wrong types, invalid ``Literal`` choices and attempts to set
derived fields raise ``ConfigError`` with the full dotted key. Supported field types: ``bool``, ``int``,
``float`` (ints accepted), ``str`` (numbers accepted), ``Literal[...]``, ``X | None``, ``list[X]`` (a bare
string becomes a one-item list), ``tuple[X, ...]`` of fixed length, ``dict[str, X]``, ``Any`` and nested
dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, TypeVar, Union

from dataset.did_you_mean import did_you_mean

__all__ = ["ConfigError", "build_dataclass", "coerce", "dataclass_to_dict", "derived"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key is unknown, has a bad value or breaks a consistency rule."""


def derived(source: str, default: Any) -> Any:
    """A field filled by ``finalize_config`` from ``source`` (a dotted key); users may not set it."""
    return dataclasses.field(default=default, metadata={"derived": source})


def build_dataclass(cls: type[T], raw: Mapping[str, Any]) -> T:
    """Instantiate ``cls`` with its defaults, then apply ``raw`` (nested dicts) with type checking."""
    obj = cls()
    _apply(obj, raw, "")
    return obj


def dataclass_to_dict(obj: Any, include_derived: bool = True) -> dict[str, Any]:
    """Nested plain dict of a dataclass tree; tuples become lists; derived fields optional."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not include_derived and "derived" in f.metadata:
            continue
        out[f.name] = _plain(getattr(obj, f.name), include_derived)
    return out


def _plain(value: Any, include_derived: bool) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclass_to_dict(value, include_derived)
    if isinstance(value, (list, tuple)):
        return [_plain(v, include_derived) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, include_derived) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _apply(obj: Any, raw: Mapping[str, Any], prefix: str) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    hints = _hints(type(obj))
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            hint = did_you_mean(str(key), fields, prefix)
            raise ConfigError(f"unknown key '{dotted}'{hint}; allowed under '{prefix.rstrip('.') or '<root>'}': "
                              f"{sorted(n for n, f in fields.items() if 'derived' not in f.metadata)}")
        source = fields[key].metadata.get("derived")
        if source is not None:
            raise ConfigError(f"'{dotted}' is derived from '{source}'; set that key instead")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            _apply(getattr(obj, key), value, dotted + ".")
        else:
            setattr(obj, key, coerce(value, tp, dotted))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against type ``tp`` and return it converted (int->float, list->tuple, ...)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {options}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(f"{key}: invalid value {value!r}; allowed: {list(args)}")
    if origin is list:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(items)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    return _coerce_scalar(value, tp, key)


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and is_number and isinstance(value, int):
        return value
    if tp is float and is_number:
        return float(value)
    if tp is str and (isinstance(value, str) or is_number):
        return str(value)
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{key}: expected {name}, got {value!r} ({type(value).__name__})")
