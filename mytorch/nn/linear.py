"""Fully connected layer: Z = A W^T + b^T.

Shapes use the course's names: N samples, C_in = in_features, C_out = out_features.
2-D inputs (N, C_in) are the course's case; N-D inputs (..., C_in) are flattened over the
leading dimensions, so the weight gradients are summed over all of them.
"""
import numpy as np

from ..arrays import as_float_array

__all__ = ["Linear"]


class Linear:
    """``Linear(in_features, out_features, debug=False)``.

    ``W`` (C_out, C_in) and ``b`` (C_out, 1) start at zero (the course's convention: users
    and tests set them). ``backward`` overwrites ``dLdW`` and ``dLdb``; ``dLdb`` takes the
    shape ``b`` has at that moment, so a bias set as (C_out,) (``init_weights(W, b)``, the
    course's HW4 layout, like torch's) gets a (C_out,) gradient and the HW1 layout (C_out, 1)
    a (C_out, 1) one. With ``debug=True`` the layer also keeps ``N``, the column of ones
    ``Ones`` (N, 1) used in the course's matrix form of the bias terms, and ``dLdA`` (the
    value ``backward`` returns; the HW1P1 autograder reads it). ``dtype=np.float32`` makes
    a float32 layer.
    """

    # (parameter, gradient) attribute pairs: what optimizers update and state_dict saves
    param_grads = (("W", "dLdW"), ("b", "dLdb"))

    def __init__(self, in_features, out_features, debug=False, dtype=np.float64):
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.debug = debug
        self.W = np.zeros((self.out_features, self.in_features), dtype=dtype)  # (C_out, C_in)
        self.b = np.zeros((self.out_features, 1), dtype=dtype)                # (C_out, 1)
        self.dLdW = np.zeros_like(self.W)
        self.dLdb = np.zeros_like(self.b)
        self.A = None

    def init_weights(self, W, b):
        """Set ``W`` (C_out, C_in) and ``b`` ((C_out,) or (C_out, 1); its shape is kept)."""
        W = np.array(W, dtype=self.W.dtype)                    # copies: updated in place later
        b = np.array(b, dtype=self.W.dtype)
        if W.shape != (self.out_features, self.in_features):
            raise ValueError(f"Linear.init_weights: W must have shape "
                             f"{(self.out_features, self.in_features)}, got {W.shape}")
        if b.size != self.out_features or b.ndim > 2:
            raise ValueError(f"Linear.init_weights: b must have shape ({self.out_features},) or "
                             f"({self.out_features}, 1), got {b.shape}")
        self.W, self.b = W, b
        self.dLdW, self.dLdb = np.zeros_like(W), np.zeros_like(b)

    def forward(self, A):
        """A (N, C_in) or (..., C_in) -> Z (N, C_out) or (..., C_out)."""
        A = as_float_array(A)
        if A.ndim < 1 or A.shape[-1] != self.in_features:
            raise ValueError(f"Linear expected input with last dim {self.in_features} "
                             f"(in_features), got shape {A.shape}")
        self.A = A
        A2 = A.reshape(-1, self.in_features)                       # (N, C_in), a view
        Z = A2 @ self.W.T                                          # (N, C_out)
        Z += np.reshape(self.b, -1)                                # in place: no extra copy
        if self.debug:
            self.N = A2.shape[0]
            self.Ones = np.ones((self.N, 1), dtype=A.dtype)
        return Z.reshape(*A.shape[:-1], self.out_features)

    def backward(self, dLdZ):
        """dLdZ like Z -> dLdA like A; sets dLdW (C_out, C_in) and dLdb (shaped like b)."""
        if self.A is None:
            raise RuntimeError("Linear.backward called before forward")
        expected = (*self.A.shape[:-1], self.out_features)
        if np.shape(dLdZ) != expected:
            raise ValueError(f"Linear.backward expected dLdZ of shape {expected}, "
                             f"got shape {np.shape(dLdZ)}")
        dLdZ2 = np.asarray(dLdZ).reshape(-1, self.out_features)   # (N, C_out)
        A2 = self.A.reshape(-1, self.in_features)                  # (N, C_in)
        dLdA = dLdZ2 @ self.W                                      # (N, C_in)
        self.dLdW = dLdZ2.T @ A2                                   # (C_out, C_in)
        self.dLdb = dLdZ2.sum(axis=0).reshape(np.shape(self.b))    # like b: (C_out, 1) or (C_out,)
        dLdA = dLdA.reshape(self.A.shape)
        if self.debug:
            self.dLdA = dLdA
        return dLdA

    def __repr__(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"
