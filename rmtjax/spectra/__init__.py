"""Limit spectra: measures, Stieltjes fixed-point solvers, the MP map, CK/NTK limits."""

from rmtjax._solution import RESULTS, Solution, default_tol
from rmtjax.activations import Activation, get_activation, ntk_constants
from rmtjax.spectra.comparison import LimitCurve, ks_distance, limit_curve
from rmtjax.spectra.fixed_point import solve_fixed_point
from rmtjax.spectra.kernel import kernel_solve, kernel_stieltjes
from rmtjax.spectra.kernel_limits import activation_constants, ck_limit, ntk_limit
from rmtjax.spectra.limit_spectrum import LimitSpectrum
from rmtjax.spectra.measures import (
    DiscreteMeasure,
    MarchenkoPastur,
    Mixture,
    Semicircle,
    marchenko_pastur,
    mixture,
    semicircle,
)
from rmtjax.spectra.moments import contour_moments
from rmtjax.spectra.mp_map import mp_map, mp_map_stieltjes

__all__ = [
    "RESULTS",
    "Activation",
    "DiscreteMeasure",
    "LimitCurve",
    "LimitSpectrum",
    "MarchenkoPastur",
    "Mixture",
    "Semicircle",
    "Solution",
    "activation_constants",
    "ck_limit",
    "contour_moments",
    "default_tol",
    "get_activation",
    "kernel_solve",
    "kernel_stieltjes",
    "ks_distance",
    "limit_curve",
    "marchenko_pastur",
    "mixture",
    "mp_map",
    "mp_map_stieltjes",
    "ntk_constants",
    "ntk_limit",
    "semicircle",
    "solve_fixed_point",
]
