"""Typed, frozen configuration from plain mappings: the mechanism every config section uses.

It lives in the bottom package because every other package imports it. A section is a frozen
dataclass; `from_mapping` turns a YAML mapping into one, refusing unknown keys, wrong types and
impossible values (a section's `__post_init__` raises `ConfigError`) with one line that names the
file, the field, the value and the rule:

    configs/beit.yaml: search.space.lr.low is 0.0, but must be > 0 for a log scale
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Union

import yaml

from core.errors import UserError

__all__ = ["ConfigError", "from_mapping", "to_mapping", "check", "load_yaml", "dump_yaml", "with_overrides", "parse_assignment"]

_MISSING = object()
MAX_CONFIG_BYTES = 1 << 20
"""A config file larger than this (1 MiB; the shipped ones are under 4 KiB) is refused before it is parsed."""
MAX_CONFIG_NODES = 100_000
"""Values a config may hold once its YAML aliases are expanded: a few aliases nested can name billions."""


class ConfigError(UserError):
    """A config value breaks a rule. `str()` is the one-line message shown to the user.

    Raised with a field path relative to the section that found it; `located` prefixes the file
    and the path of the section, so the message names the full field.
    """

    def __init__(self, field: str, value: Any = _MISSING, rule: str = "", *, source: str = ""):
        self.field, self.value, self.rule, self.source = field, value, rule, source
        super().__init__(str(self))

    def located(self, source: str | None = None, prefix: str = "") -> ConfigError:
        field = f"{prefix}.{self.field}" if prefix and self.field else (prefix or self.field)
        return ConfigError(field, self.value, self.rule, source=source or self.source)

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.value is _MISSING:
            return f"{where}{' '.join(filter(None, (self.field, self.rule)))}"
        return f"{where}{self.field} is {self.value!r}, but {self.rule}"


def check(condition: bool, field: str, value: Any, rule: str) -> None:
    """Raise `ConfigError(field, value, rule)` unless `condition` holds."""
    if not condition:
        raise ConfigError(field, value, rule)


def from_mapping(cls: type, mapping: Any, *, source: str = "", prefix: str = "") -> Any:
    """Build the frozen dataclass `cls` from `mapping`, validating keys, types and values."""
    try:
        return _build(cls, mapping, prefix)
    except ConfigError as err:
        raise err.located(source) from None


def to_mapping(obj: Any) -> Any:
    """The plain (YAML-ready) form of a config tree; `from_mapping` of it gives back an equal tree."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_mapping(v) for k, v in obj.items()}
    return obj


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping safely (no Python tags); errors name the file and the line."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError("", _MISSING, f"is {size} bytes, over the limit of {MAX_CONFIG_BYTES} for a config file",
                              source=str(path))
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError("", _MISSING, f"cannot be read: {err.strerror or err}", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("", _MISSING, "is not UTF-8 text", source=str(path)) from None
    try:
        data = _safe_load_bounded(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("", _MISSING, f"YAML error{line}: {problem}", source=str(path)) from None
    except _TooLarge as err:
        raise ConfigError("", _MISSING, str(err), source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config", type(data).__name__, "must be a mapping of sections", source=str(path))
    return data


class _TooLarge(Exception):
    pass


def _safe_load_bounded(text: str) -> Any:
    """yaml.safe_load, refusing a document whose aliases expand past MAX_CONFIG_NODES before building it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, {})
        if expanded > MAX_CONFIG_NODES:
            raise _TooLarge(f"expands to {expanded} values through YAML aliases, over the limit of {MAX_CONFIG_NODES}")
        return loader.construct_document(node)
    except RecursionError:
        raise _TooLarge("nests too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values under `node` with every alias expanded, computed once per distinct node (nothing is expanded)."""
    key = id(node)
    if memo.get(key) == -1:
        raise _TooLarge("holds a YAML alias inside the value it names (a loop)")
    if key not in memo:
        memo[key] = -1
        if isinstance(node, yaml.MappingNode):
            memo[key] = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            memo[key] = 1 + sum(_expanded_size(v, memo) for v in node.value)
        else:
            memo[key] = 1
        memo[key] = min(memo[key], MAX_CONFIG_NODES + 1)
    return memo[key]


def dump_yaml(tree: Any, path: str | Path) -> None:
    """Write a config tree as YAML, exactly as `from_mapping` reads it back."""
    Path(path).write_text(yaml.safe_dump(to_mapping(tree), sort_keys=False), encoding="utf-8")


def with_overrides(tree: Any, overrides: Mapping[str, Any], *, source: str = "overrides") -> Any:
    """A new tree with dotted-path values replaced (`{"train.lr": 0.01}`), validated like a file."""
    mapping = to_mapping(tree)
    for dotted, value in overrides.items():
        node, parts = mapping, dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(dotted, _MISSING, "is not a field of the config", source=source)
            if i == len(parts) - 1:
                node[part] = to_mapping(value)
            else:
                node = node[part]
    return from_mapping(type(tree), mapping, source=source)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`"train.lr=1e-3"` -> `("train.lr", 0.001)`; the value is read as YAML (numbers, lists, true)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "must look like section.field=value")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError("--set", text, "has a value that is not valid YAML") from None


def _build(cls: type, mapping: Any, path: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ConfigError(path or "the config", _short(mapping), "must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in mapping:
        if key not in fields:
            raise ConfigError(_join(path, str(key)), _MISSING, _unknown_key_rule(str(key), fields))
    kwargs = {name: _coerce(hints[name], mapping[name], _join(path, name)) for name in fields if name in mapping}
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(_join(path, name), _MISSING, "is required but missing")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise err.located(prefix=path) from None


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, {} if value is None else value, path)
    if origin in (Union, types.UnionType):
        return _coerce_union(args, value, path)
    if origin is Literal:
        if value not in args:
            raise ConfigError(path, value, f"must be one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, _short(value), "must be a list")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, _short(value), "must be a mapping")
        vt = args[1] if args else Any
        return {str(k): _coerce(vt, v, _join(path, str(k))) for k, v in value.items()}
    return _coerce_scalar(tp, value, path)


def _coerce_union(args: tuple, value: Any, path: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for option in (a for a in args if a is not type(None)):
        try:
            return _coerce(option, value, path)
        except ConfigError as err:
            errors.append(err.rule)
    raise ConfigError(path, _short(value), " or ".join(dict.fromkeys(errors)))


def _coerce_scalar(tp: type, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(path, _short(value), "must be true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(path, _short(value), "must be an integer")
    if tp is float:
        number = _number(value)
        if number is None:
            raise ConfigError(path, _short(value), "must be a number")
        if not math.isfinite(number):
            raise ConfigError(path, _short(value), "must be a finite number (not .nan or .inf)")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(path, _short(value), "must be a string")
    raise TypeError(f"config field {path} has an unsupported type {tp!r}")  # a bug in a section, not user input


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer too large for a float
            return math.inf
    if isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _unknown_key_rule(key: str, fields: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(fields), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"is not a known field{hint}; known fields: {', '.join(fields)}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."
