"""LayerNorm against torch.nn.LayerNorm (float64, rtol 1e-9) and PositionalEncoding
against its formula written out element by element with ``math``."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import LayerNorm, PositionalEncoding

TOL = {"rtol": 1e-9, "atol": 1e-10}


@given(seed=st.integers(0, 2**31), lead=st.lists(st.integers(1, 4), max_size=3),
       D=st.integers(1, 9), eps=st.sampled_from([1e-5, 1e-3]), scale=st.sampled_from([1e-2, 1.0, 1e2]))
def test_layernorm_matches_torch(seed, lead, D, eps, scale):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((*lead, D)) + rng.standard_normal()
    d_out = rng.standard_normal((*lead, D))
    ln = LayerNorm(D, eps=eps)
    ln.W, ln.b = rng.standard_normal(D), rng.standard_normal(D)
    y = ln.forward(x)
    dx = ln.backward(d_out)

    ref = torch.nn.LayerNorm(D, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(ln.W))
        ref.bias.copy_(torch.tensor(ln.b))
    xt = torch.tensor(x, requires_grad=True)
    ref_y = ref(xt)
    ref_y.backward(torch.tensor(d_out))
    np.testing.assert_allclose(y, ref_y.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(ln.dLdW, ref.weight.grad.numpy(), **TOL)
    np.testing.assert_allclose(ln.dLdb, ref.bias.grad.numpy(), **TOL)


def test_layernorm_initial_values_and_errors():
    ln = LayerNorm((5,))
    np.testing.assert_array_equal(ln.W, np.ones(5))
    np.testing.assert_array_equal(ln.b, np.zeros(5))
    with pytest.raises(ValueError, match=r"\(\.\.\., 5\).*\(2, 4\)"):
        ln.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="last axis"):
        LayerNorm((3, 5))


@given(d_model=st.integers(1, 12), max_len=st.integers(1, 30))
def test_positional_encoding_formula(d_model, max_len):
    pe = PositionalEncoding(d_model, max_len).pe
    assert pe.shape == (max_len, d_model)
    for p in range(max_len):
        for j in range(d_model):
            angle = p / 10000 ** ((j - j % 2) / d_model)  # 2i = j for sin, j - 1 for cos
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[p, j] == pytest.approx(want, abs=1e-12)


@given(seed=st.integers(0, 2**31), N=st.integers(1, 3), T=st.integers(1, 10))
def test_positional_encoding_adds_and_passes_gradient(seed, N, T):
    rng = np.random.default_rng(seed)
    layer = PositionalEncoding(6, 10)
    x = rng.standard_normal((N, T, 6))
    y = layer.forward(x)
    np.testing.assert_allclose(y - x, np.broadcast_to(layer.pe[:T], x.shape), atol=1e-15)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_positional_encoding_errors():
    layer = PositionalEncoding(4, 8)
    with pytest.raises(ValueError, match="T=9 exceeds max_len=8"):
        layer.forward(np.ones((1, 9, 4)))
    with pytest.raises(ValueError, match=r"\(\.\.\., T, 4\).*\(1, 3, 5\)"):
        layer.forward(np.ones((1, 3, 5)))
