"""Options of :func:`~rmtjax.nets.train` and the optimizers its names stand for."""

from __future__ import annotations

import dataclasses
from typing import Any

import optax

from rmtjax._params import ConfigError, Params, param
from rmtjax.nets.losses import LOSSES

__all__ = ["OPTIMIZERS", "TrainConfig", "make_optimizer"]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "lion")
SCHEDULES = ("constant", "cosine", "linear")
EDGES = ("initial", "limit")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Params):
    """Options of :func:`~rmtjax.nets.train` (validated at construction).

    ``optimizer`` is any ``optax.GradientTransformation`` or one of the names of
    :func:`make_optimizer`; ``learning_rate``, ``schedule``, ``final_lr_fraction``,
    ``momentum`` and ``weight_decay`` configure the named ones. The learning-rate schedules:
    ``"constant"``; ``"cosine"`` ``η_t = η_0 (f + (1 − f)(1 + cos(π t/T))/2)``; ``"linear"``
    from ``η_0`` to ``f η_0`` (``f = final_lr_fraction``, ``T = steps``).
    """

    steps: int = param(1000, low=1, doc="optimizer steps")
    optimizer: Any = param(
        "adam", doc=f"an optax.GradientTransformation or one of {', '.join(OPTIMIZERS)}"
    )
    learning_rate: float = param(1e-3, low=0.0, closed=(False, True), doc="peak learning rate")
    schedule: str = param("constant", choices=SCHEDULES, doc="learning-rate schedule")
    final_lr_fraction: float = param(0.0, low=0.0, high=1.0, doc="final / peak learning rate")
    momentum: float | None = param(
        None, low=0.0, high=1.0, doc="heavy-ball momentum (null: 0 for sgd, 0.9 for momentum)"
    )
    weight_decay: float = param(0.0, low=0.0, doc="decoupled weight decay λ (θ -= η_t λ θ)")
    batch_size: int | None = param(None, low=1, doc="minibatch size (null: full batch)")
    track_every: int = param(50, low=1, doc="steps between tracking points")
    top_k: int = param(2, low=1, doc="top eigenvectors kept (label fractions, alignments)")
    probe_size: int | None = param(None, low=1, doc="first rows forming the probe set (null: all)")
    loss: Any = param("squared", doc="squared, cross_entropy, or a callable loss(outputs, labels)")
    edge: str = param(
        "initial", choices=EDGES, doc="outlier edge: largest eigenvalue at init, or limit law"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.optimizer, str):
            if self.optimizer not in OPTIMIZERS:
                raise ConfigError(
                    f"optimizer must be one of {', '.join(OPTIMIZERS)} or an "
                    f"optax.GradientTransformation; got {self.optimizer!r}"
                )
        elif not isinstance(self.optimizer, optax.GradientTransformation):
            raise ConfigError(
                "optimizer must be a name or an optax.GradientTransformation; got "
                f"{type(self.optimizer).__name__}"
            )
        if not (callable(self.loss) or self.loss in LOSSES):
            raise ConfigError(
                f"loss must be one of {', '.join(LOSSES)} or a callable; got {self.loss!r}"
            )


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """The optax optimizer of ``config`` (``config.optimizer`` itself when not a name).

    With ``η_t`` the schedule and ``λ = weight_decay``: ``"sgd"``: ``optax.sgd(η_t,
    momentum)`` (default momentum 0), ``"momentum"``: the same with default momentum 0.9,
    both after ``optax.add_decayed_weights(λ)`` when ``λ > 0``; ``"adam"``/``"adamw"``:
    ``optax.adamw(η_t, weight_decay=λ)`` (Adam at ``λ = 0``); ``"lion"``: ``optax.lion(η_t,
    weight_decay=λ)``.

    References:
      Kingma and Ba, "Adam", ICLR 2015; Loshchilov and Hutter, "Decoupled Weight Decay
      Regularization", ICLR 2019; Chen et al., "Symbolic Discovery of Optimization
      Algorithms" (Lion), NeurIPS 2023.
    """
    if not isinstance(config.optimizer, str):
        return config.optimizer
    lr, final = config.learning_rate, config.learning_rate * config.final_lr_fraction
    if config.schedule == "cosine":
        lr = optax.cosine_decay_schedule(lr, config.steps, alpha=config.final_lr_fraction)
    elif config.schedule == "linear":
        lr = optax.linear_schedule(lr, final, config.steps)
    if config.optimizer in ("adam", "adamw"):
        return optax.adamw(lr, weight_decay=config.weight_decay)
    if config.optimizer == "lion":
        return optax.lion(lr, weight_decay=config.weight_decay)
    default = 0.9 if config.optimizer == "momentum" else 0.0
    momentum = default if config.momentum is None else config.momentum
    sgd = optax.sgd(lr, momentum=momentum or None)
    if config.weight_decay == 0.0:
        return sgd
    return optax.chain(optax.add_decayed_weights(config.weight_decay), sgd)
