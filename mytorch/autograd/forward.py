"""Forward-mode automatic differentiation with dual numbers: ``jvp(fn, primals, tangents)``.

A ``Dual`` carries a value (``data``) and its directional derivative (``tangent``); every
operation pushes both forward with its ``jvp`` rule (``ops.py``), so one call of ``fn``
gives the Jacobian-vector product J v without ever forming J.
"""
import numpy as np

from ..arrays import as_float_array
from .tensor import ArrayOps

__all__ = ["Dual", "jvp"]


class Dual(ArrayOps):
    """A value and its tangent, with the same operations as ``Tensor``."""

    def __init__(self, data, tangent=None):
        self.data = as_float_array(data)
        self.tangent = np.zeros_like(self.data) if tangent is None \
            else np.asarray(tangent, dtype=self.data.dtype)

    @staticmethod
    def _apply(op, *inputs, **kw):
        like = next(x for x in inputs if isinstance(x, Dual)).data
        inputs = tuple(x if isinstance(x, Dual) else Dual(Dual._constant_data(x, like))
                       for x in inputs)
        primals = tuple(x.data for x in inputs)
        y = op.forward(*primals, **kw)
        return Dual(y, op.jvp(y, primals, tuple(x.tangent for x in inputs), **kw))

    def __repr__(self):
        return f"Dual({self.data!r}, tangent={self.tangent!r})"


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def jvp(fn, primals, tangents):
    """(fn(*primals), J_fn(primals) @ tangents) as arrays (floats for scalar outputs).

    ``primals`` and ``tangents`` are tuples of arrays of matching shapes; ``fn`` takes one
    argument per primal and returns a ``Dual`` (or a tuple of them) built from the usual
    operations (``+ - * / @ **``, ``exp``, ``sum``, ``log_softmax``...).
    """
    if len(primals) != len(tangents):
        raise ValueError(f"jvp expected one tangent per primal, got {len(primals)} primals "
                         f"and {len(tangents)} tangents")
    duals = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise ValueError(f"jvp: tangent {i} expected shape {np.shape(p)}, got shape "
                             f"{np.shape(t)}")
        duals.append(Dual(p, t))
    out = fn(*duals)
    if isinstance(out, tuple):
        return (tuple(_out(o.data) for o in out), tuple(_out(o.tangent) for o in out))
    if not isinstance(out, Dual):                           # fn ignores its inputs
        return _out(as_float_array(out)), _out(np.zeros_like(as_float_array(out)))
    return _out(out.data), _out(out.tangent)
