"""The course's scanning MLPs written as 1-D CNNs.

Both scan an input of 24 channels (N, 24, W) with an MLP 192 -> 8 -> 16 -> 4 (ReLU after
the first two layers, no biases) that reads a window of 8 time steps and moves 4 steps at a
time, so there are (W - 8) // 4 + 1 scan positions P (W = 128 gives P = 31).

Weight layout taken by ``init_weights([w1, w2, w3])``: each MLP weight is
(in_features, out_features), used as ``h = x @ w``. The first layer's input x is the
window flattened position-major, all 24 channels of the first time step, then the next:
``x[t * 24 + c] = A[n, c, p * 4 + t]``. A Conv1d weight is (out, in, k), so
``W[o, c, t] = w[t * in + c, o]``, i.e. ``w.reshape(k, in, out).transpose(2, 1, 0)``.

Output: the course's ``Flatten`` of the last conv's (N, 4, P) output, channel-major:
``Z[n, o * P + p]`` is output o of the MLP at scan position p.
"""
from ..nn.activation import ReLU
from ..nn.conv import Conv1d
from ..nn.flatten import Flatten
from ..nn.resampling import check_shape
from .mlp import Sequential

__all__ = ["CNN_DistributedScanningMLP", "CNN_SimpleScanningMLP"]


def mlp_weight_to_conv(w, conv):
    """(k * in, out) MLP weight, position-major rows -> (out, in, k) Conv1d weight."""
    c = conv.conv1d_stride1
    w = check_shape(type(conv).__name__, "MLP weight",
                    w, (c.kernel_size * c.in_channels, c.out_channels))
    return w.reshape(c.kernel_size, c.in_channels, c.out_channels).transpose(2, 1, 0).copy()


class _ScanningMLP(Sequential):
    """conv1, ReLU, conv2, ReLU, conv3, Flatten; subclasses choose the three convolutions."""

    def __init__(self, conv1, conv2, conv3):
        self.conv1, self.conv2, self.conv3 = conv1, conv2, conv3
        super().__init__([conv1, ReLU(), conv2, ReLU(), conv3, Flatten()])

    def _set(self, weights):
        for conv, w in zip((self.conv1, self.conv2, self.conv3), weights):
            conv.conv1d_stride1.W = mlp_weight_to_conv(w, conv)


class CNN_SimpleScanningMLP(_ScanningMLP):
    """The MLP applied at every position: Conv1d(24, 8, k=8, stride=4), then two 1x1 convs
    Conv1d(8, 16, 1) and Conv1d(16, 4, 1). ``init_weights([w1 (192, 8), w2 (8, 16),
    w3 (16, 4)])``."""

    def __init__(self):
        super().__init__(Conv1d(24, 8, 8, stride=4), Conv1d(8, 16, 1, stride=1),
                         Conv1d(16, 4, 1, stride=1))

    def init_weights(self, weights):
        self._set(weights)


class CNN_DistributedScanningMLP(_ScanningMLP):
    """The same scan with the course's shared ("distributed") weights: the first layer's 8
    neurons are 4 copies of 2 neurons, each reading 2 time steps; the second layer's 16 are
    2 copies of 8 reading 2 such groups; the last 4 read both second-layer groups. As
    convolutions: Conv1d(24, 2, 2, stride=2), Conv1d(2, 8, 2, stride=2), Conv1d(8, 4, 2, 1),
    the same receptive field (8 steps) and stride (4) as the simple scanning MLP.

    ``init_weights([w1 (192, 8), w2 (8, 16), w3 (16, 4)])`` takes the full MLP matrices,
    whose shared structure means each holds its distinct values in its top-left block:
    w1[:48, :2] (2 steps x 24 channels -> 2), w2[:4, :8] (2 groups x 2 -> 8),
    w3[:16, :4] (2 groups x 8 -> 4), rows position-major as above.
    """

    def __init__(self):
        super().__init__(Conv1d(24, 2, 2, stride=2), Conv1d(2, 8, 2, stride=2),
                         Conv1d(8, 4, 2, stride=1))

    def init_weights(self, weights):
        blocks = []
        for conv, w in zip((self.conv1, self.conv2, self.conv3), weights):
            c = conv.conv1d_stride1
            blocks.append(w[:c.kernel_size * c.in_channels, :c.out_channels])
        self._set(blocks)
