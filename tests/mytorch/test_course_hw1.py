"""The course's HW1P1 interface details, each against PyTorch or an exact relation: debug
attributes of Linear and MLP0/MLP1/MLP4, losses returning NumPy scalars, Tanh without
np.tanh, Swish with a plain float beta, callable Dropout, the optimizers' ``l`` list, the SGD
numbers of the course's PseudoModel check, and Linear.init_weights (the S25 HW4 form)."""
import numpy as np
import pytest
import torch

from mytorch import nn, optim
from mytorch.models import MLP0, MLP1, MLP4

from .mlp_reference import close, rand, t


def _set(linear, W, b):
    """Assign weights the way the course's autograder does (attributes, b as (C_out, 1))."""
    linear.W, linear.b = W, b.reshape(-1, 1)


@pytest.mark.parametrize("cls, sizes", [(MLP0, [2, 3]), (MLP1, [2, 3, 2]),
                                        (MLP4, [2, 4, 8, 8, 4, 2])])
def test_mlp_debug_attributes_match_torch(cls, sizes):
    """Every intermediate the autograder reads: Z{k}, A{k+1}, dLdZ{k}, dLdA{k} and the
    lists A / dLdA ([A0, Z0, A1, ...] and their gradients), against torch autograd."""
    model = cls(debug=True)
    x = rand(0, 4, 2)
    tx = t(x, grad=True)
    tvals, h = [tx], tx
    for k, (c_in, c_out) in enumerate(zip(sizes, sizes[1:])):
        W, b = rand(10 + k, c_out, c_in), rand(20 + k, c_out)
        _set(model.layers[2 * k], W, b)
        z = h @ t(W).T + t(b)
        z.retain_grad()
        h = torch.relu(z)
        h.retain_grad()
        tvals += [z, h]
    out = model.forward(x)
    delta = rand(1, 4, sizes[-1])
    tvals[-1].backward(t(delta))
    model.backward(delta)
    assert len(model.A) == len(model.dLdA) == 2 * (len(sizes) - 1) + 1
    close(out, tvals[-1])
    for i, ref in enumerate(tvals):
        close(model.A[i], ref)
        close(model.dLdA[i], ref.grad)
    for k in range(len(sizes) - 1):
        close(getattr(model, f"Z{k}"), tvals[2 * k + 1])
        close(getattr(model, f"A{k + 1}"), tvals[2 * k + 2])
        close(getattr(model, f"dLdZ{k}"), tvals[2 * k + 1].grad)
        close(getattr(model, f"dLdA{k}"), tvals[2 * k].grad)


def test_mlp_without_debug_keeps_no_intermediates():
    model = MLP1()
    model.forward(rand(0, 4, 2))
    model.backward(rand(1, 4, 2))
    assert not hasattr(model, "Z0") and not hasattr(model, "dLdA0")


def test_linear_debug_keeps_dLdA_and_hw1_numbers():
    """The autograder's Linear example (its expected values are exact small integers)."""
    A = np.array([[-4., -3.], [-2., -1.], [0., 1.], [2., 3.]], dtype="f")
    lin = nn.Linear(2, 3, debug=True)
    lin.W = np.array([[-2., -1.], [0., 1.], [2., 3.]], dtype="f")
    lin.b = np.array([[-1.], [0.], [1.]], dtype="f")
    Z = lin.forward(A)
    dLdZ = np.array([[-4., -3., -2.], [-1., -0., 1.], [2., 3., 4.], [5., 6., 7.]], dtype="f")
    returned = lin.backward(dLdZ)
    assert lin.dLdA is returned
    close(Z, A @ lin.W.T + lin.b.T)
    close(lin.dLdA, dLdZ @ lin.W)
    close(lin.dLdW, dLdZ.T @ A)
    assert lin.dLdb.shape == (3, 1)
    close(lin.dLdb, dLdZ.sum(axis=0, keepdims=True).T)
    assert lin.N == 4 and lin.Ones.shape == (4, 1)


def test_linear_init_weights_keeps_the_bias_layout_against_torch():
    """S25 HW4: init_weights(W, b) with b (C_out,) and N-D inputs; dLdb then is (C_out,)
    (np.allclose against torch's (C_out,) would broadcast a (C_out, 1) into a matrix)."""
    ref = torch.nn.Linear(5, 3).double()
    lin = nn.Linear(5, 3)
    lin.init_weights(ref.weight.detach().numpy(), ref.bias.detach().numpy())
    assert lin.b.shape == (3,)
    x = rand(0, 2, 4, 5)
    tx = t(x, grad=True)
    ty = ref(tx)
    ty.sum().backward()
    close(lin.forward(x), ty)
    close(lin.backward(np.ones((2, 4, 3))), tx.grad)
    close(lin.dLdW, ref.weight.grad)
    assert lin.dLdb.shape == (3,)
    close(lin.dLdb, ref.bias.grad)
    with pytest.raises(ValueError, match=r"W must have shape \(3, 5\)"):
        lin.init_weights(np.zeros((5, 3)), np.zeros(3))


def test_losses_return_numpy_scalars_with_round():
    A = np.array([[-4., -3.], [-2., -1.], [0., 1.], [2., 3.]], dtype="f")
    Y = np.array([[0., 1.], [1., 0.], [1., 0.], [0., 1.]], dtype="f")
    mse, xent = nn.MSELoss().forward(A, Y), nn.CrossEntropyLoss().forward(A, Y)
    for L in (mse, xent):
        assert isinstance(L, np.floating) and isinstance(L, float)
    assert mse.round(4) == 6.5                                   # the autograder's value
    close(xent, torch.nn.functional.cross_entropy(t(A), t(Y)), rtol=1e-6)
    assert xent.round(4) == np.float64(0.8133)


def test_tanh_does_not_call_np_tanh_and_matches_torch(monkeypatch):
    z = np.concatenate([rand(0, 50) * 5, [0.0, -0.0, 1e-12, 30.0, -400.0, 800.0]])
    delta = rand(1, z.size)
    tz = t(z, grad=True)
    torch.tanh(tz).backward(t(delta))

    def forbidden(*args, **kwargs):
        raise RuntimeError("np.tanh() was called!")

    monkeypatch.setattr(np, "tanh", forbidden)
    act = nn.Tanh()
    close(act.forward(z), torch.tanh(t(z)), rtol=1e-14, atol=1e-15)
    close(act.backward(delta), tz.grad, rtol=1e-12, atol=1e-15)
    assert act.forward(np.float32([1.0, -2.0])).dtype == np.float32


def test_swish_accepts_a_plain_float_beta():
    """The course's autograder assigns a Python float to beta; forward, backward and an
    optimizer step (which updates beta in place) all work, and match torch."""
    swish = nn.Swish()
    swish.beta = 0.75                                           # a plain float
    assert isinstance(swish.beta, np.ndarray) and swish.beta.shape == ()
    z, delta = rand(0, 3, 4), rand(1, 3, 4)
    tz, tb = t(z, grad=True), t(0.75, grad=True)
    ty = tz * torch.sigmoid(tb * tz)
    ty.backward(t(delta))
    close(swish.forward(z), ty)
    close(swish.backward(delta), tz.grad)
    close(swish.dLdbeta, tb.grad)
    optim.SGD([swish], lr=0.1).step()
    close(swish.beta, 0.75 - 0.1 * tb.grad.item())
    swish.beta = np.array([2.0])                                # a 1-element array too
    assert swish.beta.shape == () and float(swish.beta) == 2.0
    with pytest.raises(ValueError, match="scalar"):
        swish.beta = [1.0, 2.0]


def test_dropout_is_callable_with_the_course_call_form():
    x = rand(0, 20, 64)
    drop = nn.Dropout(p=0.3)
    np.random.seed(11785)
    y = drop(x)                                                 # train=True by default
    np.random.seed(11785)
    mask = np.random.binomial(1, 0.7, size=x.shape)
    close(y, x * mask / 0.7)
    close(drop(x, train=False), x)


def test_optimizer_l_lists_the_linear_layers():
    """The bonus autograder reads [x.W for x in optimizer.l]: the Linear layers in order
    (model.layers[::2] of the course's MLP4)."""
    model = MLP4(debug=True)
    for opt in (optim.Adam(model, 0.008), optim.AdamW(model, 0.008, weight_decay=0.01),
                optim.SGD(model, lr=0.1)):
        assert opt.L == 5 and all(a is b for a, b in zip(opt.l, model.layers[::2]))


def test_sgd_matches_the_course_pseudo_model_numbers():
    """The HW1P1 check: W = b = 1, gradients 0.1, lr 0.9 (momentum 0.9): 0.91 then 0.82
    without momentum, 0.91 then 0.739 with it."""
    for momentum, second in ((0.0, 0.82), (0.9, 0.739)):
        class PseudoModel:
            def __init__(self):
                self.layers, self.f = [nn.Linear(3, 2)], [nn.ReLU()]

            def forward(self, A):
                return NotImplemented

        model = PseudoModel()
        layer = model.layers[0]
        layer.W, layer.dLdW = np.ones((3, 2)), np.ones((3, 2)) / 10
        layer.b, layer.dLdb = np.ones((3, 1)), np.ones((3, 1)) / 10
        opt = optim.SGD(model, lr=0.9, momentum=momentum)
        opt.step()
        close(layer.W.round(4), 0.91)
        opt.step()
        close(layer.W.round(4), second)
        close(layer.b.round(4), second)


def test_conv_accepts_the_s24_positional_init_functions():
    """Conv1d/Conv2d(in, out, k, stride, weight_init_fn, bias_init_fn) (S24) and the F25
    keyword form build the same layer."""
    def w_init(*shape):
        return np.random.default_rng(0).normal(size=shape)

    def b_init(n):
        return np.arange(n, dtype=float)

    for cls, x in ((nn.Conv1d, rand(1, 2, 3, 9)), (nn.Conv2d, rand(1, 2, 3, 9, 9))):
        s24 = cls(3, 4, 3, 2, w_init, b_init)
        f25 = cls(3, 4, 3, stride=2, padding=0, weight_init_fn=w_init, bias_init_fn=b_init)
        assert s24.pad == 0
        close(s24.forward(x), f25.forward(x))
        with pytest.raises(TypeError, match="padding by keyword"):
            cls(3, 4, 3, 2, w_init, b_init, b_init)


def test_split_layout_mlp4_matches_the_interleaved_one_and_trains_with_adam():
    """mytorch.models.split_mlp.MLP4 (the F22 layout of the first bonus autograder: layers =
    the five Linear layers, f = the ReLUs) computes what MLP4 computes; its debug lists
    hold every value; the bonus flow (set W/b on layers[i], fill dLdW/dLdb of every layer,
    Adam steps, read optimizer.l) runs and matches the interleaved model step for step."""
    from mytorch.models import split_mlp

    split, inter = split_mlp.MLP4(debug=True), MLP4(debug=True)
    A0 = np.array([[-4., -3.], [-2., -1.], [0., 1.], [2., 3.], [4., 5.]], dtype="f")
    weights = [(rand(30 + i, o, n), rand(40 + i, o, 1)) for i, (n, o) in
               enumerate(zip([2, 4, 8, 8, 4], [4, 8, 8, 4, 2]))]
    opts = [optim.AdamW(split, 0.008, weight_decay=0.01),
            optim.AdamW(inter, 0.008, weight_decay=0.01)]
    for _ in range(5):
        for model, linears in ((split, split.layers), (inter, inter.layers[::2])):
            for layer, (W, b) in zip(linears, weights):
                layer.W, layer.b = W.copy(), b.copy()
            model.forward(A0)
            for layer in linears:
                layer.dLdW.fill(0.0)
                layer.dLdb.fill(0.0)
            model.backward(A0)
        for opt in opts:
            opt.step()
    assert len(split.layers) == 5 and all(a is b for a, b in zip(opts[0].l, split.layers))
    for mine, theirs in zip(opts[0].l, opts[1].l):
        close(mine.W, theirs.W)
        close(mine.b, theirs.b)
    assert len(split.A) == 6 and len(split.Z) == len(split.dAdZ) == len(split.dLdZ) == 5
    close(split.A[-1], inter.A[-1])
    for k in range(5):
        close(split.Z[k], inter.A[2 * k + 1])
        close(split.dLdZ[k], inter.dLdA[2 * k + 1])
        close(split.dLdA[k], inter.dLdA[2 * k])
        close(split.dAdZ[k], (split.Z[k] > 0).astype(float))
