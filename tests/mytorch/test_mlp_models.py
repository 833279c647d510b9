"""MLP0/MLP1/MLP4 and the general MLP against torch.nn.Sequential: forward, backward,
20 training steps per optimizer, and state_dict save/load (float64, rtol 1e-9, atol 1e-11;
training 1e-8 / 1e-10 since 20 steps accumulate rounding)."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mytorch
from mytorch import nn, optim
from mytorch.models import MLP, MLP0, MLP1, MLP4

from .mlp_reference import close, rand, seeds, t, torch_linear


def _torch_copy(model):
    """torch.nn.Sequential with the same layers and weights as a mytorch model."""
    mods = []
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            mods.append(torch_linear(layer))
        elif isinstance(layer, nn.BatchNorm1d):
            bn = torch.nn.BatchNorm1d(layer.num_features, eps=1e-8,
                                      momentum=1 - layer.alpha).double()
            with torch.no_grad():
                bn.weight.copy_(t(layer.BW[0]))
                bn.bias.copy_(t(layer.Bb[0]))
            mods.append(bn)
        else:
            mods.append({nn.ReLU: torch.nn.ReLU, nn.Tanh: torch.nn.Tanh,
                         nn.Sigmoid: torch.nn.Sigmoid}[type(layer)]())
    return torch.nn.Sequential(*mods)


def _linears(model):
    return [layer for layer in model.layers if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize("make, sizes", [(MLP0, [2, 3]), (MLP1, [2, 3, 2]),
                                         (MLP4, [2, 4, 8, 8, 4, 2])])
@given(N=st.integers(1, 9), seed=seeds)
def test_course_mlps_match_torch(make, sizes, N, seed):
    model = make()
    assert [(lin.in_features, lin.out_features) for lin in _linears(model)] \
        == list(itertools.pairwise(sizes))
    assert all(isinstance(layer, nn.ReLU) for layer in model.layers[1::2])
    for i, lin in enumerate(_linears(model)):
        lin.W, lin.b = rand(seed + i, *lin.W.shape), rand(seed + 50 + i, *lin.b.shape)
    ref = _torch_copy(model)
    A0, dLdA = rand(seed + 99, N, 2), rand(seed + 98, N, sizes[-1])
    out = model.forward(A0)
    dLdA0 = model.backward(dLdA)
    tA0 = t(A0, grad=True)
    tout = ref(tA0)
    tout.backward(t(dLdA))
    close(out, tout)
    close(dLdA0, tA0.grad)
    for lin, tlin in zip(_linears(model), [m for m in ref if isinstance(m, torch.nn.Linear)]):
        close(lin.dLdW, tlin.weight.grad)
        close(lin.dLdb, tlin.bias.grad[:, None])


OPTIMIZERS = {
    "SGD": ({"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3)),
    "Adam": ({"lr": 0.01}, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8)),
    "AdamW": ({"lr": 0.01, "weight_decay": 0.05},
              lambda p: torch.optim.AdamW(p, lr=0.01, eps=1e-8, weight_decay=0.05)),
    "RMSProp": ({"lr": 0.005}, lambda p: torch.optim.RMSprop(p, lr=0.005, eps=1e-8)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("batchnorm", [False, True])
def test_twenty_training_steps_end_with_torch_weights(name, batchnorm):
    model = MLP([6, 16, 9, 4], activation=nn.Tanh, batchnorm=batchnorm, seed=0)
    ref = _torch_copy(model)
    hyper, make_torch = OPTIMIZERS[name]
    opt, topt = getattr(optim, name)(model, **hyper), make_torch(ref.parameters())
    loss, rng = nn.CrossEntropyLoss(), np.random.default_rng(1)
    for _ in range(20):
        X, labels = rng.normal(size=(7, 6)), rng.integers(0, 4, 7)    # odd batch size
        L = loss.forward(model.forward(X), labels)
        model.backward(loss.backward())
        opt.step()
        topt.zero_grad()
        tL = torch.nn.functional.cross_entropy(ref(t(X)), torch.from_numpy(labels))
        tL.backward()
        topt.step()
        close(L, tL.detach(), rtol=1e-8, atol=1e-10)
    for layer, tlayer in zip(model.layers, ref):
        if isinstance(layer, nn.Linear):
            close(layer.W, tlayer.weight, rtol=1e-8, atol=1e-10)
            close(layer.b[:, 0], tlayer.bias, rtol=1e-8, atol=1e-10)
        if isinstance(layer, nn.BatchNorm1d):
            close(layer.BW[0], tlayer.weight, rtol=1e-8, atol=1e-10)
            close(layer.Bb[0], tlayer.bias, rtol=1e-8, atol=1e-10)
            close(layer.running_M[0], tlayer.running_mean, rtol=1e-8, atol=1e-10)
    assert not np.allclose(model.layers[0].W, MLP([6, 16, 9, 4], seed=0).layers[0].W)


def test_mlp_layout_init_and_dtype():
    model = MLP([5, 7, 3], activation=nn.Swish, batchnorm=True, dropout=0.3, seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Linear", "BatchNorm1d", "Swish", "Dropout", "Linear"]
    # PyTorch's default init: U(-1/sqrt(C_in), 1/sqrt(C_in))
    big = MLP([400, 300, 2], seed=1).layers[0].W
    assert np.abs(big).max() <= 1 / 20 and np.abs(big).max() > 0.049
    assert abs(big.std() - 1 / 20 / np.sqrt(3)) < 1e-3
    assert model.num_parameters() == 5 * 7 + 7 + 2 * 7 + 1 + 7 * 3 + 3
    m32 = MLP([5, 4, 2], seed=0, dtype=np.float32)
    assert m32.forward(np.ones((3, 5), np.float32)).dtype == np.float32
    # eval switches BatchNorm to running statistics and Dropout off: deterministic
    X = rand(0, 8, 5)
    model.eval()
    close(model.forward(X), model.forward(X))
    bn = model.layers[1]
    Z = model.layers[0].forward(X)
    close(model.layers[1].forward(Z, eval=True),
          (Z - bn.running_M) / np.sqrt(bn.running_V + bn.eps) * bn.BW + bn.Bb)


def test_state_dict_save_load_roundtrip(tmp_path):
    model = MLP([4, 6, 3], activation=nn.Swish, batchnorm=True, seed=0)
    X = rand(0, 5, 4)
    model.forward(X)                                         # moves the running statistics
    model.layers[2].beta[...] = 1.7
    state = model.state_dict()
    assert set(state) == {"layers.0.W", "layers.0.b", "layers.1.BW", "layers.1.Bb",
                          "layers.2.beta", "layers.3.W", "layers.3.b",
                          "layers.1.running_M", "layers.1.running_V"}
    path = mytorch.save(state, tmp_path / "ckpt")
    assert path.name == "ckpt.npz"
    other = MLP([4, 6, 3], activation=nn.Swish, batchnorm=True, seed=5)
    other.load_state_dict(mytorch.load(path))
    model.eval(), other.eval()
    close(other.forward(X), model.forward(X), rtol=0, atol=0)
    assert float(other.layers[2].beta) == 1.7
    state["layers.0.W"] += 1                                 # a copy, not the live array
    assert not np.array_equal(state["layers.0.W"], model.layers[0].W)


def test_load_errors_name_the_problem(tmp_path):
    model = MLP([4, 6, 3], seed=0)
    wrong = MLP([4, 5, 3], seed=0).state_dict()
    with pytest.raises(ValueError, match=r"layers.0.W expected shape \(6, 4\), got shape \(5, 4\)"):
        model.load_state_dict(wrong)
    with pytest.raises(ValueError, match=r"missing keys \['layers.2.b'\]"):
        model.load_state_dict({k: v for k, v in model.state_dict().items() if k != "layers.2.b"})
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt.npz is not a readable .npz"):
        mytorch.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
        mytorch.load(tmp_path / "missing.npz")
