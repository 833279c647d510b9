"""The course's earlier (F22) layout of MLP0, MLP1 and MLP4, used by its first HW1 bonus
autograder (``from mytorch.models.hw1 import MLP4``): ``layers`` holds only the Linear
layers and ``f`` the activations, so ``model.layers[i]`` is the i-th Linear.

The current layout (``mytorch.models.MLP4``) interleaves them in one list; the numbers are
the same. Debug lists of this layout (``debug=True``): ``Z`` (pre-activations), ``A`` (A0 and
every activation output), ``dAdZ`` (the activation derivatives), ``dLdZ`` and ``dLdA``
(dLdA[0] for the input, ..., dLdA[-1] the gradient passed to backward); MLP0/MLP1 also keep
the named ``Z0``, ``A1``, ``dA1dZ0``, ``dLdZ0``, ``dLdA0``, ... of that handout.
"""
import numpy as np

from ..nn.activation import ReLU
from ..nn.linear import Linear
from . import mlp
from .mlp import keep_numbered

__all__ = ["MLP0", "MLP1", "MLP4"]


class _SplitMLP:
    sizes = ()

    def __init__(self, debug=False):
        self.layers = [Linear(c_in, c_out) for c_in, c_out in zip(self.sizes, self.sizes[1:])]
        self.f = [ReLU() for _ in self.layers]
        self.debug = debug

    def __call__(self, A):
        return self.forward(A)

    def forward(self, A):
        Z_list, A_list = [], [A]
        for layer, act in zip(self.layers, self.f):
            Z_list.append(layer.forward(A_list[-1]))
            A_list.append(act.forward(Z_list[-1]))
        if self.debug:
            self.Z, self.A = Z_list, A_list
            keep_numbered(self, "Z{k}", Z_list)
            keep_numbered(self, "A{k1}", A_list[1:])
        return A_list[-1]

    def backward(self, dLdA):
        dAdZ_list, dLdZ_list, dLdA_list = [], [], [dLdA]
        for layer, act in zip(reversed(self.layers), reversed(self.f)):
            dAdZ = act.backward(np.ones_like(act.A))          # the activation's derivative
            dLdZ = dLdA_list[0] * dAdZ
            dAdZ_list.insert(0, dAdZ)
            dLdZ_list.insert(0, dLdZ)
            dLdA_list.insert(0, layer.backward(dLdZ))
        if self.debug:
            self.dAdZ, self.dLdZ, self.dLdA = dAdZ_list, dLdZ_list, dLdA_list
            keep_numbered(self, "dA{k1}dZ{k}", dAdZ_list)
            keep_numbered(self, "dLdZ{k}", dLdZ_list)
            keep_numbered(self, "dLdA{k}", dLdA_list[:-1])
        return dLdA_list[0]


class MLP0(_SplitMLP):
    """Linear(2, 3), ReLU; ``layers = [Linear]``, ``f = [ReLU]``."""

    sizes = mlp.MLP0.sizes


class MLP1(_SplitMLP):
    """Linear(2, 3), ReLU, Linear(3, 2), ReLU."""

    sizes = mlp.MLP1.sizes


class MLP4(_SplitMLP):
    """2-4-8-8-4-2, a ReLU after each Linear; ``layers`` the five Linear layers."""

    sizes = mlp.MLP4.sizes
