"""Shared input validation with clear error messages.

Every public function of rmtjax validates its inputs through these helpers so that bad
input fails with a Python exception naming the argument and what was expected, never a
silent NaN or an XLA trace dump. Shape and dtype checks always run (shapes are static
under ``jit``); value checks (symmetry, finiteness, positivity of array values) run only
on concrete arrays and are skipped for tracers.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "check_choice",
    "check_data_matrix",
    "check_finite",
    "check_in_range",
    "check_matrix_batch",
    "check_positive",
    "check_same_shape",
    "check_square",
    "check_symmetric",
    "is_concrete",
]


def is_concrete(x: ArrayLike) -> bool:
    """True when ``x`` holds concrete values (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def _shape(x: ArrayLike) -> tuple[int, ...]:
    return tuple(np.shape(x))


def check_square(x: ArrayLike, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(..., n, n)``."""
    shape = _shape(x)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name} must be a square matrix of shape (..., n, n); got shape {shape}")


def check_finite(x: ArrayLike, name: str) -> None:
    """Raise ``ValueError`` if a concrete ``x`` contains NaN or inf."""
    if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} contains NaN or inf values")


def check_symmetric(x: ArrayLike, name: str, rtol: float = 1e-5) -> None:
    """Raise ``ValueError`` unless ``x`` is a finite, square, symmetric matrix (batch).

    Symmetry is checked on concrete inputs only, up to ``rtol`` times the largest entry. A
    ``jax.Array`` that passed is remembered by identity while it lives (jax arrays are
    immutable), so a matrix handed down through several public functions (``match`` ->
    ``similarity`` -> ``grampa``) is read once.
    """
    check_square(x, name)
    if not is_concrete(x) or _passed(x, rtol):
        return
    check_finite(x, name)
    a = np.asarray(x)
    scale = max(float(max(a.max(), -a.min())) if a.size else 0.0, 1e-30)
    asym = _max_asymmetry(a)
    if asym > rtol * scale:
        raise ValueError(
            f"{name} must be symmetric; max |{name} - {name}^T| = {asym:.3g} "
            f"(relative {asym / scale:.3g} > tolerance {rtol:.1g})"
        )
    _remember(x, rtol)


_TILE = 256
_symmetric_arrays: dict[tuple[int, float], weakref.ref] = {}


def _max_asymmetry(a: np.ndarray) -> float:
    """``max |a - aᵀ|`` over the last two axes, tile by tile (a ``256 x 256`` tile and its
    mirror stay in cache: 5x faster than ``a - aᵀ`` at n = 1000 and 5000)."""
    n, worst = a.shape[-1], 0.0
    for i in range(0, n, _TILE):
        for j in range(i, n, _TILE):
            tile = a[..., i : i + _TILE, j : j + _TILE]
            mirror = np.swapaxes(a[..., j : j + _TILE, i : i + _TILE], -1, -2)
            if tile.size:
                worst = max(worst, float(np.max(np.abs(tile - mirror))))
    return worst


def _passed(x: ArrayLike, rtol: float) -> bool:
    ref = _symmetric_arrays.get((id(x), rtol))
    return ref is not None and ref() is x


def _remember(x: ArrayLike, rtol: float) -> None:
    if not isinstance(x, jax.Array):  # numpy arrays can change in place
        return
    key = (id(x), rtol)
    _symmetric_arrays[key] = weakref.ref(x, lambda _: _symmetric_arrays.pop(key, None))


def check_matrix_batch(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Symmetric ``(..., n, n)`` matrices with the same ``n`` (leading dims may broadcast)."""
    check_symmetric(a, name_a)
    check_symmetric(b, name_b)
    na, nb = _shape(a)[-1], _shape(b)[-1]
    if na != nb:
        raise ValueError(f"{name_a} and {name_b} must have the same size n; got {na} and {nb}")


def check_same_shape(x: ArrayLike, y: ArrayLike, name_x: str, name_y: str) -> None:
    """Raise ``ValueError`` unless ``x`` and ``y`` have identical shapes."""
    if _shape(x) != _shape(y):
        raise ValueError(
            f"{name_x} and {name_y} must have the same shape; got {_shape(x)} and {_shape(y)}"
        )


def _describe(v: np.ndarray) -> str:
    """A short rendering of a value for error messages (arrays by their range, not in full)."""
    if v.size <= 4:
        return repr(v.tolist() if v.ndim else v.item())
    return f"an array of shape {v.shape} with range [{np.nanmin(v):.6g}, {np.nanmax(v):.6g}]"


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless every concrete value of ``value`` is > 0 (>= 0 if allowed)."""
    if not is_concrete(value):
        return
    v = np.asarray(value)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite; got {_describe(v)}")
    bad = np.any(v < 0) if allow_zero else np.any(v <= 0)
    if bad:
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rel}; got {_describe(v)}")


def check_in_range(
    value: Any, name: str, low: float, high: float, *, closed: tuple[bool, bool] = (True, True)
) -> None:
    """Raise ``ValueError`` unless every concrete value lies in the interval [low, high].

    ``closed`` says whether each end is included.
    """
    if not is_concrete(value):
        return
    v = np.asarray(value)
    lo_ok = v >= low if closed[0] else v > low
    hi_ok = v <= high if closed[1] else v < high
    if not (np.all(np.isfinite(v)) and np.all(lo_ok) and np.all(hi_ok)):
        lb, rb = ("[" if closed[0] else "("), ("]" if closed[1] else ")")
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{rb}; got {_describe(v)}")


def check_choice(value: str, name: str, choices: Iterable[str]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    options = sorted(choices)
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; expected one of {options}")


def check_data_matrix(
    X: ArrayLike, name: str = "X", *, d0: int | None = None, batched: bool = True
) -> jax.Array:
    """A data matrix (rows = samples) as a finite floating array.

    Args:
      X: ``(..., n, d)`` (``(n, d)`` when ``batched=False``); integer and bool inputs are
        cast to the default float dtype.
      name: the argument's name in error messages.
      d0: the required number of columns, or None for any.
      batched: allow leading batch dimensions.

    Returns:
      ``X`` as a ``jax.Array`` of floating dtype.

    Raises:
      ValueError: wrong number of dimensions or columns, or (concrete ``X``) NaN or inf.
    """
    X = jnp.asarray(X)
    cols = "d" if d0 is None else f"d_0 = {d0}"
    expected = f"(..., n, {cols})" if batched else f"(n, {cols})"
    ndim_ok = X.ndim >= 2 if batched else X.ndim == 2
    if not ndim_ok or (d0 is not None and X.shape[-1] != d0):
        raise ValueError(f"{name} must have shape {expected}; got {X.shape}")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(float)
    check_finite(X, name)
    return X
