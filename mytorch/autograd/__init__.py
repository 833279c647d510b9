"""Automatic differentiation over NumPy arrays.

- reverse mode: ``Tensor(data, requires_grad=True)``, build an expression, ``.backward()``;
- forward mode: ``jvp(fn, primals, tangents)`` with dual numbers.

Both use the same operation table (``ops.py``), where each operation's forward, ``vjp``
(reverse) and ``jvp`` (forward) rules sit side by side.
"""
from .forward import Dual, jvp
from .tensor import Tensor

__all__ = ["Dual", "Tensor", "jvp"]
