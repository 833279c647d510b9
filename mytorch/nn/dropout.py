"""Inverted dropout, as in the course's HW1P1 bonus."""
import numpy as np

from .linear import as_float_array

__all__ = ["Dropout"]


class Dropout:
    """``Dropout(p=0.5)``: zero each element with probability ``p`` while training.

    Kept elements are scaled by 1 / (1 - p) so that the expected output equals the input;
    ``forward(x, train=False)`` is the identity. The mask is drawn from ``rng`` (a
    ``numpy.random.Generator``) when given, else from ``np.random`` (seed with
    ``np.random.seed``, as the course's tests do).
    """

    def __init__(self, p=0.5, rng=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must lie in [0, 1], got {p}")
        self.p = p
        self.rng = rng
        self.mask = None

    def forward(self, x, train=True):
        """x (any shape) -> same shape."""
        x = as_float_array(x)
        if not train:
            self.mask = None
            return x
        draw = self.rng.binomial if self.rng is not None else np.random.binomial
        self.mask = draw(1, 1.0 - self.p, size=x.shape).astype(x.dtype)
        self.scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        return x * self.mask * self.scale

    def backward(self, delta):
        """delta like x -> delta * mask / (1 - p) (delta itself after an eval forward)."""
        if self.mask is None:
            return np.asarray(delta)
        if np.shape(delta) != self.mask.shape:
            raise ValueError(f"Dropout.backward expected delta of shape {self.mask.shape}, "
                             f"got shape {np.shape(delta)}")
        return delta * self.mask * self.scale

    def __repr__(self):
        return f"Dropout(p={self.p})"
