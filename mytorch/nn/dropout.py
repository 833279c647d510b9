"""Inverted dropout, as in the course's HW1P1 bonus."""
import numpy as np

from ..arrays import as_float_array

__all__ = ["Dropout"]


class Dropout:
    """``Dropout(p=0.5)``: zero each element with probability ``p`` while training.

    Kept elements are scaled by 1 / (1 - p) so that the expected output equals the input;
    ``forward(x, train=False)`` is the identity, and the layer is callable
    (``dropout(x, train=True)``, the course's call form). The 0/1 ``mask`` is drawn with
    ``binomial(1, 1 - p, x.shape)`` from ``rng`` (a ``numpy.random.Generator``) when given,
    else from ``np.random`` (seed it with ``np.random.seed``, as the course's tests do).

    Backward, where the course departs from PyTorch: the course's reference
    ``backward(delta)`` returns ``delta * mask``, the 0/1 mask WITHOUT the 1/(1-p) factor of
    the forward pass (its bonus autograder checks exactly that), so it is (1 - p) times the
    true gradient on the kept elements. That is the default here. ``scale_backward=True``
    gives the true gradient ``delta * mask / (1 - p)`` (PyTorch's); ``mytorch.models.MLP``
    builds its Dropout layers that way, so training follows the real gradient.
    """

    def __init__(self, p=0.5, rng=None, scale_backward=False):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must lie in [0, 1], got {p}")
        self.p = p
        self.rng = rng
        self.scale_backward = scale_backward
        self.mask = None

    def __call__(self, x, train=True):
        return self.forward(x, train=train)

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
        """delta like x -> delta * mask (course), or delta * mask / (1 - p) with
        ``scale_backward=True``; delta itself after an eval forward."""
        if self.mask is None:
            return np.asarray(delta)
        if np.shape(delta) != self.mask.shape:
            raise ValueError(f"Dropout.backward expected delta of shape {self.mask.shape}, "
                             f"got shape {np.shape(delta)}")
        grad = delta * self.mask
        return grad * self.scale if self.scale_backward else grad

    def __repr__(self):
        return f"Dropout(p={self.p})"
