"""The course's HW3P1 GRU inference model: a GRU cell and a linear projection, run over a
sequence one step at a time."""
import numpy as np

from ..nn.gru_cell import GRUCell
from ..nn.linear import Linear

__all__ = ["CharacterPredictor", "inference"]


class CharacterPredictor:
    """``CharacterPredictor(input_dim, hidden_dim, num_classes)``: ``gru`` (a ``GRUCell``;
    ``rnn`` is the same object, the name older handouts use) and ``projection`` (a
    ``Linear(hidden_dim, num_classes)``).

    ``forward(x, h)`` (also ``net(x, h)``): one time step, x (input_dim,) and h
    (hidden_dim,) -> (logits (num_classes,), h_next (hidden_dim,)); batches (N, input_dim),
    (N, hidden_dim) work too. As in the handout the projection's ``W`` starts as
    ``np.random.rand(num_classes, hidden_dim)`` and ``b`` at zero; the GRU takes its weights
    from ``init_rnn_weights(Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh)``.
    """

    def __init__(self, input_dim, hidden_dim, num_classes):
        self.input_dim, self.hidden_dim = int(input_dim), int(hidden_dim)
        self.num_classes = int(num_classes)
        self.gru = GRUCell(self.input_dim, self.hidden_dim)
        self.projection = Linear(self.hidden_dim, self.num_classes)
        self.projection.W = np.random.rand(self.num_classes, self.hidden_dim)

    @property
    def rnn(self):
        return self.gru

    def init_rnn_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        self.gru.init_weights(Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh)

    def __call__(self, x, h):
        return self.forward(x, h)

    def forward(self, x, h):
        h_next = self.gru.forward(x, h)
        return self.projection.forward(h_next), h_next

    def __repr__(self):
        return (f"CharacterPredictor(input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, "
                f"num_classes={self.num_classes})")


def inference(net, inputs):
    """Run ``net`` over ``inputs`` (seq_len, input_dim) from a zero hidden state ->
    logits (seq_len, num_classes), one row per time step."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[1] != net.input_dim:
        raise ValueError(f"inference: expected inputs of shape (seq_len, {net.input_dim}), "
                         f"got {inputs.shape}")
    h = np.zeros(net.hidden_dim)
    logits = np.zeros((len(inputs), net.num_classes))
    for t, x in enumerate(inputs):
        logits[t], h = net(x, h)
    return logits
