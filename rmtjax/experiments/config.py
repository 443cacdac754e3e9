"""Experiment configs: frozen dataclasses with validated, documented fields.

An experiment's config class is the single source of its parameters: the YAML file, the
``--set key=value`` overrides, the resolved ``config.yaml`` and the README table all derive
from it. Fields are declared with :func:`param`, which records the allowed range or choices
and a one-line doc; validation turns every bad value into a one-line :class:`ConfigError`
naming the key and what is allowed.

Example::

    @dataclasses.dataclass(frozen=True)
    class OverlapConfig(ExperimentConfig):
        n: int = param(500, low=2, doc="matrix size")
        deltas: tuple[float, ...] = param((0.0, 0.01), low=0.0, high=1.0, doc="noise levels")
        trials: int = param(1000, low=1, in_fingerprint=False, doc="Monte Carlo trials")
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rmtjax._checks import check_choice, check_in_range

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "apply_overrides",
    "describe_config",
    "fingerprint",
    "fingerprint_fields",
    "load_config",
    "param",
    "read_yaml",
    "require_nonempty",
    "to_dict",
]

_META = "rmtjax"


class ConfigError(ValueError):
    """Bad user configuration; the message is one line naming the key and what is allowed."""


def param(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: tuple[bool, bool] = (True, True),
    choices: Iterable[Any] | None = None,
    doc: str = "",
    in_fingerprint: bool = True,
) -> Any:
    """A config field with its allowed values and documentation.

    Args:
      default: default value (a list default is copied per instance).
      low: smallest allowed value (each element for a sequence), or None.
      high: largest allowed value, or None.
      closed: whether ``low`` and ``high`` themselves are allowed.
      choices: the allowed values (each element for a sequence), or None.
      doc: one-line description (README table, ``rmtjax list NAME``).
      in_fingerprint: False for fields that do not change any trial's result (trial counts,
        chunk size, plotting options): a stored run stays resumable when they change.

    Returns:
      A ``dataclasses.field`` carrying the metadata.
    """
    meta = {
        _META: {
            "low": low,
            "high": high,
            "closed": tuple(closed),
            "choices": None if choices is None else tuple(choices),
            "doc": doc,
            "in_fingerprint": in_fingerprint,
        }
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Fields every experiment config has; experiment configs subclass it.

    Constructing a config validates and normalises every field (types, ranges, choices), so
    ``Config(n=-1)`` fails exactly like ``n: -1`` in a YAML file. A subclass that defines
    ``__post_init__`` for cross-field checks must call ``super().__post_init__()`` first and
    raise :class:`ConfigError` for bad combinations.
    """

    seed: int = param(0, low=0, high=2**32 - 1, doc="root seed; trial t uses fold_in(key(seed), t)")
    chunk_size: int = param(
        64, low=1, in_fingerprint=False, doc="trials per compiled batch sharded over devices"
    )

    def __post_init__(self) -> None:
        values = _validated(type(self), {f.name: getattr(self, f.name) for f in _fields(self)})
        for name, value in values.items():
            object.__setattr__(self, name, value)


def load_config(cls: type, mapping: Mapping[str, Any]) -> Any:
    """Build and validate a config of dataclass type ``cls`` from a plain mapping.

    Missing keys take their defaults; ints are accepted for floats, integral floats for
    ints, lists for tuples.

    Args:
      cls: a frozen dataclass whose fields use :func:`param`.
      mapping: key -> value, as read from YAML.

    Returns:
      An instance of ``cls``.

    Raises:
      ConfigError: unknown key (with a "did you mean" hint), missing required key, wrong
        type, value out of range or not among the choices, or a failed cross-field check.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"config must be a mapping of key: value; got {type(mapping).__name__}")
    names = [f.name for f in _fields(cls)]
    for key in mapping:
        if key not in names:
            raise ConfigError(_unknown_key_message(key, names, cls))
    values = _validated(cls, mapping)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e).splitlines()[0]) from e


def apply_overrides(mapping: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return ``mapping`` updated by ``key=value`` strings (``--set`` on the command line).

    Each value is parsed as YAML: ``n=500`` is an int, ``eta=1e-3`` a float, ``plot=false`` a
    bool, ``deltas=[0, 0.01]`` a list, ``method=grampa`` a string.

    Raises:
      ConfigError: an override without ``=`` or with an unparsable value.
    """
    out = dict(mapping)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value; got {item!r}")
        try:
            out[key] = yaml.load(text, Loader=_Loader) if text.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(
                f"--set {key}: cannot parse {text!r} as a YAML value ({_yaml_problem(e)})"
            ) from e
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` (an empty file is an empty mapping).

    Raises:
      ConfigError: missing file, text that is not UTF-8, broken YAML, a key given twice, or
        a top level that is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
            "save the config as UTF-8"
        ) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(e)}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value at the top level")
    return data


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain YAML/JSON-ready data (tuples become lists), in field order."""
    return {f.name: _plain(getattr(config, f.name)) for f in _fields(config)}


def fingerprint(config: Any) -> str:
    """A stable hex hash of the config's class name and its result-defining fields.

    Fields declared with ``in_fingerprint=False`` (chunk size, trial counts, ...) are left out,
    so changing them keeps a stored run resumable.
    """
    text = json.dumps([type(config).__name__, fingerprint_fields(config)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_fields(config: Any) -> dict[str, Any]:
    """The fields that enter :func:`fingerprint`, as plain data in field order."""
    return {
        f.name: _plain(getattr(config, f.name))
        for f in _fields(config)
        if _spec(f)["in_fingerprint"]
    }


def require_nonempty(config: Any, *keys: str) -> None:
    """For cross-field checks: raise :class:`ConfigError` if a sequence field is empty."""
    for key in keys:
        if len(getattr(config, key)) == 0:
            raise ConfigError(f"{key} must hold at least one value; got []")


def describe_config(cls: type) -> list[dict[str, Any]]:
    """One row per field: ``key``, ``type``, ``default``, ``allowed``, ``doc``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in _fields(cls):
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        rows.append(
            {
                "key": f.name,
                "type": _type_name(hints[f.name]),
                "default": None if default is dataclasses.MISSING else _plain(default),
                "allowed": _allowed(_spec(f)),
                "doc": _spec(f)["doc"],
            }
        )
    return rows


# --- validation ---------------------------------------------------------------------------


def _fields(obj: Any) -> tuple[dataclasses.Field, ...]:
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"expected a config dataclass; got {obj!r}")
    return dataclasses.fields(obj)


def _spec(f: dataclasses.Field) -> dict[str, Any]:
    default = {"low": None, "high": None, "closed": (True, True), "choices": None, "doc": ""}
    return {**default, "in_fingerprint": True, **f.metadata.get(_META, {})}


def _validated(cls: type, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce and check every field of ``cls`` present in ``mapping`` or required."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in _fields(cls):
        if f.name not in mapping:
            required = f.default is dataclasses.MISSING and (
                f.default_factory is dataclasses.MISSING
            )
            if required:
                raise ConfigError(f"missing config key {f.name!r} (it has no default)")
            continue
        value = _coerce(mapping[f.name], hints[f.name], f.name)
        _check_allowed(value, _spec(f), f.name)
        out[f.name] = value
    return out


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Return ``value`` converted to the annotated type, or raise ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
        raise _type_error(key, hint, value)
    if origin in (tuple, list) or hint in (tuple, list):
        return _coerce_sequence(value, hint, key)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Any:
        return value
    else:
        raise TypeError(f"config field {key!r} has an unsupported annotation {hint!r}")
    raise _type_error(key, hint, value)


def _coerce_sequence(value: Any, hint: Any, key: str) -> tuple | list:
    """``tuple[T, ...]``, ``tuple[A, B]``, ``list[T]`` or bare ``tuple``/``list`` from a list."""
    if not isinstance(value, list | tuple):
        raise _type_error(key, hint, value)
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if args and origin is tuple and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise _type_error(key, hint, value)
        element_hints = list(args)
    else:
        element_hints = [args[0] if args else Any] * len(value)
    items = [_coerce(v, h, key) for v, h in zip(value, element_hints, strict=True)]
    return tuple(items) if origin is tuple else items


def _check_allowed(value: Any, spec: dict[str, Any], key: str) -> None:
    items = list(value) if isinstance(value, list | tuple) else [value]
    items = [v for v in items if v is not None]
    try:
        if spec["choices"] is not None:
            for v in items:
                check_choice(v, key, spec["choices"])
        if spec["low"] is not None or spec["high"] is not None:
            low = -math.inf if spec["low"] is None else spec["low"]
            high = math.inf if spec["high"] is None else spec["high"]
            for v in items:
                check_in_range(v, key, low, high, closed=spec["closed"])
    except ValueError as e:
        raise ConfigError(str(e)) from e


def _type_error(key: str, hint: Any, value: Any) -> ConfigError:
    got = f"{_plain(value)!r} ({type(value).__name__})"
    return ConfigError(f"{key} must be {_type_name(hint)}; got {got}")


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (tuple, list) or hint in (tuple, list):
        if args and (origin is list or args[-1] is Ellipsis):
            return f"a list of {_plural(args[0])}"
        if args:
            return f"a list of {len(args)} values ({', '.join(_type_name(a) for a in args)})"
        return "a list"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    plural = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
    return plural.get(hint, _type_name(hint))


def _allowed(spec: dict[str, Any]) -> str:
    if spec["choices"] is not None:
        return "one of " + ", ".join(str(c) for c in spec["choices"])
    low, high = spec["low"], spec["high"]
    if low is None and high is None:
        return ""
    lb, rb = ("[" if spec["closed"][0] else "("), ("]" if spec["closed"][1] else ")")
    return f"{lb}{'-inf' if low is None else low}, {'inf' if high is None else high}{rb}"


def _unknown_key_message(key: Any, names: list[str], cls: type) -> str:
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown config key {key!r} for {cls.__name__}{hint} (valid keys: {', '.join(names)})"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# --- YAML ---------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` and ``1e3`` as floats (YAML 1.2) and refuses repeated keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = []
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.append(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"
