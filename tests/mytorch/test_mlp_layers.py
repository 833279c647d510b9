"""mytorch.nn Linear, activations, BatchNorm1d and Dropout against PyTorch (float64,
rtol 1e-9, atol 1e-11) on random shapes, batch size 1 and odd sizes included."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from mytorch import nn

from .mlp_reference import close, rand, seeds, t, torch_linear

dims = st.integers(1, 9)


# ---------------------------------------------------------------- Linear
@given(N=dims, c_in=dims, c_out=dims, seed=seeds)
@example(N=1, c_in=1, c_out=1, seed=0)
@example(N=7, c_in=3, c_out=5, seed=1)
def test_linear_matches_torch(N, c_in, c_out, seed):
    layer = nn.Linear(c_in, c_out)
    layer.W, layer.b = rand(seed, c_out, c_in), rand(seed + 1, c_out, 1)
    A, dLdZ = rand(seed + 2, N, c_in), rand(seed + 3, N, c_out)
    Z = layer.forward(A)
    dLdA = layer.backward(dLdZ)

    ref, tA = torch_linear(layer), t(A, grad=True)
    tZ = ref(tA)
    tZ.backward(t(dLdZ))
    close(Z, tZ)
    close(dLdA, tA.grad)
    close(layer.dLdW, ref.weight.grad)
    close(layer.dLdb, ref.bias.grad[:, None])
    assert layer.dLdW.shape == (c_out, c_in) and layer.dLdb.shape == (c_out, 1)


@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=3), c_in=dims, c_out=dims,
       seed=seeds)
def test_linear_nd_input_sums_gradients_over_leading_dims(lead, c_in, c_out, seed):
    layer = nn.Linear(c_in, c_out)
    layer.W, layer.b = rand(seed, c_out, c_in), rand(seed + 1, c_out, 1)
    A, dLdZ = rand(seed + 2, *lead, c_in), rand(seed + 3, *lead, c_out)
    Z = layer.forward(A)
    dLdA = layer.backward(dLdZ)
    ref, tA = torch_linear(layer), t(A, grad=True)
    tZ = ref(tA)
    tZ.backward(t(dLdZ))
    assert Z.shape == (*lead, c_out)
    close(Z, tZ)
    close(dLdA, tA.grad)
    close(layer.dLdW, ref.weight.grad)
    close(layer.dLdb, ref.bias.grad[:, None])


def test_linear_starts_at_zero_and_backward_overwrites():
    layer = nn.Linear(3, 2)
    assert not layer.W.any() and not layer.b.any()
    assert layer.W.shape == (2, 3) and layer.b.shape == (2, 1)
    layer.W = rand(0, 2, 3)
    A = rand(1, 4, 3)
    layer.forward(A)
    layer.backward(np.ones((4, 2)))
    first = layer.dLdW.copy()
    layer.forward(A)
    layer.backward(np.ones((4, 2)))
    close(layer.dLdW, first)                              # overwritten, not accumulated


def test_float32_in_float32_out_else_float64():
    layer = nn.Linear(3, 2, dtype=np.float32)
    assert layer.forward(np.ones((2, 3), np.float32)).dtype == np.float32
    assert nn.Linear(3, 2).forward(np.ones((2, 3), np.float32)).dtype == np.float64
    assert nn.Linear(3, 2).forward(np.ones((2, 3), np.int64)).dtype == np.float64
    for act in (nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.GELU(), nn.Swish(), nn.Softmax()):
        assert act.forward(np.ones((2, 3), np.float32)).dtype == np.float32, act
        assert act.backward(np.ones((2, 3), np.float32)).dtype == np.float32, act
        assert act.forward(np.ones((2, 3), np.int32)).dtype == np.float64, act


# ---------------------------------------------------------------- activations
ELEMENTWISE = {
    "Identity": (nn.Identity, lambda z: z * 1),
    "Sigmoid": (nn.Sigmoid, torch.sigmoid),
    "Tanh": (nn.Tanh, torch.tanh),
    "ReLU": (nn.ReLU, torch.relu),
    "GELU": (nn.GELU, lambda z: F.gelu(z, approximate="none")),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), scale=st.sampled_from([1, 30]),
       seed=seeds)
@example(shape=[1, 1], scale=1, seed=0)
def test_elementwise_activation_matches_torch(name, shape, scale, seed):
    make, ref = ELEMENTWISE[name]
    Z = rand(seed, *shape, scale=scale)
    Z.flat[0] = 0.0                                       # derivative at a kink: torch uses 0
    dLdA = rand(seed + 1, *shape)
    act = make()
    A = act.forward(Z)
    dLdZ = act.backward(dLdA)
    tZ = t(Z, grad=True)
    tA = ref(tZ)
    tA.backward(t(dLdA))
    assert np.isfinite(A).all() and np.isfinite(dLdZ).all()
    close(A, tA)
    close(dLdZ, tZ.grad)


@given(beta=st.floats(-2.0, 3.0), N=dims, C=dims, seed=seeds)
@example(beta=1.0, N=1, C=1, seed=0)
def test_swish_matches_torch_including_dLdbeta(beta, N, C, seed):
    Z, dLdA = rand(seed, N, C, scale=3), rand(seed + 1, N, C)
    act = nn.Swish(beta)
    A = act.forward(Z)
    dLdZ = act.backward(dLdA)
    tZ, tbeta = t(Z, grad=True), t(beta, grad=True)
    tA = tZ * torch.sigmoid(tbeta * tZ)
    tA.backward(t(dLdA))
    close(A, tA)
    close(dLdZ, tZ.grad)
    close(act.dLdbeta, tbeta.grad)
    assert np.ndim(act.dLdbeta) == 0


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(), seed=seeds)
def test_softmax_any_axis_matches_torch(shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    Z, dLdA = rand(seed, *shape, scale=10), rand(seed + 1, *shape)
    act = nn.Softmax(dim=dim)
    A = act.forward(Z)
    dLdZ = act.backward(dLdA)
    tZ = t(Z, grad=True)
    tA = torch.softmax(tZ, dim=dim)
    tA.backward(t(dLdA))
    close(A, tA)
    close(dLdZ, tZ.grad)


@given(N=dims, C=dims, seed=seeds)
def test_softmax_backward_equals_per_row_full_jacobian(N, C, seed):
    """The course's formulation: for each row, dLdZ_i = J_i^T dLdA_i with J = diag(a) - a a^T."""
    Z, dLdA = rand(seed, N, C), rand(seed + 1, N, C)
    act = nn.Softmax()
    act.forward(Z)
    loop = np.stack([act.jacobian(i).T @ dLdA[i] for i in range(N)])
    close(act.backward(dLdA), loop, rtol=1e-12, atol=1e-14)


def test_softmax_huge_logits_are_stable():
    A = nn.Softmax().forward(np.array([[1000.0, 0.0, -1000.0]]))
    close(A, [[1.0, 0.0, 0.0]])


# ---------------------------------------------------------------- BatchNorm1d
def _torch_bn(bn, alpha):
    ref = torch.nn.BatchNorm1d(bn.num_features, eps=1e-8, momentum=1 - alpha).double()
    with torch.no_grad():
        ref.weight.copy_(t(bn.BW[0]))
        ref.bias.copy_(t(bn.Bb[0]))
    return ref


@given(N=st.integers(2, 9), C=dims, alpha=st.floats(0.0, 0.99), steps=st.integers(1, 4),
       seed=seeds)
@example(N=3, C=5, alpha=0.9, steps=3, seed=0)
def test_batchnorm_train_steps_then_eval_match_torch(N, C, alpha, steps, seed):
    bn = nn.BatchNorm1d(C, alpha=alpha)
    bn.BW, bn.Bb = rand(seed, 1, C), rand(seed + 1, 1, C)
    ref = _torch_bn(bn, alpha)
    running_V = np.ones((1, C))
    for s in range(steps):
        Z, dLdBZ = rand(seed + 2 + s, N, C, scale=2) + s, rand(seed + 50 + s, N, C)
        BZ = bn.forward(Z)
        dLdZ = bn.backward(dLdBZ)
        ref.weight.grad = ref.bias.grad = None
        tZ = t(Z, grad=True)
        tBZ = ref(tZ)
        tBZ.backward(t(dLdBZ))
        close(BZ, tBZ)
        close(dLdZ, tZ.grad)
        close(bn.dLdBW, ref.weight.grad[None])
        close(bn.dLdBb, ref.bias.grad[None])
        close(bn.running_M, ref.running_mean[None])
        # the course keeps the biased batch variance (torch's running_var uses the unbiased one)
        running_V = alpha * running_V + (1 - alpha) * Z.var(axis=0, keepdims=True)
        close(bn.running_V, running_V)
    Z = rand(seed + 99, N, C)
    expected = F.batch_norm(t(Z), t(bn.running_M[0]), t(bn.running_V[0]), t(bn.BW[0]),
                            t(bn.Bb[0]), training=False, eps=1e-8)
    close(bn.forward(Z, eval=True), expected)


@given(C=dims, seed=seeds)
def test_batchnorm_batch_of_one_matches_formula_autograd(C, seed):
    """torch.nn.BatchNorm1d refuses N=1 in training; compare with autograd of the formula."""
    bn = nn.BatchNorm1d(C)
    bn.BW, bn.Bb = rand(seed, 1, C), rand(seed + 1, 1, C)
    Z, dLdBZ = rand(seed + 2, 1, C), rand(seed + 3, 1, C)
    BZ = bn.forward(Z)
    dLdZ = bn.backward(dLdBZ)
    tZ, tW, tb = t(Z, grad=True), t(bn.BW, grad=True), t(bn.Bb, grad=True)
    mean, var = tZ.mean(0, keepdim=True), tZ.var(0, unbiased=False, keepdim=True)
    tBZ = tW * (tZ - mean) / torch.sqrt(var + 1e-8) + tb
    tBZ.backward(t(dLdBZ))
    close(BZ, tBZ)
    close(dLdZ, tZ.grad)
    close(bn.dLdBW, tW.grad)
    close(bn.dLdBb, tb.grad)


def test_batchnorm_initial_values():
    bn = nn.BatchNorm1d(4)
    assert (bn.BW == 1).all() and (bn.Bb == 0).all() and bn.BW.shape == (1, 4)
    assert (bn.running_M == 0).all() and (bn.running_V == 1).all() and bn.eps == 1e-8
    with pytest.raises(RuntimeError, match="training-mode forward"):
        bn.backward(np.ones((2, 4)))
    bn.forward(np.ones((2, 4)), eval=True)
    with pytest.raises(RuntimeError, match="training-mode forward"):
        bn.backward(np.ones((2, 4)))


# ---------------------------------------------------------------- Dropout
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9])
def test_dropout_scaling_rate_and_backward(p):
    x = rand(0, 400, 50) + 5.0                             # no exact zeros
    drop = nn.Dropout(p, rng=np.random.default_rng(1))
    y = drop.forward(x)
    kept = y != 0
    # kept values are scaled by 1/(1-p), exactly as torch's inverted dropout
    ty = F.dropout(t(x), p=p, training=True).numpy()
    torch_scale = ty[ty != 0] / x[ty != 0]
    close(y[kept] / x[kept], np.full(kept.sum(), torch_scale[0]))
    close(torch_scale, 1 / (1 - p))
    # the kept fraction is binomial(n, 1-p): within 5 standard deviations
    n = x.size
    assert abs(kept.sum() - n * (1 - p)) <= 5 * np.sqrt(n * p * (1 - p)) + 1e-9
    # backward: autograd of the realised masked map gives torch's gradient; the course's
    # reference backward is delta * mask, i.e. torch's times (1 - p); scale_backward=True
    # gives torch's exactly
    delta = rand(2, 400, 50)
    tx = t(x, grad=True)
    (tx * t(drop.mask) / (1 - p)).backward(t(delta))
    close(drop.backward(delta), tx.grad * (1 - p))
    close(drop.backward(delta), delta * drop.mask)
    close(drop.backward(delta)[~kept], 0.0)
    drop.scale_backward = True
    close(drop.backward(delta), tx.grad)


def test_dropout_eval_is_identity_and_global_seed_reproduces():
    x = rand(0, 5, 6)
    drop = nn.Dropout(0.5)
    close(drop.forward(x, train=False), x)
    close(drop.backward(x), x)
    np.random.seed(3)
    a = drop.forward(x)
    np.random.seed(3)
    close(drop.forward(x), a)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, expected, received", [
    (lambda: nn.Linear(4, 2).forward(np.zeros((3, 5))), "4", "(3, 5)"),
    (lambda: _fwd(nn.Linear(4, 2), (3, 4)).backward(np.zeros((3, 3))), "(3, 2)", "(3, 3)"),
    (lambda: _fwd(nn.ReLU(), (3, 4)).backward(np.zeros((4, 3))), "(3, 4)", "(4, 3)"),
    (lambda: _fwd(nn.Softmax(), (3, 4)).backward(np.zeros((3,))), "(3, 4)", "(3,)"),
    (lambda: nn.BatchNorm1d(4).forward(np.zeros((3, 5))), "(N, 4)", "(3, 5)"),
    (lambda: _fwd(nn.BatchNorm1d(4), (3, 4)).backward(np.zeros((2, 4))), "(3, 4)", "(2, 4)"),
    (lambda: _fwd(nn.Dropout(0.5), (3, 4)).backward(np.zeros((3, 5))), "(3, 4)", "(3, 5)"),
])
def test_shape_errors_name_expected_and_received(call, expected, received):
    with pytest.raises(ValueError) as err:
        call()
    assert "expected" in str(err.value) and expected in str(err.value)
    assert received in str(err.value)


def _fwd(layer, shape):
    layer.forward(np.ones(shape))
    return layer
