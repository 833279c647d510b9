"""mytorch CNN layers against torch.nn.functional, forward and backward, float64.

Every test draws random shapes (hypothesis) and random data, runs the mytorch layer and the
torch reference on the same input, weights and upstream gradient dLdZ, and compares Z,
dLdA, dLdW and dLdb. Tolerance: rtol 1e-9, atol 1e-10 (float64 sums of at most a few
hundred products).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mytorch import nn

TOL = {"rtol": 1e-9, "atol": 1e-10}


def t64(x, grad=False):
    return torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=grad)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected.detach().numpy(), **TOL)


@st.composite
def conv_case(draw, ndim):
    """Random sizes for a convolution whose padded input is at least the kernel."""
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    spatial = tuple(draw(st.integers(max(1, k - 2 * pad), k + 7)) for _ in range(ndim))
    return {"N": draw(st.integers(1, 3)), "C_in": draw(st.integers(1, 4)),
            "C_out": draw(st.integers(1, 4)), "k": k, "stride": stride, "pad": pad,
            "spatial": spatial, "seed": draw(st.integers(0, 2**32 - 1))}


def init_fns(rng):
    return (lambda *shape: rng.standard_normal(shape)), (lambda n: rng.standard_normal(n))


def run_layer(layer, A, rng):
    """forward A, backward a random dLdZ; returns (Z, dLdZ, dLdA)."""
    Z = layer.forward(A)
    dLdZ = rng.standard_normal(Z.shape)
    return Z, dLdZ, layer.backward(dLdZ)


def torch_grads(fn, A, *params):
    """Z = fn(A, *params) in torch; returns (Z, closure that backpropagates dLdZ)."""
    tensors = [t64(x, grad=True) for x in (A, *params)]
    Z = fn(*tensors)

    def backward(dLdZ):
        Z.backward(t64(dLdZ))
        return [t.grad for t in tensors]
    return Z, backward


@pytest.mark.parametrize("ndim", [1, 2])
@given(data=st.data())
def test_conv_matches_torch(ndim, data):
    c = data.draw(conv_case(ndim))
    rng = np.random.default_rng(c["seed"])
    w_init, b_init = init_fns(rng)
    cls = nn.Conv1d if ndim == 1 else nn.Conv2d
    layer = cls(c["C_in"], c["C_out"], c["k"], stride=c["stride"], padding=c["pad"],
                weight_init_fn=w_init, bias_init_fn=b_init)
    stride1 = layer.conv1d_stride1 if ndim == 1 else layer.conv2d_stride1
    A = rng.standard_normal((c["N"], c["C_in"], *c["spatial"]))
    Z, dLdZ, dLdA = run_layer(layer, A, rng)

    conv = F.conv1d if ndim == 1 else F.conv2d
    Zt, back = torch_grads(lambda a, w, b: conv(a, w, b, stride=c["stride"], padding=c["pad"]),
                           A, stride1.W, stride1.b)
    assert Z.shape == tuple(Zt.shape)
    close(Z, Zt)
    gA, gW, gb = back(dLdZ)
    close(dLdA, gA)
    close(stride1.dLdW, gW)
    close(stride1.dLdb, gb)


@pytest.mark.parametrize("cls,conv", [(nn.Conv1d_stride1, F.conv1d), (nn.Conv2d_stride1, F.conv2d)])
@given(data=st.data())
def test_conv_stride1_matches_torch(cls, conv, data):
    c = data.draw(conv_case(cls.ndim))
    rng = np.random.default_rng(c["seed"])
    layer = cls(c["C_in"], c["C_out"], c["k"], *init_fns(rng))
    spatial = tuple(s + c["k"] - 1 for s in c["spatial"])         # at least the kernel
    A = rng.standard_normal((c["N"], c["C_in"], *spatial))
    Z, dLdZ, dLdA = run_layer(layer, A, rng)
    Zt, back = torch_grads(conv, A, layer.W, layer.b)
    close(Z, Zt)
    for mine, ref in zip((dLdA, layer.dLdW, layer.dLdb), back(dLdZ)):
        close(mine, ref)


def zero_upsample(A, factor, ndim):
    """Reference upsampling in torch: scatter A onto every factor-th position of zeros."""
    shape = (*A.shape[:2], *(factor * (n - 1) + 1 for n in A.shape[2:]))
    out = A.new_zeros(shape)
    out[(Ellipsis,) + (slice(None, None, factor),) * ndim] = A
    return out


@pytest.mark.parametrize("ndim", [1, 2])
@given(data=st.data())
def test_conv_transpose_matches_conv_of_upsampled_input(ndim, data):
    c = data.draw(conv_case(ndim))
    factor = c["stride"]
    rng = np.random.default_rng(c["seed"])
    cls = nn.ConvTranspose1d if ndim == 1 else nn.ConvTranspose2d
    layer = cls(c["C_in"], c["C_out"], c["k"], factor, *init_fns(rng))
    conv_part = layer.conv1d_stride1 if ndim == 1 else layer.conv2d_stride1
    # the upsampled input must be at least the kernel: factor * (n - 1) + 1 >= k
    spatial = tuple(max(n, -(-(c["k"] - 1) // factor) + 1) for n in c["spatial"])
    A = rng.standard_normal((c["N"], c["C_in"], *spatial))
    Z, dLdZ, dLdA = run_layer(layer, A, rng)

    conv = F.conv1d if ndim == 1 else F.conv2d
    Zt, back = torch_grads(lambda a, w, b: conv(zero_upsample(a, factor, ndim), w, b),
                           A, conv_part.W, conv_part.b)
    close(Z, Zt)
    for mine, ref in zip((dLdA, conv_part.dLdW, conv_part.dLdb), back(dLdZ)):
        close(mine, ref)
    # the same layer is torch's conv_transpose with a flipped, transposed weight, padding k-1
    conv_t = F.conv_transpose1d if ndim == 1 else F.conv_transpose2d
    W_t = t64(conv_part.W).flip(list(range(2, 2 + ndim))).transpose(0, 1)
    close(Z, conv_t(t64(A), W_t, t64(conv_part.b), stride=factor, padding=c["k"] - 1))


@pytest.mark.parametrize("ndim", [1, 2])
@given(data=st.data())
def test_resampling_matches_torch(ndim, data):
    """Upsampling is a depthwise conv_transpose with a 1x1 kernel of ones and stride k;
    downsampling is average pooling with a 1x1 kernel and stride k."""
    factor = data.draw(st.integers(1, 4))
    spatial = data.draw(st.tuples(*[st.integers(1, 9)] * ndim))
    N, C = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    A = rng.standard_normal((N, C, *spatial))
    up = (nn.Upsample1d if ndim == 1 else nn.Upsample2d)(factor)
    down = (nn.Downsample1d if ndim == 1 else nn.Downsample2d)(factor)
    ones = torch.ones((C, 1) + (1,) * ndim, dtype=torch.float64)
    conv_t = F.conv_transpose1d if ndim == 1 else F.conv_transpose2d
    pool = F.avg_pool1d if ndim == 1 else F.avg_pool2d
    for layer, ref in ((up, lambda a: conv_t(a, ones, stride=factor, groups=C)),
                       (down, lambda a: pool(a, 1, factor))):
        Z, dLdZ, dLdA = run_layer(layer, A, rng)
        Zt, back = torch_grads(ref, A)
        assert Z.shape == tuple(Zt.shape)
        close(Z, Zt)
        close(dLdA, back(dLdZ)[0])


@pytest.mark.parametrize("kind", ["max", "mean"])
@given(data=st.data())
def test_pooling_matches_torch(kind, data):
    k = data.draw(st.integers(1, 4))
    stride = data.draw(st.integers(1, 3))
    H, W = data.draw(st.integers(k, k + 7)), data.draw(st.integers(k, k + 7))
    N, C = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    A = rng.standard_normal((N, C, H, W))                          # continuous: no ties
    if kind == "max":
        layers, ref = (nn.MaxPool2d_stride1(k), nn.MaxPool2d(k, stride)), F.max_pool2d
    else:
        layers, ref = (nn.MeanPool2d_stride1(k), nn.MeanPool2d(k, stride)), F.avg_pool2d
    for layer, s in zip(layers, (1, stride)):
        Z, dLdZ, dLdA = run_layer(layer, A, rng)
        Zt, back = torch_grads(lambda a, s=s: ref(a, k, s), A)
        close(Z, Zt)
        close(dLdA, back(dLdZ)[0])


def test_flatten_matches_torch():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 4, 5, 2))
    layer = nn.Flatten()
    Z, dLdZ, dLdA = run_layer(layer, A, rng)
    Zt, back = torch_grads(torch.nn.Flatten(), A)
    close(Z, Zt)
    close(dLdA, back(dLdZ)[0])


def test_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(1)
    f32 = np.float32
    layer = nn.Conv2d(3, 5, 3, stride=2, padding=1,
                      weight_init_fn=lambda *s: rng.standard_normal(s).astype(f32),
                      bias_init_fn=lambda n: rng.standard_normal(n).astype(f32))
    A = rng.standard_normal((2, 3, 9, 8)).astype(f32)
    Z = layer.forward(A)
    dLdA = layer.backward(np.ones_like(Z))
    assert Z.dtype == dLdA.dtype == layer.conv2d_stride1.dLdW.dtype == f32
    Zt = F.conv2d(torch.from_numpy(A), torch.from_numpy(layer.conv2d_stride1.W),
                  torch.from_numpy(layer.conv2d_stride1.b), stride=2, padding=1)
    np.testing.assert_allclose(Z, Zt.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layer,shape,expected,received", [
    (nn.Conv1d(3, 4, 2), (2, 5, 7), "(*, 3, *)", "(2, 5, 7)"),
    (nn.Conv1d_stride1(3, 4, 2), (2, 3), "(*, 3, *)", "(2, 3)"),
    (nn.Conv2d(3, 4, 3, stride=2), (2, 2, 9, 9), "(*, 3, *, *)", "(2, 2, 9, 9)"),
    (nn.Conv2d_stride1(1, 4, 5), (2, 1, 9, 4), "kernel_size 5", "(2, 1, 9, 4)"),
    (nn.ConvTranspose1d(6, 4, 2, 2), (1, 3, 5), "(*, 6, *)", "(1, 3, 9)"),
    (nn.ConvTranspose2d(6, 4, 2, 2), (1, 3, 5, 5), "(*, 6, *, *)", "(1, 3, 9, 9)"),
    (nn.MaxPool2d(3, 1), (1, 1, 2, 8), "kernel 3", "(1, 1, 2, 8)"),
    (nn.MeanPool2d_stride1(2), (4, 4), "(*, *, *, *)", "(4, 4)"),
])
def test_wrong_input_shape_names_expected_and_received(layer, shape, expected, received):
    with pytest.raises(ValueError) as err:
        layer.forward(np.zeros(shape))
    assert expected in str(err.value) and received in str(err.value)


@pytest.mark.parametrize("layer,A_shape", [
    (nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 2, 8)),
    (nn.Conv2d_stride1(2, 3, 2), (2, 2, 5, 5)),
    (nn.MaxPool2d(2, 2), (1, 2, 6, 6)),
    (nn.Upsample1d(3), (1, 2, 4)),
    (nn.Downsample2d(2), (1, 2, 5, 5)),
    (nn.Flatten(), (2, 3, 4)),
])
def test_wrong_gradient_shape_names_expected_and_received(layer, A_shape):
    Z = layer.forward(np.ones(A_shape))
    bad = Z.shape[:-1] + (Z.shape[-1] + 1,)
    with pytest.raises(ValueError) as err:
        layer.backward(np.ones(bad))
    assert str(bad) in str(err.value) and str(Z.shape) in str(err.value)
