"""Validated, documented dataclass fields: the one schema of every options object.

A field declared with :func:`param` records its allowed range or choices and a one-line doc;
a frozen dataclass subclassing :class:`Params` validates and normalizes every field at
construction, so a bad value raises a one-line :class:`ConfigError` naming the field and what
is allowed. Experiment configs, the trainer's options and the command line's ``--set`` keys
all read this metadata, so validation, documentation and keys have one source.

Example::

    @dataclasses.dataclass(frozen=True)
    class Options(Params):
        n: int = param(500, low=2, doc="matrix size")
        deltas: tuple[float, ...] = param((0.0, 0.01), low=0.0, high=1.0, doc="noise levels")
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from rmtjax._checks import check_choice, check_in_range

__all__ = ["ConfigError", "Params", "describe_params", "param", "param_like"]

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


def param_like(cls: type, name: str, default: Any = dataclasses.MISSING, **changes: Any) -> Any:
    """The :func:`param` of field ``name`` of ``cls``, with a new default or other changes.

    A config that exposes another options object's field (an experiment exposing the
    trainer's ``learning_rate``) declares it with this, so range, choices and doc stay in
    one place.

    Args:
      cls: a dataclass whose fields use :func:`param`.
      name: the field.
      default: the new default (``MISSING``: keep the field's).
      **changes: :func:`param` keywords to override (e.g. ``choices`` for a narrower set).

    Returns:
      A ``dataclasses.field`` carrying the metadata.
    """
    f = {g.name: g for g in fields_of(cls)}[name]
    if default is dataclasses.MISSING:
        default = f.default
    return param(default, **{**spec_of(f), **changes})


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of frozen dataclasses whose fields use :func:`param`.

    Constructing one validates and normalizes every field (types, ranges, choices). A
    subclass that defines ``__post_init__`` for cross-field checks must call
    ``super().__post_init__()`` first and raise :class:`ConfigError` for bad combinations.
    """

    def __post_init__(self) -> None:
        values = validated(type(self), {f.name: getattr(self, f.name) for f in fields_of(self)})
        for name, value in values.items():
            object.__setattr__(self, name, value)


def describe_params(cls: type) -> list[dict[str, Any]]:
    """One row per field: ``key``, ``type``, ``default``, ``allowed``, ``doc``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in fields_of(cls):
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        rows.append(
            {
                "key": f.name,
                "type": type_name(hints[f.name]),
                "default": None if default is dataclasses.MISSING else plain(default),
                "allowed": _allowed(spec_of(f)),
                "doc": spec_of(f)["doc"],
            }
        )
    return rows


# --- validation (also used by rmtjax.experiments.config) -----------------------------------


def fields_of(obj: Any) -> tuple[dataclasses.Field, ...]:
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"expected a config dataclass; got {obj!r}")
    return dataclasses.fields(obj)


def spec_of(f: dataclasses.Field) -> dict[str, Any]:
    default = {"low": None, "high": None, "closed": (True, True), "choices": None, "doc": ""}
    return {**default, "in_fingerprint": True, **f.metadata.get(_META, {})}


def validated(cls: type, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce and check every field of ``cls`` present in ``mapping`` or required."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields_of(cls):
        if f.name not in mapping:
            required = f.default is dataclasses.MISSING and (
                f.default_factory is dataclasses.MISSING
            )
            if required:
                raise ConfigError(f"missing config key {f.name!r} (it has no default)")
            continue
        value = _coerce(mapping[f.name], hints[f.name], f.name)
        _check_allowed(value, spec_of(f), f.name)
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
    got = f"{plain(value)!r} ({type(value).__name__})"
    return ConfigError(f"{key} must be {type_name(hint)}; got {got}")


def type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin in (tuple, list) or hint in (tuple, list):
        if args and (origin is list or args[-1] is Ellipsis):
            return f"a list of {_plural(args[0])}"
        if args:
            return f"a list of {len(args)} values ({', '.join(type_name(a) for a in args)})"
        return "a list"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    plural = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
    return plural.get(hint, type_name(hint))


def _allowed(spec: dict[str, Any]) -> str:
    if spec["choices"] is not None:
        return "one of " + ", ".join(str(c) for c in spec["choices"])
    low, high = spec["low"], spec["high"]
    if low is None and high is None:
        return ""
    lb, rb = ("[" if spec["closed"][0] else "("), ("]" if spec["closed"][1] else ")")
    return f"{lb}{'-inf' if low is None else low}, {'inf' if high is None else high}{rb}"


def plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value
