"""GRU cell with PyTorch's equations (reset r, update z, candidate n):

    r   = sigmoid(x Wrx^T + brx + h Wrh^T + brh)
    z   = sigmoid(x Wzx^T + bzx + h Wzh^T + bzh)
    n   = tanh(x Wnx^T + bnx + r * (h Wnh^T + bnh))
    h_t = (1 - z) * n + z * h

Gradients ACCUMULATE over ``backward`` calls until ``zero_grad()`` (a cell runs once per
time step); nothing is divided by the batch size.

Initialisation, where the course departs from PyTorch: twelve ``np.random.randn`` (N(0, 1))
draws from the global NumPy generator, in the order Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx,
bnx, brh, bzh, bnh (the HW3P1 autograder seeds the generator, builds the cell, then draws
more values, e.g. ``CharacterPredictor``'s ``projection.W``, so both the values and the
generator's state afterwards must be the course's); PyTorch draws U(-1/sqrt(H), 1/sqrt(H))
(``init="uniform"``).
"""
import numpy as np

from .rnn_cell import check_shape, uniform_init

__all__ = ["GRUCell"]

WEIGHT_NAMES = ("Wrx", "Wzx", "Wnx", "Wrh", "Wzh", "Wnh",
                "brx", "bzx", "bnx", "brh", "bzh", "bnh")   # the init_weights order


def sigmoid(z):
    e = np.exp(-np.abs(z))                                  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class GRUCell:
    """``GRUCell(input_size, hidden_size, *, init="randn")``: ``Wrx, Wzx, Wnx`` (H, I),
    ``Wrh, Wzh, Wnh`` (H, H), biases (H,), gradients ``dWrx`` ... ``dbnh``. ``forward``
    takes a batch x (N, I), h (N, H), or a single sample x (I,), h (H,) as in the course's
    GRU part. ``init="randn"`` (the course's, see the module docstring) or ``"uniform"``
    (PyTorch's)."""

    param_grads = tuple((name, "d" + name) for name in WEIGHT_NAMES)

    def __init__(self, input_size, hidden_size, *, init="randn"):
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        shapes = self.weight_shapes()
        if init == "randn":
            weights = [np.random.randn(*shape) for shape in shapes]   # the course's order
        elif init == "uniform":
            weights = [uniform_init(shape, self.hidden_size) for shape in shapes]
        else:
            raise ValueError(f"GRUCell: init must be 'randn' (the course's) or 'uniform' "
                             f"(PyTorch's), got {init!r}")
        self.init_weights(*weights)

    def weight_shapes(self):
        """Shapes of the parameters in the init_weights order."""
        H, I = self.hidden_size, self.input_size
        return [(H, I)] * 3 + [(H, H)] * 3 + [(H,)] * 6

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        values = (Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh)
        for name, value, shape in zip(WEIGHT_NAMES, values, self.weight_shapes()):
            setattr(self, name, check_shape(f"GRUCell {name}", value, shape).copy())
        self.zero_grad()

    def zero_grad(self):
        for name in WEIGHT_NAMES:
            setattr(self, "d" + name, np.zeros_like(getattr(self, name)))

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def forward(self, x, h_prev_t):
        """x (N, I), h_prev_t (N, H) -> h_t (N, H); or x (I,), h_prev_t (H,) -> h_t (H,)."""
        self.unbatched = np.ndim(x) == 1
        if self.unbatched:
            x, h_prev_t = np.reshape(x, (1, -1)), np.reshape(h_prev_t, (1, -1))
        x = check_shape("GRUCell input x", x, (None, self.input_size))
        h = check_shape("GRUCell h_prev_t", h_prev_t, (x.shape[0], self.hidden_size))
        self.x, self.hidden = x, h
        self.r = sigmoid(x @ self.Wrx.T + self.brx + h @ self.Wrh.T + self.brh)   # (N, H)
        self.z = sigmoid(x @ self.Wzx.T + self.bzx + h @ self.Wzh.T + self.bzh)   # (N, H)
        self.hn = h @ self.Wnh.T + self.bnh                                       # (N, H)
        self.n = np.tanh(x @ self.Wnx.T + self.bnx + self.r * self.hn)           # (N, H)
        h_t = (1.0 - self.z) * self.n + self.z * h
        return h_t[0] if self.unbatched else h_t

    def backward(self, delta):
        """delta = dL/dh_t like h_t -> (dx, dh_prev_t) shaped like the last forward's inputs;
        uses the values saved by that forward and adds to dWrx ... dbnh."""
        x, h = self.x, self.hidden
        delta = check_shape("GRUCell delta", np.reshape(delta, (-1, self.hidden_size))
                            if self.unbatched else delta, h.shape)
        dn = delta * (1.0 - self.z)
        dz = delta * (h - self.n)
        dh = delta * self.z                                  # through h_t = ... + z * h
        dn_pre = dn * (1.0 - self.n ** 2)                    # through tanh
        dhn = dn_pre * self.r                                # through r * (h Wnh^T + bnh)
        dr_pre = dn_pre * self.hn * self.r * (1.0 - self.r)  # through r, then sigmoid
        dz_pre = dz * self.z * (1.0 - self.z)                # through sigmoid

        self.dWnx += dn_pre.T @ x
        self.dbnx += dn_pre.sum(axis=0)
        self.dWnh += dhn.T @ h
        self.dbnh += dhn.sum(axis=0)
        self.dWzx += dz_pre.T @ x
        self.dbzx += dz_pre.sum(axis=0)
        self.dWzh += dz_pre.T @ h
        self.dbzh += dz_pre.sum(axis=0)
        self.dWrx += dr_pre.T @ x
        self.dbrx += dr_pre.sum(axis=0)
        self.dWrh += dr_pre.T @ h
        self.dbrh += dr_pre.sum(axis=0)

        dx = dn_pre @ self.Wnx + dz_pre @ self.Wzx + dr_pre @ self.Wrx        # (N, I)
        dh_prev_t = dh + dhn @ self.Wnh + dz_pre @ self.Wzh + dr_pre @ self.Wrh  # (N, H)
        if self.unbatched:
            return dx[0], dh_prev_t[0]
        return dx, dh_prev_t

    def __repr__(self):
        return f"GRUCell(input_size={self.input_size}, hidden_size={self.hidden_size})"
