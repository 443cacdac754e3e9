"""One result type for every iterative solver: the value, why the solve stopped, and raising.

Every iterative solver of rmtjax (the similarity iterations and ADMM of ``rmtjax.graphs``, the
Stieltjes fixed points of ``rmtjax.spectra``) returns a :class:`Solution`. Its ``result`` is an
``int32`` array of :class:`RESULTS` codes, one per solve, so it passes through ``jit`` and
``vmap``; :meth:`Solution.error_if_failed` turns a failed code into an exception, eagerly and
under ``jit`` alike (in the style of optimistix's ``RESULTS`` and ``error_if``).

``throw=`` of the solvers (one rule, decided here by :meth:`Solution.checked` and
:func:`raise_if_failed`): ``True`` raises on a failed solve, eagerly and under ``jit`` (a
runtime check); ``False`` never raises (failed values are NaN, or the record is returned as
it is); ``None``, the default of the spectra value functions, raises eagerly (concrete
inputs) and gives NaN, in the real and imaginary parts, under tracing (``jit``/``vmap``/
``grad``), so an unconverged point never passes as a number.

How the reason is decided (:meth:`Solution.classify`), per solve:

- ``nonfinite``: the value has a NaN or inf entry, or the residual is NaN;
- ``diverged``: otherwise, where the solver detected that it moved away from the solution
  (each solver documents its rule; one that cannot diverge never reports it);
- ``successful``: otherwise, when the solver met its tolerance;
- ``max_steps_reached``: otherwise (the iteration cap came before the tolerance).

Example:
  >>> import jax.numpy as jnp
  >>> sol = Solution.classify(jnp.array([1.0, jnp.nan]), jnp.array([3, 9]),
  ...                         jnp.array([1e-9, jnp.nan]), converged=jnp.array([True, False]))
  >>> [RESULTS(int(code)).name for code in sol.result]
  ['successful', 'nonfinite']
  >>> sol.value_or_nan().tolist()
  [1.0, nan]
"""

from __future__ import annotations

import enum
import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jax.typing import ArrayLike

from rmtjax._checks import check_positive, is_concrete

__all__ = ["RESULTS", "Solution", "check_at_runtime", "default_tol", "raise_if_failed"]


class RESULTS(enum.IntEnum):
    """Why an iterative solve stopped; stored in :attr:`Solution.result` as ``int32`` codes.

    ``RESULTS(code).name`` and ``RESULTS(code).message`` read a concrete code; under ``jit``
    compare arrays with the members (``sol.result == RESULTS.max_steps_reached``).
    """

    successful = 0
    max_steps_reached = 1
    nonfinite = 2
    diverged = 3

    @property
    def message(self) -> str:
        """One sentence on what the reason means and what to try."""
        return _MESSAGES[self]


_MESSAGES = {
    RESULTS.successful: "the solve met its tolerance",
    RESULTS.max_steps_reached: (
        "the iteration cap was reached before the tolerance was met "
        "(raise the step cap or loosen tol)"
    ),
    RESULTS.nonfinite: "the iterate or its residual became NaN or inf (check the inputs)",
    RESULTS.diverged: "the iteration moved away from the solution it looks for",
}


def default_tol(
    dtype: Any, tol: float | None = None, *, f32: float = 1e-5, f64: float = 1e-12
) -> float:
    """``tol`` if given (checked ``> 0``), else ``f64`` for 64-bit ``dtype`` and ``f32`` otherwise.

    Each solver passes its own ``f32``/``f64`` defaults when they differ from ``1e-5``/``1e-12``
    (relative residuals of the Stieltjes fixed points).
    """
    if tol is not None:
        check_positive(tol, "tol")
        return tol
    return f64 if jnp.finfo(dtype).bits >= 64 else f32


def _all_finite(value: jax.Array, residual: jax.Array) -> jax.Array:
    """Per solve (the shape of ``residual``): every entry of ``value`` finite, residual not NaN."""
    trailing = tuple(range(residual.ndim, value.ndim))
    return jnp.all(jnp.isfinite(value), axis=trailing) & ~jnp.isnan(residual)


def _reason(finite: jax.Array, converged: ArrayLike, diverged: ArrayLike) -> jax.Array:
    return jnp.select(
        [~finite, jnp.asarray(diverged, bool), jnp.asarray(converged, bool)],
        [RESULTS.nonfinite, RESULTS.diverged, RESULTS.successful],
        RESULTS.max_steps_reached,
    ).astype(jnp.int32)


def _nan_where_failed(value: jax.Array, converged: jax.Array) -> jax.Array:
    """``value`` with NaN (in real and imaginary parts) at every failed solve."""
    nan = complex(np.nan, np.nan) if jnp.iscomplexobj(value) else np.nan
    ok = jnp.reshape(converged, converged.shape + (1,) * (value.ndim - converged.ndim))
    return jnp.where(ok, value, jnp.asarray(nan, value.dtype))


class Solution(NamedTuple):
    """Result of an iterative solve with its convergence record.

    All fields but ``value`` have the batch shape ``(...)`` of the solves; ``value`` is
    ``(..., *shape)`` with the solver's own trailing shape.

    Attributes:
      value: the solution (the last iterate), or a quantity computed from it.
      converged: bool, ``result == RESULTS.successful``.
      iterations: int32, steps taken.
      residual: the final residual (each solver documents which).
      result: int32 :class:`RESULTS` code, why the solve stopped.
    """

    value: jax.Array
    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array
    result: jax.Array

    @classmethod
    def classify(
        cls,
        value: ArrayLike,
        iterations: ArrayLike,
        residual: ArrayLike,
        *,
        converged: ArrayLike,
        diverged: ArrayLike = False,
    ) -> Solution:
        """The record of a finished solve; ``result`` by the rule of the module docstring.

        Args:
          value: ``(..., *shape)`` last iterate.
          iterations: ``(...)`` steps taken.
          residual: ``(...)`` final residual.
          converged: ``(...)`` bool, the solver's tolerance was met.
          diverged: ``(...)`` bool, the solver detected that it moved away from the solution.
        """
        value, residual = jnp.asarray(value), jnp.asarray(residual)
        result = _reason(_all_finite(value, residual), converged, diverged)
        iterations = jnp.asarray(iterations, jnp.int32)
        return cls(value, result == RESULTS.successful, iterations, residual, result)

    def derive(self, value: ArrayLike | None = None, *, diverged: ArrayLike = False) -> Solution:
        """The record of a quantity computed from this solution (default: the value itself).

        A failed solve keeps its reason; a successful one becomes ``nonfinite`` where the new
        value is not finite and ``diverged`` where ``diverged`` is true.
        """
        value = self.value if value is None else jnp.asarray(value)
        fresh = _reason(_all_finite(value, self.residual), True, diverged)
        result = jnp.where(self.result == RESULTS.successful, fresh, self.result)
        return self._replace(value=value, converged=result == RESULTS.successful, result=result)

    def value_or_nan(self) -> jax.Array:
        """``value`` with NaN (real and imaginary parts) wherever the solve failed."""
        return _nan_where_failed(self.value, self.converged)

    def error_if_failed(self, what: str) -> Solution:
        """Raise if any solve failed, naming ``what`` and the reasons; else return ``self``.

        On concrete arrays this raises ``RuntimeError`` at once. Under tracing (``jit``,
        ``vmap``, ``grad``) it stages a host check (``jax.experimental.io_callback``) that
        raises when the compiled program runs, surfacing as ``jax.errors.JaxRuntimeError``
        with the same message; the returned value is then also NaN at failed solves, so it can
        never pass as a number.
        """
        if is_concrete(self.result) and is_concrete(self.residual):
            _raise_on_host(self.result, self.residual, what=what)
            return self
        check = functools.partial(_raise_on_host, what=what)
        io_callback(check, None, self.result, jax.lax.stop_gradient(self.residual), ordered=False)
        return self._replace(value=self.value_or_nan())

    def checked(self, what: str, throw: bool | None) -> Solution:
        """``self``, raising first when ``throw`` and a solve failed (optimistix's ``throw=``).

        ``throw=True``: :meth:`error_if_failed` (at once on concrete arrays, when the program
        runs under ``jit``, with NaN values at failed solves); ``throw=False``: the record as
        it is, for the caller to inspect ``result``; ``throw=None``: raise on concrete arrays,
        else the record with NaN values at failed solves (no runtime check).
        """
        if throw is not None and not isinstance(throw, bool):
            raise TypeError(f"throw must be True, False or None; got {throw!r}")
        if throw is None:
            if is_concrete(self.result) and is_concrete(self.residual):
                return self.error_if_failed(what)
            return self._replace(value=self.value_or_nan())
        return self.error_if_failed(what) if throw else self

    @property
    def X(self) -> jax.Array:
        """Deprecated alias of :attr:`value` (the similarity matrix of ``rmtjax.graphs``)."""
        warnings.warn(
            "Solution.X is deprecated and will be removed in the next release; use Solution.value",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.value


def _failure_message(result: np.ndarray, residual: np.ndarray, what: str) -> str | None:
    """The error message for concrete ``result`` codes, or None when every solve succeeded."""
    failed = result != RESULTS.successful
    if not failed.any():
        return None
    counts = ", ".join(
        f"{RESULTS(code).name} at {int(np.sum(result == code))}"
        for code in np.unique(result[failed])
    )
    worst = np.max(np.where(failed, np.abs(residual), -np.inf))
    first = RESULTS(int(result[failed].flat[0]))
    return (
        f"{what} did not converge at {int(failed.sum())} of {result.size} points "
        f"({counts}; worst residual {worst:.3g}): {first.message}; pass throw=False to get "
        "NaN there, or inspect the Solution"
    )


def _raise_on_host(result: ArrayLike, residual: ArrayLike, *, what: str) -> None:
    message = _failure_message(np.asarray(result), np.asarray(residual), what)
    if message is not None:
        raise RuntimeError(message)


def raise_if_failed(sol: Solution, what: str, throw: bool | None) -> jax.Array:
    """``sol.value``, never a failed one passed off as a number.

    With ``throw=True`` any failed solve raises (:meth:`Solution.error_if_failed`: at once on
    concrete arrays, when the program runs under ``jit``); with ``throw=False`` failed solves
    give NaN (:meth:`Solution.value_or_nan`); with ``throw=None`` (the documented default)
    they raise on concrete arrays and are NaN under tracing (:meth:`Solution.checked`).
    """
    if throw is False:
        return sol.value_or_nan()
    return sol.checked(what, throw).value


def check_at_runtime(
    ok: ArrayLike, message: str, *, detail: ArrayLike | None = None, error: type = ValueError
) -> None:
    """Raise ``error(message)`` unless every entry of ``ok`` is true, under ``jit`` as well.

    The value checks of rmtjax (``eta > 0``, finite inputs, ...) go through this one place. On
    concrete arrays it raises at once; under tracing (``jit``, ``vmap``, ``grad``) it stages a
    host check (``jax.experimental.io_callback``) that raises when the program runs, which
    surfaces as ``jax.errors.JaxRuntimeError`` carrying ``message``.

    Args:
      ok: bool array, the condition that must hold everywhere.
      message: what is wrong and what is allowed, naming the argument.
      detail: an optional value appended as ``"; got ..."`` (e.g. the offending minimum).
      error: the exception type raised eagerly (under ``jit`` JAX wraps it).
    """
    ok = jnp.asarray(ok)
    detail = None if detail is None else jax.lax.stop_gradient(jnp.asarray(detail))
    if is_concrete(ok) and (detail is None or is_concrete(detail)):
        _raise_unless(ok, detail, message=message, error=error)
        return
    check = functools.partial(_raise_unless, message=message, error=error)
    io_callback(check, None, ok, detail, ordered=False)


def _raise_unless(ok: ArrayLike, detail: ArrayLike | None, *, message: str, error: type) -> None:
    if not np.all(np.asarray(ok)):
        got = "" if detail is None else f"; got {np.asarray(detail).tolist()!r}"
        raise error(message + got)
