"""The course's ``*_backward`` functions for the tape engine (``engine.Autograd``).

Each has the course's signature ``name_backward(grad_output, *inputs)`` and returns the
gradient of every input, in input order (one array for a one-input operation, a tuple
otherwise; ``None`` for an input that gets no gradient, such as labels). The arithmetic
ones are not written again here: they are made from the ``vjp`` rules of the operation table
(``ops.py``) that ``Tensor`` uses, so the tape and ``Tensor`` agree by construction.

A backward function takes the inputs and the output's gradient, never the output: it does not
redo the forward computation. ``matmul_backward`` and ``outer_backward`` use only the operands'
shapes (no product is formed); add, sub, mul, log and relu only the broadcast shape; exp, tanh,
sigmoid, div and pow evaluate the element-wise function their derivative is made of.

Where they depart from the course's handout: broadcasting is handled (a gradient is summed
back to its input's shape, so a bias row (1, C) added to (N, C) gets the batch sum), which
the handout leaves optional; a scalar ``grad_output`` (the divergence passed to
``Autograd.backward``) is broadcast to the output's shape, and one that differs from it only
by axes of size 1 (e.g. (1, 1) for the (1,) of a row times a 1-D vector) is reshaped to it.
"""
import numpy as np

from . import ops

__all__ = ["SoftmaxCrossEntropy_backward", "add_backward", "div_backward", "exp_backward",
           "identity_backward", "log_backward", "matmul_backward", "max_backward",
           "mul_backward", "outer_backward", "pow_backward", "relu_backward",
           "sigmoid_backward", "slice_backward", "sub_backward", "sum_backward",
           "tanh_backward", "transpose_backward"]


def _as_output_grad(grad_output, shape, name):
    """``grad_output`` as a float64 array of the output's ``shape``: reshaped when it differs
    from it only by axes of size 1 ((1, 1) for (1,), (N, 1) for (N,)), broadcast otherwise
    (a scalar divergence)."""
    g = np.asarray(grad_output, dtype=np.float64)
    if g.shape == tuple(shape):
        return g
    if np.squeeze(g).shape == tuple(n for n in shape if n != 1):
        return g.reshape(shape)
    try:
        return np.broadcast_to(g, shape)
    except ValueError:
        raise ValueError(f"{name}: grad_output of shape {g.shape} does not fit the operation's "
                         f"output of shape {tuple(shape)} (pass dL/doutput, shaped like the "
                         "output, or a scalar)") from None


def _from_table(op, name, doc, needs_output=True):
    """``name(grad_output, *inputs, **kw)`` from ``op.vjp``; ``op.forward`` is evaluated only
    when the rule is written with the output (exp, tanh, ...), otherwise only the output's
    (broadcast) shape is worked out."""

    def backward(grad_output, *inputs, **kw):
        inputs = tuple(np.asarray(x, dtype=np.float64) for x in inputs)
        if needs_output:
            y = op.forward(*inputs, **kw)
            shape = np.shape(y)
        else:
            y, shape = None, np.broadcast_shapes(*(x.shape for x in inputs))
        g = _as_output_grad(grad_output, shape, name)
        grads = tuple(np.array(grad) for grad in op.vjp(g, y, *inputs, **kw))
        return grads[0] if len(grads) == 1 else grads

    backward.__name__ = backward.__qualname__ = name
    backward.__doc__ = doc
    return backward


add_backward = _from_table(ops.Add, "add_backward", "a + b -> (dL/da, dL/db).", False)
sub_backward = _from_table(ops.Sub, "sub_backward", "a - b -> (dL/da, dL/db).", False)
mul_backward = _from_table(ops.Mul, "mul_backward", "a * b (element-wise) -> (dL/da, dL/db).",
                           False)
div_backward = _from_table(ops.Div, "div_backward", "a / b -> (dL/da, dL/db).")
log_backward = _from_table(ops.Log, "log_backward", "log(a) -> dL/da.", False)
exp_backward = _from_table(ops.Exp, "exp_backward", "exp(a) -> dL/da.")
tanh_backward = _from_table(ops.Tanh, "tanh_backward", "tanh(a) -> dL/da.")
sigmoid_backward = _from_table(ops.Sigmoid, "sigmoid_backward", "sigmoid(a) -> dL/da.")
relu_backward = _from_table(ops.ReLU, "relu_backward", "max(a, 0) -> dL/da (0 at a = 0).", False)


def matmul_backward(grad_output, a, b):
    """a @ b -> (dL/da, dL/db) = (grad_output @ b^T, a^T @ grad_output), with NumPy's rules
    for 1-D and stacked operands; the product itself is never formed (only its shape)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    try:
        shape = ops.MatMul.output_shape(a.shape, b.shape)
    except ValueError as error:
        raise ValueError(f"matmul_backward: {error}") from None
    g = _as_output_grad(grad_output, shape, "matmul_backward")
    return tuple(np.array(grad) for grad in ops.MatMul.vjp(g, None, a, b))


def outer_backward(grad_output, a, b):
    """np.outer(a, b) -> (dL/da, dL/db) = (grad_output @ b, a @ grad_output), for a and b
    vectors (1-D or one row, as the handout asserts; NumPy flattens any other shape the same
    way); each gradient has its input's shape."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    g = _as_output_grad(grad_output, (a.size, b.size), "outer_backward")
    return tuple(np.array(grad) for grad in ops.Outer.vjp(g, None, a, b))


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
