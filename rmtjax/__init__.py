"""rmtjax: random-matrix theory in JAX (spectral graph matching, neural-network kernel spectra)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rmtjax")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
