"""Losses: ``forward(A, Y) -> L`` and ``backward() -> dLdA``.

``L`` is a NumPy scalar (``np.float64``): it behaves as a Python float (it is a subclass)
and also has the array methods the course's autograder calls on it (``L.round(4)``).
"""
import numpy as np

from ..arrays import as_float_array

__all__ = ["CrossEntropyLoss", "MSELoss"]


def _check_pair(name, A, Y):
    if A.ndim != 2:
        raise ValueError(f"{name} expected A of shape (N, C), got shape {A.shape}")
    if Y.shape != A.shape:
        raise ValueError(f"{name} expected Y of shape {A.shape} (same as A), got shape {Y.shape}")


class MSELoss:
    """L = sum((A - Y)^2) / (N C): the mean over all N*C elements; dLdA = 2 (A - Y) / (N C)."""

    def forward(self, A, Y):
        """A, Y (N, C) -> scalar."""
        self.A, self.Y = as_float_array(A), as_float_array(Y)
        _check_pair("MSELoss", self.A, self.Y)
        self.N, self.C = self.A.shape
        diff = self.A - self.Y
        return np.float64(np.sum(diff * diff) / (self.N * self.C))

    def backward(self):
        return 2.0 * (self.A - self.Y) / (self.N * self.C)         # (N, C)


class CrossEntropyLoss:
    """Softmax cross-entropy on logits: L = -sum(Y * log softmax(A)) / N.

    ``A`` are logits (N, C); ``Y`` are one-hot (or soft) targets (N, C), or integer class
    labels (N,) which are turned into one-hot rows. log softmax is computed with the max
    subtracted, so large logits never overflow. dLdA = (softmax(A) - Y) / N.
    """

    def forward(self, A, Y):
        """A (N, C) logits, Y (N, C) one-hot or (N,) labels -> scalar."""
        A = as_float_array(A)
        Y = np.asarray(Y)
        if A.ndim == 2 and Y.ndim == 1 and Y.shape[0] == A.shape[0] \
                and np.issubdtype(Y.dtype, np.integer):
            if Y.size and (Y.min() < 0 or Y.max() >= A.shape[1]):
                raise ValueError(f"CrossEntropyLoss labels must lie in [0, {A.shape[1]}), "
                                 f"got range [{Y.min()}, {Y.max()}]")
            Y = np.eye(A.shape[1], dtype=A.dtype)[Y]
        Y = as_float_array(Y)
        _check_pair("CrossEntropyLoss", A, Y)
        self.A, self.Y = A, Y
        self.N = A.shape[0]
        shifted = A - A.max(axis=1, keepdims=True)                 # (N, C), max 0 per row
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_softmax = shifted - log_sum                            # (N, C)
        self.softmax = np.exp(log_softmax)
        return np.float64(-np.sum(Y * log_softmax) / self.N)

    def backward(self):
        return (self.softmax - self.Y) / self.N                    # (N, C)
