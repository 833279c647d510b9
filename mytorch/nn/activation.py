"""Activation functions: ``forward(Z) -> A`` and ``backward(dLdA) -> dLdZ``.

Element-wise activations work on any shape; ``backward`` multiplies dLdA by the local
derivative dA/dZ computed from what ``forward`` stored. Outputs keep the input's float
dtype (float32 stays float32, everything else becomes float64).
"""
import math

import numpy as np

from ..arrays import as_float_array, stable_sigmoid

__all__ = ["GELU", "Identity", "ReLU", "Sigmoid", "Softmax", "Swish", "Tanh"]


class _Activation:
    """Shared bookkeeping: remember Z and A, check dLdA's shape in backward."""

    def _check(self, dLdA):
        if self.A is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if np.shape(dLdA) != self.A.shape:
            raise ValueError(f"{type(self).__name__}.backward expected dLdA of shape "
                             f"{self.A.shape}, got shape {np.shape(dLdA)}")
        return np.asarray(dLdA)

    A = None

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(_Activation):
    """A = Z; dA/dZ = 1."""

    def forward(self, Z):
        self.A = as_float_array(Z)
        return self.A

    def backward(self, dLdA):
        return self._check(dLdA).copy()


class Sigmoid(_Activation):
    """A = 1 / (1 + exp(-Z)); dA/dZ = A (1 - A). Written in a form that never overflows."""

    def forward(self, Z):
        self.A = stable_sigmoid(as_float_array(Z))
        return self.A

    def backward(self, dLdA):
        return self._check(dLdA) * self.A * (1.0 - self.A)


def stable_tanh(Z):
    """tanh(Z) = sign(Z) (1 - e) / (1 + e) with e = exp(-2|Z|) in (0, 1]: no overflow, and no
    call of ``np.tanh`` (the course's HW1P1 autograder checks that ``Tanh`` computes it itself)."""
    E = np.exp(-2.0 * np.abs(Z))
    return (np.sign(Z) * ((1.0 - E) / (1.0 + E))).astype(Z.dtype, copy=False)


class Tanh(_Activation):
    """A = tanh(Z); dA/dZ = 1 - A^2. Computed from ``exp`` (``stable_tanh``), not ``np.tanh``."""

    def forward(self, Z):
        self.A = stable_tanh(as_float_array(Z))
        return self.A

    def backward(self, dLdA):
        return self._check(dLdA) * (1.0 - self.A * self.A)


class ReLU(_Activation):
    """A = max(Z, 0); dA/dZ = 1 where Z > 0, else 0 (0 at Z = 0, as in PyTorch)."""

    def forward(self, Z):
        self.A = np.maximum(as_float_array(Z), 0)
        return self.A

    def backward(self, dLdA):
        dLdA = self._check(dLdA)
        return np.where(self.A > 0, dLdA, 0).astype(dLdA.dtype, copy=False)


_erf = np.frompyfunc(math.erf, 1, 1)   # exact erf (NumPy has none); a Python call per element


class GELU(_Activation):
    """Exact GELU: A = Z Phi(Z) with Phi(Z) = (1 + erf(Z / sqrt 2)) / 2.

    dA/dZ = Phi(Z) + Z phi(Z), phi the standard normal density.
    """

    def forward(self, Z):
        self.Z = Z = as_float_array(Z)
        self.Phi = (0.5 * (1.0 + _erf(Z / math.sqrt(2.0)))).astype(Z.dtype)
        self.A = Z * self.Phi
        return self.A

    def backward(self, dLdA):
        phi = np.exp(-0.5 * self.Z * self.Z) / math.sqrt(2.0 * math.pi)
        return self._check(dLdA) * (self.Phi + self.Z * phi)


class Swish(_Activation):
    """A = Z sigmoid(beta Z) with a trainable scalar ``beta``.

    dA/dZ = s + beta Z s (1 - s) and dA/dbeta = Z^2 s (1 - s), s = sigmoid(beta Z);
    ``backward`` sets the scalar ``dLdbeta`` = sum over all elements of dLdA dA/dbeta.
    ``beta`` is stored as a 0-d array so that optimizers can update it in place; assigning a
    plain Python number (``swish.beta = 0.5``, as the course's autograder does) or an array
    stores it the same way.
    """

    param_grads = (("beta", "dLdbeta"),)

    def __init__(self, beta=1.0):
        self.beta = beta
        self.dLdbeta = np.zeros((), dtype=np.float64)
        self._sigmoid = Sigmoid()

    @property
    def beta(self):
        return self._beta

    @beta.setter
    def beta(self, value):
        value = np.asarray(value, dtype=np.float64)
        if value.size != 1:
            raise ValueError(f"Swish.beta must be a scalar, got shape {value.shape}")
        self._beta = value.reshape(())

    def forward(self, Z):
        self.Z = Z = as_float_array(Z)
        self.S = self._sigmoid.forward(self.beta.astype(Z.dtype) * Z)
        self.A = Z * self.S
        return self.A

    def backward(self, dLdA):
        dLdA = self._check(dLdA)
        ds = self.S * (1.0 - self.S)                               # sigmoid'(beta Z)
        self.dLdbeta = np.array(np.sum(dLdA * self.Z * self.Z * ds), dtype=self.beta.dtype)
        return dLdA * (self.S + self.beta * self.Z * ds).astype(dLdA.dtype, copy=False)

    def __repr__(self):
        return f"Swish(beta={float(self.beta):g})"


class Softmax(_Activation):
    """Softmax along ``dim`` (default the last axis), any number of dimensions.

    Backward applies each row's Jacobian J = diag(a) - a a^T to dLdA, vectorised:
    dLdZ = J dLdA = a * (dLdA - <dLdA, a>), the inner product taken along ``dim``.
    This equals the per-row loop over full (C, C) Jacobians of the course's handout.
    """

    def __init__(self, dim=-1):
        self.dim = dim

    def forward(self, Z):
        Z = as_float_array(Z)
        E = np.exp(Z - Z.max(axis=self.dim, keepdims=True))       # stable: max entry is 1
        self.A = E / E.sum(axis=self.dim, keepdims=True)
        return self.A

    def backward(self, dLdA):
        dLdA = self._check(dLdA)
        return self.A * (dLdA - np.sum(dLdA * self.A, axis=self.dim, keepdims=True))

    def jacobian(self, i):
        """The full (C, C) Jacobian dA/dZ of row ``i`` of a 2-D input (for teaching/tests)."""
        a = np.moveaxis(self.A, self.dim, -1).reshape(-1, self.A.shape[self.dim])[i]
        return np.diag(a) - np.outer(a, a)

    def __repr__(self):
        return f"Softmax(dim={self.dim})"
