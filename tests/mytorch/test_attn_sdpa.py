"""ScaledDotProductAttention and the mask helpers against torch (float64).

torch's SDPA takes a boolean ``attn_mask`` with True = may attend; mytorch's mask says
True = may NOT attend, so torch gets ``~mask``. Tolerances: rtol 1e-9, atol 1e-10.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import ScaledDotProductAttention, causal_mask, padding_mask

TOL = {"rtol": 1e-9, "atol": 1e-10}


def random_mask(rng, shape):
    """Random boolean mask (True = masked) with at least one allowed key in every row."""
    mask = rng.random(shape) < 0.4
    keep = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(mask, keep[..., None], False, axis=-1)
    return mask


def torch_sdpa(Q, K, V, mask, d_out):
    """Forward and backward of torch's SDPA; returns (out, dQ, dK, dV) as arrays."""
    q, k, v = (torch.tensor(a, requires_grad=True) for a in (Q, K, V))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None
                                         else torch.tensor(~mask))
    out.backward(torch.tensor(d_out))
    return out.detach().numpy(), q.grad.numpy(), k.grad.numpy(), v.grad.numpy()


@given(seed=st.integers(0, 2**31), lead=st.lists(st.integers(1, 3), max_size=2),
       L=st.integers(1, 6), S=st.integers(1, 6), E=st.integers(1, 8), Ev=st.integers(1, 5),
       masked=st.booleans())
def test_sdpa_matches_torch(seed, lead, L, S, E, Ev, masked):
    rng = np.random.default_rng(seed)
    Q, K, V = (rng.standard_normal((*lead, n, d)) for n, d in ((L, E), (S, E), (S, Ev)))
    mask = random_mask(rng, (*lead, L, S)) if masked else None
    d_out = rng.standard_normal((*lead, L, Ev))
    attn = ScaledDotProductAttention()
    out = attn.forward(Q, K, V, mask)
    grads = attn.backward(d_out)
    expected = torch_sdpa(Q, K, V, mask, d_out)
    for got, want in zip((out, *grads), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(attn.attention_weights.sum(-1), 1.0, **TOL)


@given(seed=st.integers(0, 2**31))
def test_sdpa_broadcasts_leading_axes_and_mask(seed):
    """K, V shared across a broadcast axis and a (L, S) mask for every batch: gradients sum."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((2, 3, 4, 5))
    K, V = rng.standard_normal((1, 3, 6, 5)), rng.standard_normal((1, 3, 6, 2))
    mask = random_mask(rng, (4, 6))
    d_out = rng.standard_normal((2, 3, 4, 2))
    attn = ScaledDotProductAttention()
    out = attn.forward(Q, K, V, mask)
    dQ, dK, dV = attn.backward(d_out)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in (Q, K, V))
    ref = F.scaled_dot_product_attention(q, k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1),
                                         attn_mask=torch.tensor(~mask))
    ref.backward(torch.tensor(d_out))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    assert dK.shape == K.shape and dV.shape == V.shape
    for got, t in ((dQ, q), (dK, k), (dV, v)):
        np.testing.assert_allclose(got, t.grad.numpy(), **TOL)


def test_fully_masked_row_is_finite_and_uniform():
    """Every key masked for query 1: uniform weights (the mean of V), finite gradients, and
    the other rows still equal torch's."""
    rng = np.random.default_rng(0)
    Q, K, V = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    mask = random_mask(rng, (3, 5))
    mask[1] = True
    attn = ScaledDotProductAttention()
    out = attn.forward(Q, K, V, mask)
    d_out = rng.standard_normal((3, 2))
    dQ, dK, dV = attn.backward(d_out)
    assert all(np.isfinite(a).all() for a in (out, dQ, dK, dV))
    np.testing.assert_allclose(attn.attention_weights[1], np.full(5, 0.2), **TOL)
    np.testing.assert_allclose(out[1], V.mean(axis=0), **TOL)
    np.testing.assert_allclose(dQ[1], 0.0, atol=1e-12)  # constant scores: no gradient to Q
    ref_out, ref_dQ, _, _ = torch_sdpa(Q, K, V, mask, d_out)
    np.testing.assert_allclose(out[[0, 2]], ref_out[[0, 2]], **TOL)
    np.testing.assert_allclose(dQ[[0, 2]], ref_dQ[[0, 2]], **TOL)


def test_mask_true_means_not_attend():
    """A query that may see only key 2 copies V[2] exactly."""
    V = np.arange(12.0).reshape(4, 3)
    mask = np.array([[True, True, False, True]])
    out = ScaledDotProductAttention().forward(np.ones((1, 2)), np.ones((4, 2)), V, mask)
    np.testing.assert_array_equal(out, V[[2]])


def test_causal_mask_values():
    np.testing.assert_array_equal(causal_mask(3), [[False, True, True],
                                                   [False, False, True],
                                                   [False, False, False]])
    assert causal_mask(5).dtype == bool


@given(lengths=st.lists(st.integers(0, 7), min_size=1, max_size=5))
def test_padding_mask_values(lengths):
    mask = padding_mask(np.array(lengths), 7)
    assert mask.shape == (len(lengths), 7) and mask.dtype == bool
    for n, length in enumerate(lengths):
        assert list(mask[n]) == [j >= length for j in range(7)]


def test_shape_errors_name_sizes():
    attn = ScaledDotProductAttention()
    with pytest.raises(ValueError, match=r"E=4 .*received 3"):
        attn.forward(np.ones((2, 4)), np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"S=5 .*received 6"):
        attn.forward(np.ones((2, 4)), np.ones((5, 4)), np.ones((6, 2)))
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(2, 4\)"):
        attn.forward(np.ones((2, 4)), np.ones((5, 4)), np.ones((5, 2)), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="boolean"):
        attn.forward(np.ones((2, 4)), np.ones((5, 4)), np.ones((5, 2)), np.zeros((2, 5)))
    attn.forward(np.ones((2, 4)), np.ones((5, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 3\)"):
        attn.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"S=4.*max 5"):
        padding_mask([5, 2], 4)
