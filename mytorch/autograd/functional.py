"""The course's ``*_backward`` functions for the tape engine (``engine.Autograd``).

Each has the course's signature ``name_backward(grad_output, *inputs)`` and returns the
gradient of every input, in input order (one array for a one-input operation, a tuple
otherwise; ``None`` for an input that gets no gradient, such as labels). The arithmetic
ones are not written again here: they are made from the ``vjp`` rules of the operation table
(``ops.py``) that ``Tensor`` uses, so the tape and ``Tensor`` agree by construction.

Where they depart from the course's handout: broadcasting is handled (a gradient is summed
back to its input's shape, so a bias row (1, C) added to (N, C) gets the batch sum), which
the handout leaves optional; a scalar ``grad_output`` (the divergence passed to
``Autograd.backward``) is broadcast to the output's shape.
"""
import numpy as np

from . import ops

__all__ = ["SoftmaxCrossEntropy_backward", "add_backward", "div_backward", "exp_backward",
           "identity_backward", "log_backward", "matmul_backward", "max_backward",
           "mul_backward", "pow_backward", "relu_backward", "sigmoid_backward",
           "slice_backward", "sub_backward", "sum_backward", "tanh_backward",
           "transpose_backward"]


def _from_table(op, name, doc):
    """``name(grad_output, *inputs, **kw)`` from ``op.forward`` and ``op.vjp``."""

    def backward(grad_output, *inputs, **kw):
        inputs = tuple(np.asarray(x, dtype=np.float64) for x in inputs)
        y = op.forward(*inputs, **kw)
        g = np.broadcast_to(np.asarray(grad_output, dtype=np.float64), np.shape(y))
        grads = tuple(np.array(grad) for grad in op.vjp(g, y, *inputs, **kw))
        return grads[0] if len(grads) == 1 else grads

    backward.__name__ = backward.__qualname__ = name
    backward.__doc__ = doc
    return backward


add_backward = _from_table(ops.Add, "add_backward", "a + b -> (dL/da, dL/db).")
sub_backward = _from_table(ops.Sub, "sub_backward", "a - b -> (dL/da, dL/db).")
mul_backward = _from_table(ops.Mul, "mul_backward", "a * b (element-wise) -> (dL/da, dL/db).")
div_backward = _from_table(ops.Div, "div_backward", "a / b -> (dL/da, dL/db).")
matmul_backward = _from_table(ops.MatMul, "matmul_backward", "a @ b -> (dL/da, dL/db).")
log_backward = _from_table(ops.Log, "log_backward", "log(a) -> dL/da.")
exp_backward = _from_table(ops.Exp, "exp_backward", "exp(a) -> dL/da.")
tanh_backward = _from_table(ops.Tanh, "tanh_backward", "tanh(a) -> dL/da.")
sigmoid_backward = _from_table(ops.Sigmoid, "sigmoid_backward", "sigmoid(a) -> dL/da.")
relu_backward = _from_table(ops.ReLU, "relu_backward", "max(a, 0) -> dL/da (0 at a = 0).")
_pow_table = _from_table(ops.Pow, "pow_backward", "")
_sum_table = _from_table(ops.Sum, "sum_backward", "")
_transpose_table = _from_table(ops.Transpose, "transpose_backward", "")


def pow_backward(grad_output, a, b):
    """a ** b -> (dL/da, dL/db); a constant exponent (a Python number) gets no gradient."""
    if np.ndim(b) == 0 and not isinstance(b, np.ndarray):
        return _from_table(ops.PowConst, "pow", "")(grad_output, a, p=b), None
    return _pow_table(grad_output, a, b)


def sum_backward(grad_output, a, axis=None, keepdims=False):
    """sum(a, axis) -> dL/da (the output gradient spread over the summed elements)."""
    return _sum_table(grad_output, a, axis=axis, keepdims=keepdims)


def transpose_backward(grad_output, a, axes=None):
    """a.transpose(axes) -> dL/da."""
    return _transpose_table(grad_output, a, axes=axes)


def identity_backward(grad_output, a):
    """a -> dL/da = grad_output."""
    return np.broadcast_to(np.asarray(grad_output, dtype=np.float64), np.shape(a)).copy()


def max_backward(grad_output, a):
    """max(a) over all elements -> dL/da: the output gradient goes to the maximal element(s)
    (to every one of them on a tie, as in the course's reference)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(a == a.max(), np.asarray(grad_output, dtype=np.float64), 0.0)


def slice_backward(grad_output, a, index):
    """a[index] -> (dL/da, None): the output gradient placed back at ``index`` (an index
    expression, e.g. ``np.index_exp[t]`` stored in an object array), zero elsewhere."""
    index = index.item() if isinstance(index, np.ndarray) and index.dtype == object \
        and index.ndim == 0 else tuple(index) if isinstance(index, np.ndarray) else index
    grad = np.zeros(np.shape(a))
    np.add.at(grad, index, grad_output)
    return grad, None


def SoftmaxCrossEntropy_backward(grad_output, A, Y):  # noqa: N802 (the course's name)
    """L = mean over the N rows of -sum_c Y log softmax(A) -> (dL/dA, None):
    grad_output * (softmax(A) - Y) / N; the labels Y get no gradient."""
    A = np.asarray(A, dtype=np.float64)
    log_softmax = ops.LogSoftmax.forward(A, axis=-1)
    N = A.shape[0] if A.ndim > 1 else 1
    return np.asarray(grad_output) * (np.exp(log_softmax) - np.asarray(Y)) / N, None
