"""Training losses: squared error, softmax cross-entropy, or a user function.

A loss maps the model's outputs on a batch and the batch's labels to a scalar. Labels are
checked against the outputs once, before training (:func:`check_labels`), and encoded as the
*targets* the trainer compares predictions with (:func:`targets`): the labels themselves for
squared error, one-hot rows for cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmtjax._checks import check_finite

__all__ = [
    "LOSSES",
    "check_labels",
    "cross_entropy",
    "get_loss",
    "predictions",
    "squared",
    "targets",
]

Loss = Callable[[jax.Array, jax.Array], jax.Array]


def squared(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``(1/2m) Σ_α ||f(x_α) − y_α||²`` over the ``m`` samples (outputs ``(m, ...)``)."""
    residual = (outputs - labels).reshape(outputs.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(residual**2, axis=-1))


def cross_entropy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``(1/m) Σ_α −log softmax(f(x_α))_{y_α}``: logits ``(m, c)``, integer labels ``(m,)``."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(outputs, labels))


LOSSES: dict[str, Loss] = {"squared": squared, "cross_entropy": cross_entropy}


def get_loss(loss: str | Loss) -> Loss:
    """The loss function of a name in :data:`LOSSES` or a callable ``loss(outputs, labels)``."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable; got {loss!r}")
    return LOSSES[loss]


def check_labels(labels: Any, out_shape: tuple[int, ...], loss: Any, name: str) -> jax.Array:
    """``labels`` checked against outputs of shape ``out_shape = (n, ...)``.

    Squared error (and a callable loss) needs labels of the outputs' shape (a scalar output
    takes ``(n,)``); cross-entropy needs integer classes ``(n,)`` in ``[0, c)`` for logits
    ``(n, c)``.

    Raises:
      ValueError: wrong shape, NaN/inf, or a class outside ``[0, c)``.
    """
    labels = jnp.asarray(labels)
    if loss == "cross_entropy":
        if len(out_shape) != 2 or labels.shape != out_shape[:1]:
            raise ValueError(
                f"{name} must be integer classes of shape {out_shape[:1]} for cross_entropy on "
                f"logits of shape (n, c); got labels {labels.shape}, outputs {out_shape}"
            )
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(
                f"{name} must be integer classes for cross_entropy; got {labels.dtype}"
            )
        bad = np.asarray((labels < 0) | (labels >= out_shape[1]))
        if bad.any():
            raise ValueError(f"{name} must lie in [0, {out_shape[1]}); got {labels[bad][0]}")
        return labels
    if labels.shape != out_shape:
        raise ValueError(
            f"{name} must have the model outputs' shape {out_shape}; got {labels.shape}"
        )
    check_finite(labels, name)
    return labels.astype(jnp.result_type(labels.dtype, float))


def targets(labels: jax.Array, outputs_shape: tuple[int, ...], loss: Any) -> jax.Array:
    """What predictions are compared with: one-hot rows for cross-entropy, else the labels."""
    if loss == "cross_entropy":
        return jax.nn.one_hot(labels, outputs_shape[-1])
    return labels


def predictions(outputs: jax.Array, loss: Any) -> jax.Array:
    """The prediction of the targets: class probabilities for cross-entropy, else the outputs."""
    if loss == "cross_entropy":
        return jax.nn.softmax(outputs, axis=-1)
    return outputs
