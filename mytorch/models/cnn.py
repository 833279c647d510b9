"""The course's 1-D CNN: Conv1d layers with activations, Flatten, one Linear layer."""
import numpy as np

from ..nn.conv import Conv1d
from ..nn.flatten import Flatten
from ..nn.linear import Linear
from .mlp import Sequential

__all__ = ["CNN"]


class CNN(Sequential):
    """``CNN(input_width, num_input_channels, num_channels, kernel_sizes, strides,
    num_linear_neurons, activations, conv_weight_init_fn, bias_init_fn,
    linear_weight_init_fn, criterion, lr)``.

    Layer i is ``Conv1d(c_{i-1}, num_channels[i], kernel_sizes[i], strides[i])`` (no padding)
    followed by ``activations[i]`` (a layer instance, e.g. ``ReLU()``); then ``Flatten`` and
    ``Linear(num_channels[-1] * final_width, num_linear_neurons)``, which outputs logits.
    Widths follow W_i = (W_{i-1} - k_i) // s_i + 1.

    Initialisation (``None`` keeps the layer's default): ``conv_weight_init_fn(out, in, k)``,
    ``bias_init_fn(out)`` for every bias (conv and linear), and
    ``linear_weight_init_fn(out_features, in_features)``.
    ``criterion`` is a loss instance (``CrossEntropyLoss()``); ``lr`` the SGD step size.

    ``forward(A)``: A (N, num_input_channels, input_width) -> logits (N, num_linear_neurons).
    ``backward(labels)``: labels one-hot (N, num_linear_neurons); computes ``self.loss``,
    stores every layer's gradients and returns dLdA of the input.
    ``step()``: plain SGD on every W and b; ``zero_grads()`` sets every gradient to zero.
    """

    def __init__(self, input_width, num_input_channels, num_channels, kernel_sizes, strides,
                 num_linear_neurons, activations, conv_weight_init_fn, bias_init_fn,
                 linear_weight_init_fn, criterion, lr):
        n = len(num_channels)
        if not len(kernel_sizes) == len(strides) == len(activations) == n:
            raise ValueError(f"CNN expected one kernel size, stride and activation per layer "
                             f"({n} layers), got {len(kernel_sizes)} kernel sizes, "
                             f"{len(strides)} strides and {len(activations)} activations")
        self.nlayers, self.activations = n, list(activations)
        self.criterion, self.lr = criterion, lr
        self.convolutional_layers, width = [], int(input_width)
        for c_in, c_out, k, s in zip([num_input_channels, *num_channels[:-1]], num_channels,
                                     kernel_sizes, strides):
            if width < k:
                raise ValueError(f"CNN layer {len(self.convolutional_layers)} expected an input "
                                 f"width >= kernel size {k}, got width {width} "
                                 f"(input_width {input_width} is too short for this stack)")
            self.convolutional_layers.append(Conv1d(c_in, c_out, k, stride=s,
                                                    weight_init_fn=conv_weight_init_fn,
                                                    bias_init_fn=bias_init_fn))
            width = (width - k) // s + 1
        self.flatten = Flatten()
        self.linear_layer = Linear(num_channels[-1] * width, num_linear_neurons)
        out_f, in_f = self.linear_layer.W.shape
        if linear_weight_init_fn is not None:
            self.linear_layer.W = np.array(linear_weight_init_fn(out_f, in_f), dtype=float)
        if bias_init_fn is not None:
            self.linear_layer.b = np.array(bias_init_fn(out_f), dtype=float).reshape(out_f, 1)
        if self.linear_layer.W.shape != (out_f, in_f):
            raise ValueError(f"linear_weight_init_fn should return shape {(out_f, in_f)}, "
                             f"got shape {self.linear_layer.W.shape}")
        layers = []
        for conv, act in zip(self.convolutional_layers, self.activations):
            layers += [conv, act]
        super().__init__(layers + [self.flatten, self.linear_layer])
        self.train_mode = True
        self.Z = None

    def forward(self, A):
        """A (N, C_in, W) -> logits Z (N, num_linear_neurons), kept for ``backward``."""
        self.Z = super().forward(A)
        return self.Z

    def backward(self, labels):
        """labels (N, num_linear_neurons) one-hot -> dLdA (N, C_in, W); sets ``self.loss``."""
        if self.Z is None:
            raise RuntimeError("CNN.backward called before forward")
        self.loss = self.criterion.forward(self.Z, labels)
        return super().backward(self.criterion.backward())

    def _params(self):
        """(layer, parameter name, gradient name) for every conv and the linear layer."""
        layers = [conv.conv1d_stride1 for conv in self.convolutional_layers] + [self.linear_layer]
        return [(layer, p, g) for layer in layers for p, g in (("W", "dLdW"), ("b", "dLdb"))]

    def zero_grads(self):
        for layer, _, g in self._params():
            setattr(layer, g, np.zeros_like(getattr(layer, g)))

    def step(self):
        """W = W - lr * dLdW and b = b - lr * dLdb for every layer."""
        for layer, p, g in self._params():
            setattr(layer, p, getattr(layer, p) - self.lr * getattr(layer, g))

    def train(self, mode=True):
        self.train_mode = mode
        return super().train(mode)

    def eval(self):
        return self.train(False)
