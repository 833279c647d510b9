"""mytorch.autograd against torch.autograd (reverse mode), torch.func.jvp (forward mode) and
central finite differences, on random shapes with NumPy broadcasting.

Tolerances: float64 rtol 1e-9 / atol 1e-11 against torch; rtol 1e-5 / atol 1e-7 against
finite differences (h = 1e-6)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.autograd import Tensor, jvp

from .mlp_reference import close, rand, seeds, t

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """A shape and a second shape that broadcasts against it (dims dropped or set to 1)."""
    a = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    keep = draw(st.integers(0, len(a)))
    b = tuple(1 if draw(st.booleans()) else n for n in a[len(a) - keep:])
    return (a, b) if draw(st.booleans()) else (b, a)


def _reverse(f_mine, f_torch, arrays, seed):
    """Compare values and gradients for a random upstream gradient g."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    txs = [t(a, grad=True) for a in arrays]
    y, ty = f_mine(*xs), f_torch(*txs)
    g = rand(seed, *ty.shape)
    y.backward(g)
    ty.backward(t(g))
    close(y.data, ty)
    for x, tx in zip(xs, txs):
        assert x.grad.shape == x.data.shape
        close(x.grad, tx.grad)


def _forward(f_mine, f_torch, arrays, seed):
    tangents = tuple(rand(seed + 7 + i, *np.shape(a)) for i, a in enumerate(arrays))
    y, dy = jvp(f_mine, tuple(arrays), tangents)
    ty, tdy = torch.func.jvp(f_torch, tuple(t(a) for a in arrays), tuple(t(v) for v in tangents))
    close(y, ty)
    close(dy, tdy)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
    "rsub_const": (lambda a, b: 2.0 - a * b, lambda a, b: 2.0 - a * b),
    "rdiv_const": (lambda a, b: 3.0 / b + a, lambda a, b: 3.0 / b + a),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcast_pair(), seed=seeds)
def test_binary_ops_broadcast_like_torch(name, pair, seed):
    a = rand(seed, *pair[0])
    b = np.abs(rand(seed + 1, *pair[1])) + 0.5                # away from 0 (div, pow)
    if name == "pow":
        a = np.abs(a) + 0.5                                     # a ** b with a > 0
    f_mine, f_torch = BINARY[name]
    _reverse(f_mine, f_torch, [a, b], seed + 2)
    _forward(f_mine, f_torch, [a, b], seed + 3)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((1, 3), (3, 1)),
                 ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5)), ((2, 1, 2, 3), (3, 3, 2))]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_all_numpy_cases_like_torch(sa, sb):
    a, b = rand(0, *sa), rand(1, *sb)
    _reverse(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], 2)
    _forward(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], 3)
    y = Tensor(b, requires_grad=True)
    (a @ y).sum().backward()                                    # ndarray @ Tensor
    tb = t(b, grad=True)
    (t(a) @ tb).sum().backward()
    close(y.grad, tb.grad)


UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (lambda x: x.exp(), lambda x: x.exp()),
    "log": (lambda x: (x * x + 0.1).log(), lambda x: (x * x + 0.1).log()),
    "relu": (lambda x: x.relu(), torch.relu),
    "sigmoid": (lambda x: (x * 20).sigmoid(), lambda x: (x * 20).sigmoid()),
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "pow_const": (lambda x: x ** 3 + x ** 2.0, lambda x: x ** 3 + x ** 2.0),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    "sum": (lambda x: x.sum(), lambda x: x.sum()),
    "mean": (lambda x: x.mean(), lambda x: x.mean()),
    "transpose": (lambda x: x.T * 1.0, lambda x: x.permute(tuple(reversed(range(x.ndim)))) * 1.0),
    "reshape": (lambda x: x.reshape(-1) * 2, lambda x: x.reshape(-1) * 2),
    "reused": (lambda x: x * x + x.exp() * x, lambda x: x * x + x.exp() * x),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_ops_like_torch(name, shape, seed):
    x = rand(seed, *shape)
    f_mine, f_torch = UNARY[name]
    _reverse(f_mine, f_torch, [x], seed + 1)
    _forward(f_mine, f_torch, [x], seed + 2)


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), data=st.data(),
       keepdims=st.booleans(), seed=seeds)
def test_axis_reductions_and_log_softmax_like_torch(shape, data, keepdims, seed):
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1))
    axes = tuple(sorted(set(data.draw(st.lists(st.integers(0, nd - 1), min_size=1)))))
    perm = tuple(data.draw(st.permutations(range(nd))))
    x = rand(seed, *shape, scale=5)
    cases = [
        (lambda v: v.sum(axis=axis, keepdims=keepdims), lambda v: v.sum(dim=axis, keepdim=keepdims)),
        (lambda v: v.mean(axis=axes, keepdims=keepdims), lambda v: v.mean(dim=axes, keepdim=keepdims)),
        (lambda v: v.log_softmax(axis=axis), lambda v: torch.log_softmax(v, dim=axis)),
        (lambda v: v.transpose(perm) * 1.0, lambda v: v.permute(*perm) * 1.0),
        (lambda v: v.reshape(tuple(reversed(shape))) * 1.0, lambda v: v.reshape(*reversed(shape)) * 1.0),
    ]
    for i, (f_mine, f_torch) in enumerate(cases):
        _reverse(f_mine, f_torch, [x], seed + i)
        _forward(f_mine, f_torch, [x], seed + 10 + i)


def _mlp_loss(x, w1, b1, w2, Y):
    """A two-layer classifier's mean cross-entropy, written with the shared operations."""
    h = (x @ w1 + b1).tanh()
    return -(Y * (h @ w2).log_softmax(axis=1)).sum(axis=1).mean()


@given(N=st.integers(1, 6), D=st.integers(1, 5), H=st.integers(1, 5), C=st.integers(2, 4),
       seed=seeds)
def test_mlp_loss_gradients_torch_and_finite_differences(N, D, H, C, seed):
    arrays = [rand(seed, N, D), rand(seed + 1, D, H), rand(seed + 2, H), rand(seed + 3, H, C)]
    Y = np.eye(C)[np.random.default_rng(seed).integers(0, C, N)]
    f_mine = lambda *a: _mlp_loss(*a, Y)
    f_torch = lambda *a: _mlp_loss(*a, t(Y))
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    loss = f_mine(*xs)
    loss.backward()
    _reverse(f_mine, f_torch, arrays, seed + 4)
    _forward(f_mine, f_torch, arrays, seed + 5)
    # central differences on every entry of every input
    h = 1e-6
    for k, (x, a) in enumerate(zip(xs, arrays)):
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            up, down = a.copy(), a.copy()
            up[idx] += h
            down[idx] -= h
            value = {s: f_mine(*map(Tensor, arrays[:k] + [v] + arrays[k + 1:])).item()
                     for s, v in ((1, up), (-1, down))}
            numeric[idx] = (value[1] - value[-1]) / (2 * h)
        close(x.grad, numeric, rtol=1e-5, atol=1e-7)
    # forward mode: J v against a central difference along v, and against <grad, v>
    v = [rand(seed + 20 + i, *a.shape) for i, a in enumerate(arrays)]
    _, d = jvp(f_mine, tuple(arrays), tuple(v))
    shifted = lambda s: f_mine(*(Tensor(a + s * h * vi) for a, vi in zip(arrays, v))).item()
    close(d, (shifted(1) - shifted(-1)) / (2 * h), rtol=1e-5, atol=1e-7)
    close(d, sum(np.sum(x.grad * vi) for x, vi in zip(xs, v)))


def test_leaf_gradients_accumulate_and_errors():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    close(x.grad, 4 * x.data)                                   # two backward calls: 2 * 2x
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        (x * 2).backward()                                      # non-scalar needs grad
    with pytest.raises(ValueError, match=r"expected grad of shape \(3,\), got shape \(2,\)"):
        (x * 2).backward(np.ones(2))
    with pytest.raises(ValueError, match=r"tangent 0 expected shape \(3,\), got shape \(2,\)"):
        jvp(lambda a: a * 2, (np.ones(3),), (np.ones(2),))
    y = np.ones(3) + x                                          # ndarray on the left
    assert isinstance(y, Tensor) and y.requires_grad


def test_float32_stays_float32_and_constants_build_no_graph():
    x = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    y = ((x * 2.0 + 1).exp() / 3).log_softmax().sum()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    c = Tensor(np.ones(3)) * 2.0
    assert not c.requires_grad and c._parents == ()
    assert jvp(lambda a: (a * a).sum(), (np.arange(3.0),), (np.ones(3),)) == (5.0, 6.0)
