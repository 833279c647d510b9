"""The course's RNN phoneme classifier: stacked RNNCells unrolled over time, then a Linear
layer on the last time step's top hidden state."""
import numpy as np

from .. import serialization
from ..nn.linear import Linear
from ..nn.rnn_cell import RNNCell, check_shape, uniform_init

__all__ = ["RNNPhonemeClassifier"]


class RNNPhonemeClassifier:
    """``RNNPhonemeClassifier(input_size, hidden_size, output_size, num_layers=2, *,
    batch_mean=True)``.

    ``rnn``: the list of RNNCells (layer 0 reads the input, layer l reads layer l-1), with
    PyTorch's uniform initialisation; ``output_layer``: a Linear (hidden_size ->
    output_size), initialised like PyTorch's.
    ``forward(x, h_0=None)``: x (N, T, I), h_0 (num_layers, N, H) or zeros -> logits (N, O).
    ``backward(delta)``: delta = dL/dlogits (N, O) -> dL/dh_0 (num_layers, N, H), back-
    propagating through time; sets every cell's and the Linear's gradients (the cells are
    zeroed first, so like every mytorch model ``backward`` overwrites the gradients) and
    ``dLdx`` (N, T, I).

    Scale, where the course departs from PyTorch: the course feeds ``delta`` = softmax - y
    per sample (its loss derivative is not averaged) and averages afterwards, but only in
    the recurrent part. With ``batch_mean=True`` (the default, its HW3P1 autograder's form)
    the cells' gradients, the returned dh_0 and ``dLdx`` are those of L / N for the L whose
    gradient ``delta`` is, while the output layer keeps what ``Linear.backward`` computes
    from ``delta``, the gradient of L itself (its dLdW/dLdb are not divided). So with the
    course's per-sample delta the cells, dh_0 and dLdx equal torch's gradients of the mean
    cross-entropy and the output layer's are N times torch's; with torch's (already
    averaged) delta the cells, dh_0 and dLdx are torch's / N and the output layer's are
    torch's. ``batch_mean=False`` reports the gradients of L everywhere (PyTorch's).
    """

    def __init__(self, input_size, hidden_size, output_size, num_layers=2, *, batch_mean=True):
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.output_size, self.num_layers = int(output_size), int(num_layers)
        self.batch_mean = bool(batch_mean)
        self.rnn = [RNNCell(input_size if layer == 0 else hidden_size, hidden_size,
                            init="uniform", batch_mean=self.batch_mean)
                    for layer in range(self.num_layers)]
        self.output_layer = Linear(hidden_size, output_size)
        self.output_layer.W = uniform_init((self.output_size, self.hidden_size), hidden_size)
        self.output_layer.b = uniform_init((self.output_size, 1), hidden_size)
        self.hiddens = []

    def init_weights(self, rnn_weights, linear_weights):
        """rnn_weights: one [W_ih, W_hh, b_ih, b_hh] per layer; linear_weights: [W (O, H), b (O,)]."""
        if len(rnn_weights) != self.num_layers:
            raise ValueError(f"RNNPhonemeClassifier: expected {self.num_layers} sets of RNN "
                             f"weights, got {len(rnn_weights)}")
        for cell, weights in zip(self.rnn, rnn_weights):
            cell.init_weights(*weights)
        W, b = linear_weights
        O, H = self.output_size, self.hidden_size
        self.output_layer.W = check_shape("RNNPhonemeClassifier linear W", W, (O, H)).copy()
        self.output_layer.b = check_shape("RNNPhonemeClassifier linear b",
                                          np.reshape(b, -1), (O,)).reshape(O, 1).copy()

    def zero_grad(self):
        for cell in self.rnn:
            cell.zero_grad()

    def __call__(self, x, h_0=None):
        return self.forward(x, h_0)

    def forward(self, x, h_0=None):
        x = check_shape("RNNPhonemeClassifier input x", x, (None, None, self.input_size))
        N, T, _ = x.shape
        shape = (self.num_layers, N, self.hidden_size)
        hidden = np.zeros(shape) if h_0 is None else check_shape("h_0", h_0, shape).copy()
        self.x = x
        self.hiddens = [hidden.copy()]               # hiddens[t] (num_layers, N, H), t = 0..T
        for t in range(T):
            below = x[:, t]                          # (N, I), then (N, H) for layers above
            for layer, cell in enumerate(self.rnn):
                hidden[layer] = cell.forward(below, hidden[layer])
                below = hidden[layer]
            self.hiddens.append(hidden.copy())
        return self.output_layer.forward(hidden[-1])  # (N, O)

    def backward(self, delta):
        N, T, _ = self.x.shape
        self.zero_grad()
        for cell in self.rnn:                        # the cells divide by N themselves
            cell.batch_mean = self.batch_mean
        dh = np.zeros((self.num_layers, N, self.hidden_size))   # dL/dh of every layer at t
        dh[-1] = self.output_layer.backward(delta)     # its dLdW, dLdb: never divided by N
        self.dLdx = np.zeros_like(self.x)
        for t in reversed(range(T)):
            for layer in reversed(range(self.num_layers)):
                h_prev_l = self.x[:, t] if layer == 0 else self.hiddens[t + 1][layer - 1]
                dx, dh[layer] = self.rnn[layer].backward(
                    dh[layer], self.hiddens[t + 1][layer], h_prev_l, self.hiddens[t][layer])
                if layer > 0:
                    dh[layer - 1] += dx              # into the layer below, same time step
                else:
                    self.dLdx[:, t] = dx
        if self.batch_mean:                          # dx, dh were propagated unscaled
            dh /= N
            self.dLdx /= N
        return dh                                    # dL/dh_0

    def state_dict(self):
        return serialization.state_dict(self)

    def load_state_dict(self, state):
        serialization.load_state_dict(self, state)

    def num_parameters(self):
        return sum(getattr(layer, p).size for _, layer, p, _ in serialization.named_parameters(self))

    def __repr__(self):
        return (f"RNNPhonemeClassifier(input_size={self.input_size}, hidden_size="
                f"{self.hidden_size}, output_size={self.output_size}, num_layers="
                f"{self.num_layers})  # {self.num_parameters():,} parameters")
