"""Networks and kernels: standardized activations, the Fan–Wang MLP, CK/NTK, input data."""

from rmtjax.activations import PRESETS, Activation, get_activation
from rmtjax.nets.data import (
    PHOTOGRAPHS,
    ImageData,
    Orthogonality,
    SpikedInputs,
    covariance_inputs,
    gaussian_inputs,
    image_patches,
    lipschitz_inputs,
    load_cifar10,
    load_digits,
    normalize_rows,
    orthogonality,
    remove_top_pcs,
    spiked_inputs,
)
from rmtjax.nets.empirical_ck import empirical_ck, flax_intermediate
from rmtjax.nets.empirical_ntk import NTKCost, empirical_ntk, empirical_ntk_fn, ntk_cost
from rmtjax.nets.flax_mlp import MLP, from_flax_variables, to_flax_variables
from rmtjax.nets.kernels import conjugate_kernel, ntk, ntk_surrogate
from rmtjax.nets.losses import LOSSES
from rmtjax.nets.mlp import MLPParams, forward, init_mlp, layer_outputs
from rmtjax.nets.models import Model, as_model
from rmtjax.nets.tracking import TrackRecord, limit_bulk_edges, tracker
from rmtjax.nets.train import (
    NonFiniteLossError,
    TrainResult,
    TrainState,
    init_state,
    state_from_bytes,
    state_to_bytes,
    train,
)
from rmtjax.nets.train_config import OPTIMIZERS, TrainConfig, make_optimizer

__all__ = [
    "LOSSES",
    "MLP",
    "OPTIMIZERS",
    "PHOTOGRAPHS",
    "PRESETS",
    "Activation",
    "ImageData",
    "MLPParams",
    "Model",
    "NTKCost",
    "NonFiniteLossError",
    "Orthogonality",
    "SpikedInputs",
    "TrackRecord",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "as_model",
    "conjugate_kernel",
    "covariance_inputs",
    "empirical_ck",
    "empirical_ntk",
    "empirical_ntk_fn",
    "flax_intermediate",
    "forward",
    "from_flax_variables",
    "gaussian_inputs",
    "get_activation",
    "image_patches",
    "init_mlp",
    "init_state",
    "layer_outputs",
    "limit_bulk_edges",
    "lipschitz_inputs",
    "load_cifar10",
    "load_digits",
    "make_optimizer",
    "normalize_rows",
    "ntk",
    "ntk_cost",
    "ntk_surrogate",
    "orthogonality",
    "remove_top_pcs",
    "spiked_inputs",
    "state_from_bytes",
    "state_to_bytes",
    "to_flax_variables",
    "tracker",
    "train",
]
