"""Array helpers at the bottom of ``mytorch``: the float dtype rule and the overflow-free
sigmoid. Both the layers (``nn``) and the automatic differentiation (``autograd``) use
them, so they live below both; this module imports nothing from ``mytorch``."""
import numpy as np

__all__ = ["as_float_array", "stable_sigmoid"]


def as_float_array(x):
    """``x`` as an ndarray of float32 (kept when given) or else float64."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def stable_sigmoid(Z):
    """1 / (1 + exp(-Z)) without overflow: exp is only taken of -|Z|."""
    E = np.exp(-np.abs(Z))                               # in (0, 1]
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E)).astype(Z.dtype, copy=False)
