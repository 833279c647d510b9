"""Multilayer perceptrons: the course's MLP0, MLP1, MLP4 and a general ``MLP``."""
import itertools

import numpy as np

from .. import serialization
from ..nn.activation import ReLU
from ..nn.batchnorm import BatchNorm1d
from ..nn.dropout import Dropout
from ..nn.linear import Linear

__all__ = ["MLP", "MLP0", "MLP1", "MLP4", "Sequential"]


class Sequential:
    """Layers applied in order: ``forward`` runs ``layers`` first to last, ``backward`` last to
    first. ``train()``/``eval()`` switch BatchNorm (batch vs running statistics) and Dropout."""

    def __init__(self, layers):
        self.layers = list(layers)
        self.training = True

    def forward(self, A):
        for layer in self.layers:
            if isinstance(layer, BatchNorm1d):
                A = layer.forward(A, eval=not self.training)
            elif isinstance(layer, Dropout):
                A = layer.forward(A, train=self.training)
            else:
                A = layer.forward(A)
        return A

    __call__ = forward

    def backward(self, dLdA):
        """dLdA of the output -> dLdA0 of the input; every layer stores its gradients."""
        for layer in reversed(self.layers):
            dLdA = layer.backward(dLdA)
        return dLdA

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return serialization.state_dict(self)

    def load_state_dict(self, state):
        serialization.load_state_dict(self, state)

    def num_parameters(self):
        return sum(getattr(layer, p).size
                   for _, layer, p, _ in serialization.named_parameters(self))

    def __repr__(self):
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(\n{inner}\n)  # {self.num_parameters():,} parameters"


def keep_numbered(obj, pattern: str, values) -> None:
    """``obj.<name>`` = ``values[k]`` for every k, the name ``pattern.format(k=k, k1=k + 1)``:
    the numbered debug attributes (``Z0``, ``A1``, ``dA1dZ0``, ...) the course's autograders read."""
    for k, value in enumerate(values):
        setattr(obj, pattern.format(k=k, k1=k + 1), value)


def _linear_relu_stack(sizes):
    layers = []
    for c_in, c_out in itertools.pairwise(sizes):
        layers += [Linear(c_in, c_out), ReLU()]
    return layers


class _CourseMLP(Sequential):
    """The course's fixed MLPs: Linear, ReLU, Linear, ReLU, ... ; layer 2k is the k-th Linear.

    With ``debug=True`` forward and backward keep every intermediate value under the names the
    course's HW1P1 autograder reads:

    - ``A``: the list [A0, Z0, A1, Z1, A2, ...]: ``A[i]`` is the input of ``layers[i]`` and
      ``A[-1]`` the output; ``dLdA``: the list of the gradients with respect to the same values
      (``dLdA[i]`` = dL/d(input of ``layers[i]``), ``dLdA[-1]`` the gradient passed to backward);
    - the names ``Z{k}`` (= ``A[2k + 1]``), ``A{k+1}`` (= ``A[2k + 2]``), ``dLdZ{k}``
      (= ``dLdA[2k + 1]``) and ``dLdA{k}`` (= ``dLdA[2k]``) for every Linear k.
    """

    sizes = ()

    def __init__(self, debug=False):
        super().__init__(_linear_relu_stack(self.sizes))
        self.debug = debug

    def forward(self, A0):
        if not self.debug:
            return super().forward(A0)
        values = [A0]
        for layer in self.layers:
            values.append(layer.forward(values[-1]))
        self.A = values
        keep_numbered(self, "Z{k}", values[1::2])
        keep_numbered(self, "A{k1}", values[2::2])
        return values[-1]

    __call__ = forward

    def backward(self, dLdA):
        if not self.debug:
            return super().backward(dLdA)
        grads = [dLdA]
        for layer in reversed(self.layers):
            grads.insert(0, layer.backward(grads[0]))
        self.dLdA = grads
        keep_numbered(self, "dLdZ{k}", grads[1::2])
        keep_numbered(self, "dLdA{k}", grads[:-1:2])
        return grads[0]


class MLP0(_CourseMLP):
    """Linear(2, 3), ReLU. Weights start at zero (set them before use)."""

    sizes = (2, 3)


class MLP1(_CourseMLP):
    """Linear(2, 3), ReLU, Linear(3, 2), ReLU."""

    sizes = (2, 3, 2)


class MLP4(_CourseMLP):
    """2-4-8-8-4-2 with a ReLU after each Linear."""

    sizes = (2, 4, 8, 8, 4, 2)


class MLP(Sequential):
    """``MLP(sizes, activation=ReLU, batchnorm=False, dropout=0.0)``.

    ``sizes = [C_in, H_1, ..., C_out]``. Each hidden block is Linear, [BatchNorm1d],
    activation, [Dropout]; the last Linear has no activation (it outputs logits or a
    regression output). ``activation`` is a layer class (``mytorch.nn.Tanh``...).
    Linear layers get PyTorch's default initialisation, U(-1/sqrt(C_in), 1/sqrt(C_in)) for
    W and b, from ``np.random.default_rng(seed)``; ``dtype=np.float32`` makes a float32 model.
    """

    def __init__(self, sizes, activation=ReLU, batchnorm=False, dropout=0.0, seed=None,
                 dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"MLP expected sizes [C_in, ..., C_out] with at least 2 entries, "
                             f"got {sizes}")
        rng = np.random.default_rng(seed)
        layers = []
        for i, (c_in, c_out) in enumerate(itertools.pairwise(sizes)):
            linear = Linear(c_in, c_out, dtype=dtype)
            bound = 1.0 / np.sqrt(c_in)
            linear.W[...] = rng.uniform(-bound, bound, linear.W.shape)
            linear.b[...] = rng.uniform(-bound, bound, linear.b.shape)
            layers.append(linear)
            if i < len(sizes) - 2:
                if batchnorm:
                    layers.append(BatchNorm1d(c_out, dtype=dtype))
                layers.append(activation())
                if dropout:
                    layers.append(Dropout(dropout, rng=rng, scale_backward=True))
        super().__init__(layers)
        self.sizes = list(sizes)
