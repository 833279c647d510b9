"""Automatic differentiation over NumPy arrays.

- reverse mode: ``Tensor(data, requires_grad=True)``, build an expression, ``.backward()``;
- forward mode: ``jvp(fn, primals, tangents)`` with dual numbers;
- the course's tape (its autograd bonus): ``Autograd`` with ``add_operation(inputs, output,
  gradients_to_update, backward_operation)`` and ``backward(divergence)``, the
  ``*_backward`` functions (``functional``) and layers on the tape (``nn``).

All use the same operation table (``ops.py``), where each operation's forward, ``vjp``
(reverse) and ``jvp`` (forward) rules sit side by side.
"""
from . import functional, nn  # noqa: F401
from .engine import Autograd, GradientBuffer, Operation
from .forward import Dual, jvp
from .tensor import Tensor

__all__ = ["Autograd", "Dual", "GradientBuffer", "Operation", "Tensor", "functional", "jvp",
           "nn"]
