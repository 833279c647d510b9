"""Elman RNN cell: h_t = tanh(x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

A cell is applied at every time step, so unlike the single-use layers its parameter
gradients ACCUMULATE over ``backward`` calls until ``zero_grad()`` (PyTorch's semantics).

Where the course departs from PyTorch (its HW3P1 autograder checks both):

- initialisation: ``np.random.randn`` (N(0, 1)) for W_ih, W_hh, b_ih, b_hh, drawn in that
  order from the global NumPy generator (the autograder seeds it and compares against values
  saved from the reference cell); PyTorch draws U(-1/sqrt(H), 1/sqrt(H)) (``init="uniform"``);
- batch averaging: ``backward`` divides the parameter gradients by the batch size N (the
  course's loss derivative is per sample, not averaged), while dx and dh_prev_t are not
  divided. Given torch's upstream gradient the parameter gradients are torch's / N;
  ``batch_mean=False`` gives torch's exactly.
"""
import numpy as np

__all__ = ["RNNCell"]


def check_shape(name, array, expected):
    """``array`` as float64; ``ValueError`` naming ``name`` unless its shape is ``expected``
    (a ``None`` entry matches any size)."""
    shape = np.shape(array)
    if len(shape) != len(expected) or any(e is not None and s != e
                                          for s, e in zip(shape, expected)):
        want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {shape}")
    return np.asarray(array, dtype=np.float64)


def uniform_init(shape, hidden_size):
    """PyTorch's recurrent-layer init: U(-1/sqrt(H), 1/sqrt(H)) (global NumPy RNG)."""
    bound = 1.0 / np.sqrt(hidden_size)
    return np.random.uniform(-bound, bound, size=shape)


class RNNCell:
    """``RNNCell(input_size, hidden_size, *, init="randn", batch_mean=True)`` with ``W_ih``
    (H, I), ``W_hh`` (H, H), ``b_ih`` and ``b_hh`` (H,) and their gradients ``dW_ih``,
    ``dW_hh``, ``db_ih``, ``db_hh``.

    ``init="randn"`` (the course's default, see the module docstring) or ``"uniform"``
    (PyTorch's); ``batch_mean=True`` (the course's) divides the parameter gradients by N,
    ``False`` keeps them summed over the batch (PyTorch's)."""

    param_grads = (("W_ih", "dW_ih"), ("W_hh", "dW_hh"), ("b_ih", "db_ih"), ("b_hh", "db_hh"))

    def __init__(self, input_size, hidden_size, *, init="randn", batch_mean=True):
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.batch_mean = bool(batch_mean)
        H, I = self.hidden_size, self.input_size
        shapes = [(H, I), (H, H), (H,), (H,)]
        if init == "randn":
            weights = [np.random.randn(*shape) for shape in shapes]
        elif init == "uniform":
            weights = [uniform_init(shape, H) for shape in shapes]
        else:
            raise ValueError(f"RNNCell: init must be 'randn' (the course's) or 'uniform' "
                             f"(PyTorch's), got {init!r}")
        self.init_weights(*weights)

    def init_weights(self, W_ih, W_hh, b_ih, b_hh):
        H, I = self.hidden_size, self.input_size
        self.W_ih = check_shape("RNNCell W_ih", W_ih, (H, I)).copy()
        self.W_hh = check_shape("RNNCell W_hh", W_hh, (H, H)).copy()
        self.b_ih = check_shape("RNNCell b_ih", b_ih, (H,)).copy()
        self.b_hh = check_shape("RNNCell b_hh", b_hh, (H,)).copy()
        self.zero_grad()

    def zero_grad(self):
        self.dW_ih = np.zeros_like(self.W_ih)
        self.dW_hh = np.zeros_like(self.W_hh)
        self.db_ih = np.zeros_like(self.b_ih)
        self.db_hh = np.zeros_like(self.b_hh)

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def forward(self, x, h_prev_t):
        """x (N, I), h_prev_t (N, H) -> h_t (N, H)."""
        x = check_shape("RNNCell input x", x, (None, self.input_size))
        h_prev_t = check_shape("RNNCell h_prev_t", h_prev_t, (x.shape[0], self.hidden_size))
        self.x, self.h_prev_t = x, h_prev_t
        z = x @ self.W_ih.T + self.b_ih + h_prev_t @ self.W_hh.T + self.b_hh   # (N, H)
        self.h_t = np.tanh(z)
        return self.h_t

    def backward(self, delta, h_t, h_prev_l, h_prev_t):
        """delta = dL/dh_t (N, H); h_t the output, h_prev_l the input x of this step (the
        layer below), h_prev_t the previous hidden state -> (dx (N, I), dh_prev_t (N, H)).
        Adds to dW_ih, dW_hh, db_ih, db_hh: the batch sums divided by N when ``batch_mean``
        (the course's convention), the sums themselves otherwise."""
        H = self.hidden_size
        delta = check_shape("RNNCell delta", delta, (None, H))
        N = delta.shape[0]
        h_t = check_shape("RNNCell h_t", h_t, (N, H))
        h_prev_l = check_shape("RNNCell h_prev_l", h_prev_l, (N, self.input_size))
        h_prev_t = check_shape("RNNCell h_prev_t", h_prev_t, (N, H))
        dz = delta * (1.0 - h_t * h_t)                 # tanh' = 1 - h_t^2, (N, H)
        scale = 1.0 / N if self.batch_mean else 1.0
        self.dW_ih += (dz.T @ h_prev_l) * scale        # (H, I)
        self.dW_hh += (dz.T @ h_prev_t) * scale        # (H, H)
        self.db_ih += dz.sum(axis=0) * scale
        self.db_hh += dz.sum(axis=0) * scale
        dx = dz @ self.W_ih                            # (N, I)
        dh_prev_t = dz @ self.W_hh                     # (N, H)
        return dx, dh_prev_t

    def __repr__(self):
        return f"RNNCell(input_size={self.input_size}, hidden_size={self.hidden_size})"
