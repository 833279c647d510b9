"""MultiHeadAttention against torch.nn.MultiheadAttention(batch_first=True), float64.

Weights are copied: torch packs Wq, Wk, Wv into ``in_proj_weight`` (3E, E) and their biases
into ``in_proj_bias``. Both use True = may not attend in ``key_padding_mask``/``attn_mask``.
Masks are drawn so that no query row is fully masked (torch returns NaN there).
Tolerances: rtol 1e-9, atol 1e-10.
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import MultiHeadAttention, causal_mask, padding_mask

TOL = {"rtol": 1e-9, "atol": 1e-10}


def copy_weights(ours, ref):
    """Copy the eight arrays of a mytorch MHA into a torch ``nn.MultiheadAttention``."""
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.tensor(np.concatenate([ours.Wq, ours.Wk, ours.Wv])))
        ref.in_proj_bias.copy_(torch.tensor(np.concatenate([ours.bq, ours.bk, ours.bv])))
        ref.out_proj.weight.copy_(torch.tensor(ours.Wo))
        ref.out_proj.bias.copy_(torch.tensor(ours.bo))


def make_pair(E, H, rng):
    """A mytorch MHA with random weights and biases, and a torch MHA holding the same."""
    ours = MultiHeadAttention(E, H, rng=rng)
    ours.init_weights(*[rng.standard_normal((E, E)) / np.sqrt(E) if i % 2 == 0
                        else rng.standard_normal(E) for i in range(8)])
    ref = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    copy_weights(ours, ref)
    return ours, ref


def torch_param_grads(ref, E):
    """The eight gradients of a torch MHA in mytorch's order (dWq, dbq, ..., dWo, dbo)."""
    W, b = ref.in_proj_weight.grad, ref.in_proj_bias.grad
    grads = []
    for i in range(3):
        grads += [W[i * E:(i + 1) * E], b[i * E:(i + 1) * E]]
    grads += [ref.out_proj.weight.grad, ref.out_proj.bias.grad]
    return [g.numpy() for g in grads]


def check_params(ours, ref, E):
    for name, want in zip(MultiHeadAttention.PARAMS, torch_param_grads(ref, E)):
        got = getattr(ours, "d" + name)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=name, **TOL)


dims = st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 2), (8, 4)])  # (embed_dim, num_heads)


@given(seed=st.integers(0, 2**31), dims=dims, N=st.integers(1, 3), L=st.integers(1, 6),
       padded=st.booleans(), causal=st.booleans())
def test_self_attention_matches_torch(seed, dims, N, L, padded, causal):
    E, H = dims
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(E, H, rng)
    x = rng.standard_normal((N, L, E))
    d_out = rng.standard_normal((N, L, E))
    kpm = padding_mask(rng.integers(1, L + 1, size=N), L) if padded else None
    am = causal_mask(L) if causal else None

    out = ours.forward(x, x, x, key_padding_mask=kpm, attn_mask=am)
    dq, dk, dv = ours.backward(d_out)

    xt = torch.tensor(x, requires_grad=True)
    ref_out, ref_w = ref(xt, xt, xt, key_padding_mask=None if kpm is None else torch.tensor(kpm),
                         attn_mask=None if am is None else torch.tensor(am),
                         need_weights=True, average_attn_weights=False)
    ref_out.backward(torch.tensor(d_out))
    np.testing.assert_allclose(out, ref_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(ours.attention_weights, ref_w.detach().numpy(), **TOL)
    np.testing.assert_allclose(dq + dk + dv, xt.grad.numpy(), **TOL)  # x feeds all three
    check_params(ours, ref, E)


@given(seed=st.integers(0, 2**31), dims=dims, N=st.integers(1, 3), L=st.integers(1, 5),
       S=st.integers(1, 6), padded=st.booleans(), with_attn_mask=st.booleans())
def test_cross_attention_matches_torch(seed, dims, N, L, S, padded, with_attn_mask):
    E, H = dims
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(E, H, rng)
    query, key, value = (rng.standard_normal((N, T, E)) for T in (L, S, S))
    d_out = rng.standard_normal((N, L, E))
    kpm = padding_mask(rng.integers(1, S + 1, size=N), S) if padded else None
    am = None
    if with_attn_mask:  # random, but key 0 always allowed (padding lengths are >= 1 too)
        am = rng.random((L, S)) < 0.5
        am[:, 0] = False

    out = ours.forward(query, key, value, key_padding_mask=kpm, attn_mask=am)
    grads = ours.backward(d_out)

    q, k, v = (torch.tensor(a, requires_grad=True) for a in (query, key, value))
    ref_out, _ = ref(q, k, v, key_padding_mask=None if kpm is None else torch.tensor(kpm),
                     attn_mask=None if am is None else torch.tensor(am))
    ref_out.backward(torch.tensor(d_out))
    np.testing.assert_allclose(out, ref_out.detach().numpy(), **TOL)
    for got, t in zip(grads, (q, k, v)):
        np.testing.assert_allclose(got, t.grad.numpy(), **TOL)
    check_params(ours, ref, E)


def test_backward_sets_not_accumulates():
    rng = np.random.default_rng(1)
    mha = MultiHeadAttention(4, 2, rng=rng)
    x, d_out = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    mha.forward(x, x, x)
    mha.backward(d_out)
    first = [getattr(mha, g).copy() for _, g in mha.param_grads]
    mha.forward(x, x, x)
    mha.backward(d_out)
    for a, (_, g) in zip(first, mha.param_grads):
        np.testing.assert_array_equal(a, getattr(mha, g))


def test_default_init_is_torch_xavier_range():
    """Weights start in torch's Xavier-uniform range +-sqrt(6 / 2E) (not all zeros), biases 0."""
    mha = MultiHeadAttention(16, 4, rng=0)
    bound = np.sqrt(6 / 32)
    for name in ("Wq", "Wk", "Wv", "Wo"):
        W = getattr(mha, name)
        assert np.abs(W).max() <= bound and W.std() > bound / 3
    for name in ("bq", "bk", "bv", "bo"):
        np.testing.assert_array_equal(getattr(mha, name), 0.0)


def test_shape_errors_name_sizes():
    mha = MultiHeadAttention(4, 2)
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match=r"\(N, T, 4\).*\(2, 3, 5\)"):
        mha.forward(x, np.ones((2, 3, 5)), x)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        mha.forward(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 2\)"):
        mha.forward(x, x, x, attn_mask=np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match=r"Wo must have shape \(4, 4\), received \(4, 3\)"):
        mha.init_weights(*[np.zeros((4, 4)), np.zeros(4)] * 3, np.zeros((4, 3)), np.zeros(4))
