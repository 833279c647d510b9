"""Flatten: (N, C, *spatial) -> (N, C * prod(spatial)), channel-major like torch's
``nn.Flatten`` (all positions of channel 0, then channel 1, ...); backward reshapes back."""
import numpy as np

__all__ = ["Flatten"]


class Flatten:
    def __init__(self):
        self.A_shape = None

    def forward(self, A):
        """A (N, ...) -> Z (N, everything else)."""
        A = np.asarray(A)
        if A.ndim < 1:
            raise ValueError(f"Flatten expected an array with a batch axis, got shape {A.shape}")
        self.A_shape = A.shape
        return A.reshape(A.shape[0], -1)

    def backward(self, dLdZ):
        """dLdZ (N, D) -> dLdA shaped like the forward input."""
        if self.A_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        expected = (self.A_shape[0], int(np.prod(self.A_shape[1:], dtype=np.int64)))
        if np.shape(dLdZ) != expected:
            raise ValueError(f"Flatten.backward expected dLdZ of shape {expected}, "
                             f"got shape {np.shape(dLdZ)}")
        return np.asarray(dLdZ).reshape(self.A_shape)

    def __repr__(self):
        return "Flatten()"
