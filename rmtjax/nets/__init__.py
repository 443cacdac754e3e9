"""Networks and kernels: standardised activations, the Fan–Wang MLP, CK/NTK, input data."""

from rmtjax.nets.activations import PRESETS, Activation, get_activation
from rmtjax.nets.data import (
    ImageData,
    Orthogonality,
    SpikedInputs,
    covariance_inputs,
    gaussian_inputs,
    lipschitz_inputs,
    load_cifar10,
    load_digits,
    normalize_rows,
    orthogonality,
    remove_top_pcs,
    spiked_inputs,
)
from rmtjax.nets.flax_mlp import MLP, from_flax_variables, to_flax_variables
from rmtjax.nets.kernels import conjugate_kernel, empirical_ntk, ntk
from rmtjax.nets.mlp import MLPParams, forward, init_mlp, layer_outputs

__all__ = [
    "MLP",
    "PRESETS",
    "Activation",
    "ImageData",
    "MLPParams",
    "Orthogonality",
    "SpikedInputs",
    "conjugate_kernel",
    "covariance_inputs",
    "empirical_ntk",
    "forward",
    "from_flax_variables",
    "gaussian_inputs",
    "get_activation",
    "init_mlp",
    "layer_outputs",
    "lipschitz_inputs",
    "load_cifar10",
    "load_digits",
    "normalize_rows",
    "ntk",
    "orthogonality",
    "remove_top_pcs",
    "spiked_inputs",
    "to_flax_variables",
]
