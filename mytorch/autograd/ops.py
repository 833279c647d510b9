"""The differentiable operations, each with its three rules side by side:

- ``forward(*inputs, **kw) -> y`` on ndarrays;
- ``vjp(g, y, *inputs, **kw) -> (dL/dinput, ...)``: reverse mode, g = dL/dy (``Tensor``);
- ``jvp(y, inputs, tangents, **kw) -> dy``: forward mode, the directional derivative
  (``Dual``); constants carry zero tangents.

Broadcasting: a gradient is summed back to each input's shape (``unbroadcast``).
"""
import numpy as np

from ..arrays import stable_sigmoid


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that NumPy broadcasting added or stretched to reach it."""
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


class Add:
    forward = staticmethod(lambda a, b: a + b)
    vjp = staticmethod(lambda g, y, a, b: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)))
    jvp = staticmethod(lambda y, x, dx: dx[0] + dx[1])


class Sub:
    forward = staticmethod(lambda a, b: a - b)
    vjp = staticmethod(lambda g, y, a, b: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)))
    jvp = staticmethod(lambda y, x, dx: dx[0] - dx[1])


class Mul:
    forward = staticmethod(lambda a, b: a * b)
    vjp = staticmethod(lambda g, y, a, b: (unbroadcast(g * b, a.shape),
                                           unbroadcast(g * a, b.shape)))
    jvp = staticmethod(lambda y, x, dx: dx[0] * x[1] + x[0] * dx[1])


class Div:
    forward = staticmethod(lambda a, b: a / b)
    vjp = staticmethod(lambda g, y, a, b: (unbroadcast(g / b, a.shape),
                                           unbroadcast(-g * y / b, b.shape)))
    jvp = staticmethod(lambda y, x, dx: (dx[0] - y * dx[1]) / x[1])


class Neg:
    forward = staticmethod(lambda a: -a)
    vjp = staticmethod(lambda g, y, a: (-g,))
    jvp = staticmethod(lambda y, x, dx: -dx[0])


class PowConst:
    """a ** p for a constant exponent p: dy/da = p a^(p-1)."""
    forward = staticmethod(lambda a, p: a ** p)
    vjp = staticmethod(lambda g, y, a, p: (unbroadcast(g * p * a ** (p - 1), a.shape),))
    jvp = staticmethod(lambda y, x, dx, p: p * x[0] ** (p - 1) * dx[0])


class Pow:
    """a ** b with both differentiable: dy/da = b a^(b-1), dy/db = a^b log a (needs a > 0)."""
    forward = staticmethod(lambda a, b: a ** b)
    vjp = staticmethod(lambda g, y, a, b: (unbroadcast(g * b * a ** (b - 1), a.shape),
                                           unbroadcast(g * y * np.log(a), b.shape)))
    jvp = staticmethod(lambda y, x, dx: x[1] * x[0] ** (x[1] - 1) * dx[0]
                       + y * np.log(x[0]) * dx[1])


class MatMul:
    """a @ b with NumPy's rules: 1-D operands are promoted to (1, n) / (n, 1), stacks broadcast.
    ``vjp`` needs only the inputs and g (any array of the output's size): never the product."""
    forward = staticmethod(lambda a, b: a @ b)
    jvp = staticmethod(lambda y, x, dx: dx[0] @ x[1] + x[0] @ dx[1])

    @staticmethod
    def output_shape(a_shape, b_shape):
        """The shape of a @ b from the operands' shapes alone (ValueError naming both if
        they do not multiply)."""
        a2 = (1, *a_shape) if len(a_shape) == 1 else tuple(a_shape)       # (..., n, k)
        b2 = (*b_shape, 1) if len(b_shape) == 1 else tuple(b_shape)       # (..., k, m)
        if len(a2) < 2 or len(b2) < 2 or a2[-1] != b2[-2]:
            raise ValueError(f"a of shape {tuple(a_shape)} and b of shape {tuple(b_shape)} do "
                             "not multiply (a @ b needs a's last dimension = b's first "
                             "(second to last) one, and no 0-d operand)")
        try:
            batch = np.broadcast_shapes(a2[:-2], b2[:-2])
        except ValueError:
            raise ValueError(f"a of shape {tuple(a_shape)} and b of shape {tuple(b_shape)}: "
                             "their stacked (leading) dimensions do not broadcast") from None
        rows = () if len(a_shape) == 1 else (a2[-2],)
        cols = () if len(b_shape) == 1 else (b2[-1],)
        return (*batch, *rows, *cols)

    @staticmethod
    def vjp(g, y, a, b):
        a2 = a[None, :] if a.ndim == 1 else a                          # (..., n, k)
        b2 = b[:, None] if b.ndim == 1 else b                          # (..., k, m)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = np.reshape(g, (*batch, a2.shape[-2], b2.shape[-1]))       # (..., n, m)
        da = g2 @ np.swapaxes(b2, -1, -2)                              # (..., n, k)
        db = np.swapaxes(a2, -1, -2) @ g2                              # (..., k, m)
        return (unbroadcast(da, a2.shape).reshape(a.shape),
                unbroadcast(db, b2.shape).reshape(b.shape))


class Outer:
    """np.outer(a, b): y[i, j] = a.flat[i] * b.flat[j] (both operands flattened, as NumPy
    does), y of shape (a.size, b.size)."""
    forward = staticmethod(np.outer)
    jvp = staticmethod(lambda y, x, dx: np.outer(dx[0], x[1]) + np.outer(x[0], dx[1]))

    @staticmethod
    def vjp(g, y, a, b):
        g2 = np.reshape(g, (a.size, b.size))
        return (np.reshape(g2 @ b.reshape(-1), a.shape),
                np.reshape(a.reshape(-1) @ g2, b.shape))


class Exp:
    forward = staticmethod(np.exp)
    vjp = staticmethod(lambda g, y, a: (g * y,))
    jvp = staticmethod(lambda y, x, dx: y * dx[0])


class Log:
    forward = staticmethod(np.log)
    vjp = staticmethod(lambda g, y, a: (g / a,))
    jvp = staticmethod(lambda y, x, dx: dx[0] / x[0])


def _restore_reduced(g, ndim, axis, keepdims):
    """Put back the axes that ``sum(axis, keepdims=False)`` removed, as size-1 axes."""
    if keepdims or axis is None and np.ndim(g) == ndim:
        return g
    axes = range(ndim) if axis is None else np.atleast_1d(axis)
    return np.expand_dims(g, tuple(int(i) % ndim for i in axes))


class Sum:
    forward = staticmethod(lambda a, axis=None, keepdims=False: a.sum(axis=axis, keepdims=keepdims))
    jvp = staticmethod(lambda y, x, dx, axis=None, keepdims=False:
                       dx[0].sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def vjp(g, y, a, axis=None, keepdims=False):
        return (np.broadcast_to(_restore_reduced(g, a.ndim, axis, keepdims), a.shape),)


class Reshape:
    forward = staticmethod(lambda a, shape: a.reshape(shape))
    vjp = staticmethod(lambda g, y, a, shape: (np.reshape(g, a.shape),))
    jvp = staticmethod(lambda y, x, dx, shape: dx[0].reshape(shape))


class Transpose:
    forward = staticmethod(lambda a, axes=None: np.transpose(a, axes))
    vjp = staticmethod(lambda g, y, a, axes=None:
                       (np.transpose(g, None if axes is None else np.argsort(axes)),))
    jvp = staticmethod(lambda y, x, dx, axes=None: np.transpose(dx[0], axes))


class ReLU:
    forward = staticmethod(lambda a: np.maximum(a, 0))
    vjp = staticmethod(lambda g, y, a: (np.where(a > 0, g, 0),))
    jvp = staticmethod(lambda y, x, dx: np.where(x[0] > 0, dx[0], 0))


class Sigmoid:
    forward = staticmethod(stable_sigmoid)
    vjp = staticmethod(lambda g, y, a: (g * y * (1 - y),))
    jvp = staticmethod(lambda y, x, dx: y * (1 - y) * dx[0])


class Tanh:
    forward = staticmethod(np.tanh)
    vjp = staticmethod(lambda g, y, a: (g * (1 - y * y),))
    jvp = staticmethod(lambda y, x, dx: (1 - y * y) * dx[0])


class LogSoftmax:
    """y = a - log sum exp(a) along ``axis`` (max subtracted first: no overflow)."""

    @staticmethod
    def forward(a, axis=-1):
        shifted = a - a.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    vjp = staticmethod(lambda g, y, a, axis=-1:
                       (g - np.exp(y) * g.sum(axis=axis, keepdims=True),))
    jvp = staticmethod(lambda y, x, dx, axis=-1:
                       dx[0] - (np.exp(y) * dx[0]).sum(axis=axis, keepdims=True))
