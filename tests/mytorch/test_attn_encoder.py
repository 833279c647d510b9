"""TransformerEncoderLayer against torch.nn.TransformerEncoderLayer(norm_first=True,
dropout=0, activation="relu", batch_first=True) holding the same weights (float64,
rtol 1e-9, atol 1e-10): output, input gradient and the gradients of all sublayers."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.models import TransformerEncoderLayer
from mytorch.nn import LayerNorm, Linear, MultiHeadAttention, causal_mask, padding_mask
from mytorch.optim import Adam
from mytorch.serialization import named_parameters

from .test_attn_mha import TOL, check_params, copy_weights


def torch_copy(layer):
    """torch's pre-norm encoder layer with the weights of the mytorch ``layer``."""
    attn = layer.self_attn
    ref = torch.nn.TransformerEncoderLayer(
        layer.d_model, attn.num_heads, layer.linear1.out_features, dropout=0.0,
        activation="relu", batch_first=True, norm_first=True, dtype=torch.float64)
    copy_weights(attn, ref.self_attn)
    with torch.no_grad():
        for name in ("linear1", "linear2"):
            getattr(ref, name).weight.copy_(torch.tensor(getattr(layer, name).W))
            getattr(ref, name).bias.copy_(torch.tensor(getattr(layer, name).b[:, 0]))
        for name in ("norm1", "norm2"):
            getattr(ref, name).weight.copy_(torch.tensor(getattr(layer, name).W))
            getattr(ref, name).bias.copy_(torch.tensor(getattr(layer, name).b))
    return ref


@given(seed=st.integers(0, 2**31), dims=st.sampled_from([(4, 1), (4, 2), (8, 4), (6, 3)]),
       d_ff=st.integers(1, 12), N=st.integers(1, 3), T=st.integers(1, 6),
       padded=st.booleans(), causal=st.booleans())
def test_encoder_layer_matches_torch(seed, dims, d_ff, N, T, padded, causal):
    d_model, H = dims
    rng = np.random.default_rng(seed)
    layer = TransformerEncoderLayer(d_model, H, d_ff, rng=rng)
    for norm in (layer.norm1, layer.norm2):  # away from ones/zeros so that they are tested
        norm.W, norm.b = 1 + 0.3 * rng.standard_normal(d_model), 0.3 * rng.standard_normal(d_model)
    ref = torch_copy(layer)
    x, dy = rng.standard_normal((N, T, d_model)), rng.standard_normal((N, T, d_model))
    kpm = padding_mask(rng.integers(1, T + 1, size=N), T) if padded else None
    am = causal_mask(T) if causal else None

    y = layer.forward(x, key_padding_mask=kpm, attn_mask=am)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    ref_y = ref(xt, src_key_padding_mask=None if kpm is None else torch.tensor(kpm),
                src_mask=None if am is None else torch.tensor(am))
    ref_y.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ref_y.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)

    check_params(layer.self_attn, ref.self_attn, d_model)
    for name in ("linear1", "linear2", "norm1", "norm2"):
        ours, theirs = getattr(layer, name), getattr(ref, name)
        np.testing.assert_allclose(ours.dLdW, theirs.weight.grad.numpy(), **TOL)
        np.testing.assert_allclose(ours.dLdb.reshape(-1), theirs.bias.grad.numpy(), **TOL)


def test_built_from_the_mytorch_layers():
    layer = TransformerEncoderLayer(8, 2, 16, rng=0)
    assert isinstance(layer.norm1, LayerNorm) and isinstance(layer.norm2, LayerNorm)
    assert isinstance(layer.self_attn, MultiHeadAttention)
    assert isinstance(layer.linear1, Linear) and isinstance(layer.linear2, Linear)
    # every parameter is visible to mytorch.optim: 8 (attention) + 2 x 2 (LN) + 2 x 2 (Linear)
    assert len(named_parameters(layer)) == 16
    n_params = sum(getattr(m, p).size for _, m, p, _ in named_parameters(layer))
    assert n_params == 4 * (8 * 8 + 8) + 2 * 2 * 8 + (8 * 16 + 16) + (16 * 8 + 8)


def test_adam_steps_match_torch_adam():
    """mytorch.optim.Adam over the encoder layer's parameters follows torch.optim.Adam for
    five steps on the same loss (sum of squares of the output)."""
    rng = np.random.default_rng(3)
    layer = TransformerEncoderLayer(4, 2, 6, rng=rng)
    ref = torch_copy(layer)
    opt, ref_opt = Adam(layer, lr=0.01), torch.optim.Adam(ref.parameters(), lr=0.01)
    x = rng.standard_normal((2, 3, 4))
    for _ in range(5):
        y = layer.forward(x)
        layer.backward(2 * y)
        opt.step()
        ref_opt.zero_grad()
        (ref(torch.tensor(x)) ** 2).sum().backward()
        ref_opt.step()
    np.testing.assert_allclose(layer.forward(x), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-7, atol=1e-9)


def test_shape_error_names_sizes():
    with pytest.raises(ValueError, match=r"\(N, T, 8\).*\(2, 3, 4\)"):
        TransformerEncoderLayer(8, 2, 16).forward(np.ones((2, 3, 4)))
