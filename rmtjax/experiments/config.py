"""Experiment configs: frozen dataclasses with validated, documented fields.

An experiment's config class is the single source of its parameters: the YAML file, the
``--set key=value`` overrides, the resolved ``config.yaml`` and the README table all derive
from it. Fields are declared with :func:`param` (from :mod:`rmtjax._params`, re-exported here),
which records the allowed range or choices and a one-line doc; validation turns every bad
value into a one-line :class:`ConfigError` naming the key and what is allowed.

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
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rmtjax._params import (
    ConfigError,
    Params,
    describe_params,
    fields_of,
    param,
    plain,
    spec_of,
    validated,
)

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


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(Params):
    """Fields every experiment config has; experiment configs subclass it.

    Constructing a config validates and normalizes every field (types, ranges, choices), so
    ``Config(n=-1)`` fails exactly like ``n: -1`` in a YAML file. A subclass that defines
    ``__post_init__`` for cross-field checks must call ``super().__post_init__()`` first and
    raise :class:`ConfigError` for bad combinations.
    """

    seed: int = param(0, low=0, high=2**32 - 1, doc="root seed; trial t uses fold_in(key(seed), t)")
    chunk_size: int = param(
        64, low=1, in_fingerprint=False, doc="trials per compiled batch sharded over devices"
    )


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
    names = [f.name for f in fields_of(cls)]
    for key in mapping:
        if key not in names:
            raise ConfigError(_unknown_key_message(key, names, cls))
    values = validated(cls, mapping)
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
    return {f.name: plain(getattr(config, f.name)) for f in fields_of(config)}


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
        f.name: plain(getattr(config, f.name))
        for f in fields_of(config)
        if spec_of(f)["in_fingerprint"]
    }


def require_nonempty(config: Any, *keys: str) -> None:
    """For cross-field checks: raise :class:`ConfigError` if a sequence field is empty."""
    for key in keys:
        if len(getattr(config, key)) == 0:
            raise ConfigError(f"{key} must hold at least one value; got []")


def describe_config(cls: type) -> list[dict[str, Any]]:
    """One row per field: ``key``, ``type``, ``default``, ``allowed``, ``doc``."""
    return describe_params(cls)


def _unknown_key_message(key: Any, names: list[str], cls: type) -> str:
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown config key {key!r} for {cls.__name__}{hint} (valid keys: {', '.join(names)})"


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
