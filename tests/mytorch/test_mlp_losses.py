"""MSELoss and CrossEntropyLoss against torch (float64, rtol 1e-9, atol 1e-11)."""
import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from mytorch import nn

from .mlp_reference import close, rand, seeds, t

dims = st.integers(1, 9)


@given(N=dims, C=dims, seed=seeds)
@example(N=1, C=1, seed=0)
def test_mse_matches_torch(N, C, seed):
    A, Y = rand(seed, N, C), rand(seed + 1, N, C)
    loss = nn.MSELoss()
    L = loss.forward(A, Y)
    tA = t(A, grad=True)
    tL = F.mse_loss(tA, t(Y), reduction="mean")
    tL.backward()
    close(L, tL)
    close(loss.backward(), tA.grad)
    assert isinstance(L, float)


@given(N=dims, C=st.integers(2, 9), scale=st.sampled_from([1.0, 1e3]),
       target=st.sampled_from(["onehot", "soft", "labels"]), seed=seeds)
@example(N=1, C=2, scale=1.0, target="onehot", seed=0)
def test_cross_entropy_matches_torch(N, C, scale, target, seed):
    rng = np.random.default_rng(seed)
    A = rand(seed, N, C, scale=scale)                      # 1e3: exp would overflow unshifted
    labels = rng.integers(0, C, N)
    if target == "soft":
        Y = rng.dirichlet(np.ones(C), N)
    else:
        Y = np.eye(C)[labels]
    loss = nn.CrossEntropyLoss()
    L = loss.forward(A, labels if target == "labels" else Y)
    tA = t(A, grad=True)
    tL = F.cross_entropy(tA, t(Y))
    tL.backward()
    assert np.isfinite(L)
    close(L, tL)
    close(loss.backward(), tA.grad)


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.CrossEntropyLoss()])
def test_loss_shape_mismatch_names_both_shapes(loss):
    with pytest.raises(ValueError, match=r"expected Y of shape \(3, 4\).*got shape \(3, 5\)"):
        loss.forward(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"expected A of shape \(N, C\), got shape \(3,\)"):
        loss.forward(np.zeros(3), np.zeros(3))


def test_cross_entropy_label_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        nn.CrossEntropyLoss().forward(np.zeros((2, 4)), np.array([0, 4]))
