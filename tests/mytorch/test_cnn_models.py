"""mytorch CNN models against PyTorch: the CNN trained step by step next to the same torch
network, and the scanning MLPs against an MLP applied window by window (float64)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mytorch import nn
from mytorch.models import CNN, CNN_DistributedScanningMLP, CNN_SimpleScanningMLP

TOL = {"rtol": 1e-8, "atol": 1e-10}
ACTIVATIONS = {"relu": (nn.ReLU, torch.nn.ReLU), "tanh": (nn.Tanh, torch.nn.Tanh),
               "sigmoid": (nn.Sigmoid, torch.nn.Sigmoid)}


def close(actual, expected):
    np.testing.assert_allclose(actual, expected.detach().numpy(), **TOL)


@st.composite
def cnn_config(draw):
    n = draw(st.integers(1, 3))
    kernels = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    strides = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    low = 1                                # shortest input leaving one output of the stack:
    for kernel, stride in reversed(list(zip(kernels, strides))):   # width_out = (w - k) // s + 1
        low = (low - 1) * stride + kernel
    width = draw(st.integers(low, low + 10))
    return {"width": width, "C_in": draw(st.integers(1, 3)), "kernels": kernels,
            "strides": strides,
            "channels": draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)),
            "acts": draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=n, max_size=n)),
            "classes": draw(st.integers(2, 5)), "seed": draw(st.integers(0, 2**32 - 1))}


@settings(max_examples=10)
@given(cfg=cnn_config())
def test_cnn_trains_like_torch(cfg):
    """Same init, same batches, 4 SGD steps: same losses, input gradients and weights."""
    rng = np.random.default_rng(cfg["seed"])
    init = lambda *shape: rng.standard_normal(shape) * 0.5
    lr, N = 0.1, 4
    model = CNN(cfg["width"], cfg["C_in"], cfg["channels"], cfg["kernels"], cfg["strides"],
                cfg["classes"], [ACTIVATIONS[a][0]() for a in cfg["acts"]],
                init, init, init, nn.CrossEntropyLoss(), lr)

    layers, c_in = [], cfg["C_in"]
    for conv, a, c_out, k, s in zip(model.convolutional_layers, cfg["acts"], cfg["channels"],
                                    cfg["kernels"], cfg["strides"]):
        tconv = torch.nn.Conv1d(c_in, c_out, k, stride=s).double()
        tconv.weight.data = torch.tensor(conv.conv1d_stride1.W)
        tconv.bias.data = torch.tensor(conv.conv1d_stride1.b)
        layers += [tconv, ACTIVATIONS[a][1]()]
        c_in = c_out
    linear = torch.nn.Linear(*model.linear_layer.W.shape[::-1]).double()
    linear.weight.data = torch.tensor(model.linear_layer.W)
    linear.bias.data = torch.tensor(model.linear_layer.b[:, 0])
    net = torch.nn.Sequential(*layers, torch.nn.Flatten(), linear)
    opt = torch.optim.SGD(net.parameters(), lr=lr)

    for _ in range(4):
        A = rng.standard_normal((N, cfg["C_in"], cfg["width"]))
        y = rng.integers(0, cfg["classes"], N)
        model.train()
        model.forward(A)
        dLdA = model.backward(np.eye(cfg["classes"])[y])
        model.step()

        At = torch.tensor(A, requires_grad=True)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(At), torch.tensor(y))
        loss.backward()
        opt.step()
        assert model.loss == pytest.approx(loss.item(), rel=1e-9)
        close(dLdA, At.grad)

    tconvs = [m for m in net if isinstance(m, torch.nn.Conv1d)]
    for conv, tconv in zip(model.convolutional_layers, tconvs):
        close(conv.conv1d_stride1.W, tconv.weight)
        close(conv.conv1d_stride1.b, tconv.bias)
    close(model.linear_layer.W, linear.weight)
    close(model.linear_layer.b[:, 0], linear.bias)


def test_cnn_zero_grads_and_step_use_the_gradients():
    rng = np.random.default_rng(0)
    init = lambda *shape: rng.standard_normal(shape)
    model = CNN(10, 2, [3], [3], [2], 4, [nn.ReLU()], init, init, init, nn.CrossEntropyLoss(), 0.5)
    model.forward(rng.standard_normal((3, 2, 10)))
    model.backward(np.eye(4)[[0, 1, 3]])
    conv = model.convolutional_layers[0].conv1d_stride1
    W0, dW = conv.W.copy(), conv.dLdW.copy()
    model.step()
    np.testing.assert_allclose(conv.W, W0 - 0.5 * dW)
    model.zero_grads()
    assert not conv.dLdW.any() and not model.linear_layer.dLdW.any()


def test_cnn_rejects_inconsistent_configuration():
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="2 layers.*1 kernel sizes"):
        CNN(20, 1, [4, 4], [3], [1, 1], 2, [nn.ReLU()] * 2, None, None, None, ce, 0.1)
    with pytest.raises(ValueError, match="kernel size 5, got width 4"):
        CNN(10, 1, [4, 4], [3, 5], [2, 1], 2, [nn.ReLU()] * 2, None, None, None, ce, 0.1)
    model = CNN(10, 2, [4], [3], [1], 2, [nn.ReLU()], None, None, None, ce, 0.1)
    with pytest.raises(ValueError, match=r"\(\*, 2, \*\).*\(5, 3, 10\)"):
        model.forward(np.zeros((5, 3, 10)))


def windowed_mlp_torch(A, ws, context=8, stride=4):
    """The reference: an MLP (ReLU, ReLU, no biases) applied to every window of ``context``
    steps, each flattened position-major; returns (N, out * P), channel-major."""
    windows = A.unfold(2, context, stride)                        # (N, C, P, context)
    N, C, P, _ = windows.shape
    x = windows.permute(0, 2, 3, 1).reshape(N, P, context * C)    # x[t * C + c]
    h = torch.relu(torch.relu(x @ ws[0]) @ ws[1]) @ ws[2]         # (N, P, out)
    return h.permute(0, 2, 1).reshape(N, -1)


def shared_blocks_to_full(b1, b2, b3):
    """Full MLP matrices with the distributed scanning MLP's sharing, built from the distinct
    blocks: w1 (192, 8) has 4 copies of b1 (48, 2), each reading 2 time steps; w2 (8, 16)
    has 2 copies of b2 (4, 8), each reading 2 first-layer groups; w3 = b3 (16, 4)."""
    w1 = torch.zeros(192, 8, dtype=b1.dtype)
    for g in range(4):
        w1 = w1.index_put((torch.arange(48 * g, 48 * g + 48)[:, None],
                           torch.arange(2 * g, 2 * g + 2)[None, :]), b1)
    w2 = torch.zeros(8, 16, dtype=b2.dtype)
    for h in range(2):
        w2 = w2.index_put((torch.arange(4 * h, 4 * h + 4)[:, None],
                           torch.arange(8 * h, 8 * h + 8)[None, :]), b2)
    return w1, w2, b3


def scanning_grads_match(model, weights_for_model, torch_weights, leaves, rng, N=2, W=128):
    """Forward and backward of ``model`` against ``windowed_mlp_torch``."""
    model.init_weights(weights_for_model)
    A = rng.standard_normal((N, 24, W))
    Z = model.forward(A)
    dLdZ = rng.standard_normal(Z.shape)
    dLdA = model.backward(dLdZ)

    At = torch.tensor(A, requires_grad=True)
    Zt = windowed_mlp_torch(At, torch_weights())
    assert Z.shape == tuple(Zt.shape) == (N, 4 * ((W - 8) // 4 + 1))
    close(Z, Zt)
    Zt.backward(torch.tensor(dLdZ))
    close(dLdA, At.grad)
    for conv, leaf in zip((model.conv1, model.conv2, model.conv3), leaves):
        c = conv.conv1d_stride1
        expected = leaf.grad.reshape(c.kernel_size, c.in_channels, c.out_channels)
        close(c.dLdW, expected.permute(2, 1, 0))


@pytest.mark.parametrize("W", [128, 8, 21])
def test_simple_scanning_mlp_equals_mlp_at_every_window(W):
    rng = np.random.default_rng(W)
    ws = [rng.standard_normal(s) for s in ((192, 8), (8, 16), (16, 4))]
    leaves = [torch.tensor(w, requires_grad=True) for w in ws]
    scanning_grads_match(CNN_SimpleScanningMLP(), ws, lambda: leaves, leaves, rng, W=W)


@pytest.mark.parametrize("W", [128, 8, 21])
def test_distributed_scanning_mlp_equals_shared_weight_mlp_at_every_window(W):
    rng = np.random.default_rng(W)
    blocks = [torch.tensor(rng.standard_normal(s), requires_grad=True)
              for s in ((48, 2), (4, 8), (16, 4))]
    full = [w.detach().numpy() for w in shared_blocks_to_full(*blocks)]
    scanning_grads_match(CNN_DistributedScanningMLP(), full,
                         lambda: shared_blocks_to_full(*blocks), blocks, rng, W=W)


def test_scanning_mlp_rejects_wrong_weight_shape():
    with pytest.raises(ValueError, match=r"\(192, 8\).*\(24, 8\)"):
        CNN_SimpleScanningMLP().init_weights([np.zeros((24, 8)), np.zeros((8, 16)),
                                              np.zeros((16, 4))])
