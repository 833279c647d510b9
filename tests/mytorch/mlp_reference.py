"""Helpers shared by the MLP-part tests: random arrays from a hypothesis seed, torch views,
and one comparison with stated tolerances."""
import numpy as np
import torch
from hypothesis import strategies as st

# float64 throughout: both libraries should agree to rounding error
RTOL, ATOL = 1e-9, 1e-11

seeds = st.integers(0, 2**32 - 1)


def rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def t(x, grad=False):
    """float64 torch tensor of ``x`` (a leaf that requires grad when ``grad``)."""
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def close(mine, ref, rtol=RTOL, atol=ATOL):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    np.testing.assert_allclose(np.asarray(mine), ref, rtol=rtol, atol=atol)


def torch_linear(layer):
    """A torch.nn.Linear (float64) with the weights of a mytorch Linear."""
    ref = torch.nn.Linear(layer.in_features, layer.out_features).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(np.asarray(layer.W, dtype=np.float64)))
        ref.bias.copy_(torch.from_numpy(np.asarray(layer.b, dtype=np.float64)[:, 0]))
    return ref
