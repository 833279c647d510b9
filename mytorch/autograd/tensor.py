"""Reverse-mode automatic differentiation over NumPy arrays, in the style of micrograd.

Each operation (``ops.py``) records its inputs on the output ``Tensor``; ``backward()``
orders the graph topologically and walks it from the output, applying each operation's
``vjp`` rule and adding up the gradients of tensors used more than once.
"""
import numpy as np

from ..arrays import as_float_array
from . import ops

__all__ = ["Tensor"]


class ArrayOps:
    """Operators and methods shared by ``Tensor`` and the forward-mode ``Dual``; each
    subclass supplies ``_apply(op, *inputs, **kw)`` and the array itself as ``data``."""

    __array_ufunc__ = None            # ndarray (op) Tensor defers to Tensor's reflected operator

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def __add__(self, other): return self._apply(ops.Add, self, other)
    def __radd__(self, other): return self._apply(ops.Add, other, self)
    def __sub__(self, other): return self._apply(ops.Sub, self, other)
    def __rsub__(self, other): return self._apply(ops.Sub, other, self)
    def __mul__(self, other): return self._apply(ops.Mul, self, other)
    def __rmul__(self, other): return self._apply(ops.Mul, other, self)
    def __truediv__(self, other): return self._apply(ops.Div, self, other)
    def __rtruediv__(self, other): return self._apply(ops.Div, other, self)
    def __matmul__(self, other): return self._apply(ops.MatMul, self, other)
    def __rmatmul__(self, other): return self._apply(ops.MatMul, other, self)
    def __neg__(self): return self._apply(ops.Neg, self)
    def __rpow__(self, other): return self._apply(ops.Pow, other, self)

    def __pow__(self, other):
        if isinstance(other, ArrayOps):
            return self._apply(ops.Pow, self, other)
        return self._apply(ops.PowConst, self, p=other)

    def outer(self, other): return self._apply(ops.Outer, self, other)
    def exp(self): return self._apply(ops.Exp, self)
    def log(self): return self._apply(ops.Log, self)
    def relu(self): return self._apply(ops.ReLU, self)
    def sigmoid(self): return self._apply(ops.Sigmoid, self)
    def tanh(self): return self._apply(ops.Tanh, self)

    def log_softmax(self, axis=-1):
        return self._apply(ops.LogSoftmax, self, axis=axis)

    def sum(self, axis=None, keepdims=False):
        axis = tuple(axis) if isinstance(axis, list) else axis
        return self._apply(ops.Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        axes = range(self.ndim) if axis is None else np.atleast_1d(axis)
        count = int(np.prod([self.shape[int(i)] for i in axes]))      # elements averaged
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) \
            else shape
        return self._apply(ops.Reshape, self, shape=shape)

    def transpose(self, *axes):
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return self._apply(ops.Transpose, self, axes=axes or None)

    T = property(lambda self: self.transpose())

    @classmethod
    def _constant_data(cls, x, like):
        """An operand that is not one of ours: Python numbers take the dtype of ``like`` (so
        float32 stays float32), arrays follow the float32-else-float64 rule."""
        if isinstance(x, (int, float)):
            return np.asarray(x, dtype=like.dtype)
        return as_float_array(x)


class Tensor(ArrayOps):
    """``Tensor(data, requires_grad=False)``: ``.data`` (ndarray), ``.grad`` (ndarray or None
    before ``backward``). Leaves add gradients over several ``backward`` calls, like PyTorch
    (set ``.grad = None`` to reset); intermediate tensors hold the latest gradient."""

    def __init__(self, data, requires_grad=False, _parents=(), _op=None, _kw=None):
        self.data = as_float_array(data)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._parents, self._op, self._kw = _parents, _op, _kw or {}

    @staticmethod
    def _apply(op, *inputs, **kw):
        like = next(x for x in inputs if isinstance(x, Tensor)).data
        inputs = tuple(x if isinstance(x, Tensor) else Tensor(Tensor._constant_data(x, like))
                       for x in inputs)
        y = op.forward(*(x.data for x in inputs), **kw)
        if not any(x.requires_grad for x in inputs):
            return Tensor(y)                                   # constants: no graph
        return Tensor(y, requires_grad=True, _parents=inputs, _op=op, _kw=kw)

    def _topological_order(self):
        """Every tensor that ``self`` depends on, inputs before outputs (iterative DFS)."""
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad)
        return order

    def backward(self, grad=None):
        """Fill ``.grad`` of every tensor that requires grad; ``grad`` = dL/dself (default 1
        for a one-element tensor)."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a Tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() without grad needs a one-element Tensor, got "
                                 f"shape {self.shape}: pass grad of shape {self.shape}")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward expected grad of shape {self.shape}, got shape {grad.shape}")
        grads = {id(self): grad}
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node))
            if node._op is None:                                   # leaf: accumulate
                node.grad = np.array(g) if node.grad is None else node.grad + g
                continue
            node.grad = np.array(g)
            parent_grads = node._op.vjp(g, node.data, *(p.data for p in node._parents),
                                        **node._kw)
            for p, pg in zip(node._parents, parent_grads):
                if p.requires_grad:
                    grads[id(p)] = grads[id(p)] + pg if id(p) in grads else pg

    def detach(self):
        return Tensor(self.data)

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{flag})"
