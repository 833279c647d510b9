"""Layers and losses of the course's autograd bonus, built on the tape engine: each forward
computes its output with NumPy and registers its steps with ``autograd_engine.add_operation``;
``autograd_engine.backward(1)`` (or ``loss.backward()``) then fills the parameter gradients
(``dW``, ``db``) and the gradient buffer.

The call forms are the handout's: ``Linear(in_features, out_features, autograd_engine)``,
``Identity/Sigmoid/Tanh/ReLU(autograd_engine)`` (the output is kept as ``state``),
``MSELoss/SoftmaxCrossEntropy(autograd_engine)`` called as ``loss(y, y_hat)`` (ground truth
first), keeping ``loss_val``.

Where this departs from the handout: ``LossFN.backward()`` starts the tape with 1 (dL/dL)
rather than with the loss value, so the gradients are those of the loss itself; the layers
accept batches of any size (the backward functions sum broadcast gradients back).
"""
import numpy as np

from . import functional as F
from . import ops

__all__ = ["Identity", "Linear", "MSELoss", "ReLU", "Sigmoid", "SoftmaxCrossEntropy", "Tanh"]


class Linear:
    """Z = x W^T + b^T with W (out, in) and b (out, 1), both drawn from
    U(-1/sqrt(in), 1/sqrt(in)) with ``np.random`` (W first) as in the handout; ``dW`` and
    ``db`` accumulate over backward calls (zero them between steps)."""

    def __init__(self, in_features, out_features, autograd_engine):
        bound = np.sqrt(1.0 / in_features)
        self.W = np.random.uniform(-bound, bound, size=(out_features, in_features))
        self.b = np.random.uniform(-bound, bound, size=(out_features, 1))
        self.dW = np.zeros(self.W.shape)
        self.db = np.zeros(self.b.shape)
        self.autograd_engine = autograd_engine

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """x (N, in) -> (N, out): two tape operations, x @ W^T then + b^T."""
        engine, Wt, bt = self.autograd_engine, self.W.T, self.b.T
        y = x @ Wt
        engine.add_operation([x, Wt], y, [None, self.dW.T], F.matmul_backward)
        out = y + bt
        engine.add_operation([y, bt], out, [None, self.db.T], F.add_backward)
        return out


class _Activation:
    """``state`` holds the output of the last forward (a new array, even for Identity: the
    buffer tells arrays apart by memory, so an output must not share its input's)."""

    op = None
    backward_operation = None

    def __init__(self, autograd_engine):
        self.state = None
        self.autograd_engine = autograd_engine

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        self.state = np.array(self.op.forward(np.asarray(x, dtype=np.float64)))
        self.autograd_engine.add_operation([x], self.state, [None], self.backward_operation)
        return self.state


class Identity(_Activation):
    def forward(self, x):
        self.state = np.array(x, dtype=np.float64)                 # a copy
        self.autograd_engine.add_operation([x], self.state, [None], F.identity_backward)
        return self.state


class Sigmoid(_Activation):
    op, backward_operation = ops.Sigmoid, staticmethod(F.sigmoid_backward)


class Tanh(_Activation):
    op, backward_operation = ops.Tanh, staticmethod(F.tanh_backward)


class ReLU(_Activation):
    op, backward_operation = ops.ReLU, staticmethod(F.relu_backward)


class _LossFN:
    def __init__(self, autograd_engine):
        self.autograd_engine = autograd_engine
        self.loss_val = None

    def __call__(self, y, y_hat):
        return self.forward(y, y_hat)

    def backward(self):
        """Run the tape from the loss (gradient 1 at the loss)."""
        self.autograd_engine.backward(1.0)


class MSELoss(_LossFN):
    """loss_val = sum((y_hat - y)^2) / (N C), the mean over all elements, recorded as four
    primitive operations (sub, mul, sum, div)."""

    def forward(self, y, y_hat):
        engine = self.autograd_engine
        diff = y_hat - y
        engine.add_operation([y_hat, y], diff, [None, None], F.sub_backward)
        square = diff * diff
        engine.add_operation([diff, diff], square, [None, None], F.mul_backward)
        total = np.array(square.sum())
        engine.add_operation([square], total, [None], F.sum_backward)
        count = np.array(float(np.size(y_hat)))
        self.loss_val = total / count
        engine.add_operation([total, count], self.loss_val, [None, None], F.div_backward)
        return self.loss_val


class SoftmaxCrossEntropy(_LossFN):
    """loss_val = mean over the N rows of -sum_c y log softmax(y_hat), an array of shape (1,)
    as in the course's handout (``np.array([L])``), one tape operation
    (``SoftmaxCrossEntropy_backward``); y one-hot (N, C), y_hat logits (N, C)."""

    def forward(self, y, y_hat):
        y_hat = np.asarray(y_hat)
        log_softmax = ops.LogSoftmax.forward(np.asarray(y_hat, dtype=np.float64), axis=-1)
        self.loss_val = np.array([-np.sum(np.asarray(y) * log_softmax) / y_hat.shape[0]])
        self.autograd_engine.add_operation([y_hat, y], self.loss_val, [None, None],
                                           F.SoftmaxCrossEntropy_backward)
        return self.loss_val
