"""RNNPhonemeClassifier against torch.nn.RNN (tanh, batch_first) + torch.nn.Linear on the
last time step, with copied weights, float64: logits, dL/dh_0, dL/dx and every parameter
gradient (batch_mean=False: torch's; the course's batch_mean=True: the cells', dh_0 and dx
torch's / N for the same delta and torch's of the mean loss for the course's per-sample
delta softmax - y, the output Linear's NOT divided: torch's for the same delta, N times
torch's mean-loss gradient for the course's delta); then training steps with
mytorch.optim.Adam against torch.optim.Adam.
Tolerance: rtol=1e-9, atol=1e-10 (1e-8 after the training steps)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.models import RNNPhonemeClassifier
from mytorch.nn import CrossEntropyLoss
from mytorch.optim import Adam

TOL = {"rtol": 1e-9, "atol": 1e-10}


class TorchClassifier(torch.nn.Module):
    def __init__(self, I, H, O, layers):
        super().__init__()
        self.rnn = torch.nn.RNN(I, H, num_layers=layers, batch_first=True)
        self.output_layer = torch.nn.Linear(H, O)

    def forward(self, x, h_0):
        out, _ = self.rnn(x, h_0)
        return self.output_layer(out[:, -1])


def paired_models(I, H, O, layers, batch_mean=False):
    ref = TorchClassifier(I, H, O, layers).double()
    model = RNNPhonemeClassifier(I, H, O, num_layers=layers, batch_mean=batch_mean)
    rnn_weights = [[getattr(ref.rnn, f"{name}_l{k}").detach().numpy()
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                   for k in range(layers)]
    model.init_weights(rnn_weights, [ref.output_layer.weight.detach().numpy(),
                                     ref.output_layer.bias.detach().numpy()])
    return model, ref


def assert_same_parameters(model, ref, grads, tol, factor=1.0, output_factor=1.0):
    """Weights (grads=False) or gradients (grads=True: the cells' = torch's * factor, the
    output layer's = torch's * output_factor) agree."""
    pick = (lambda p: p.grad * factor) if grads else (lambda p: p.detach())
    for k, cell in enumerate(model.rnn):
        for mine, name in [("W_ih", "weight_ih"), ("W_hh", "weight_hh"),
                           ("b_ih", "bias_ih"), ("b_hh", "bias_hh")]:
            theirs = pick(getattr(ref.rnn, f"{name}_l{k}")).numpy()
            np.testing.assert_allclose(getattr(cell, "d" + mine if grads else mine), theirs,
                                       err_msg=f"layer {k} {mine}", **tol)
    W, b = ("dLdW", "dLdb") if grads else ("W", "b")
    pick = (lambda p: p.grad * output_factor) if grads else pick
    np.testing.assert_allclose(getattr(model.output_layer, W),
                               pick(ref.output_layer.weight).numpy(), **tol)
    np.testing.assert_allclose(getattr(model.output_layer, b).ravel(),
                               pick(ref.output_layer.bias).numpy(), **tol)


@given(layers=st.integers(1, 3), N=st.integers(1, 4), T=st.integers(1, 5),
       I=st.integers(1, 5), H=st.integers(1, 5), O=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1), zero_h0=st.booleans(), batch_mean=st.booleans())
def test_classifier_matches_torch_rnn_and_linear(layers, N, T, I, H, O, seed, zero_h0,
                                                 batch_mean):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model, ref = paired_models(I, H, O, layers, batch_mean)
    factor = 1.0 / N if batch_mean else 1.0                # the course: cells torch's / N
    x = rng.normal(size=(N, T, I))
    h0 = np.zeros((layers, N, H)) if zero_h0 else rng.normal(size=(layers, N, H))
    delta = rng.normal(size=(N, O))

    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0, requires_grad=True)
    logits_ref = ref(x_t, h0_t)
    (logits_ref * torch.tensor(delta)).sum().backward()

    logits = model.forward(x, None if zero_h0 else h0)
    np.testing.assert_allclose(logits, logits_ref.detach().numpy(), **TOL)
    for _ in range(2):                                  # a second backward gives the same
        dh0 = model.backward(delta)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy() * factor, **TOL)
    np.testing.assert_allclose(model.dLdx, x_t.grad.numpy() * factor, **TOL)
    assert_same_parameters(model, ref, grads=True, tol=TOL, factor=factor)  # output: torch's


def test_course_delta_with_batch_mean_gives_torch_mean_loss_gradients():
    """The HW3P1 autograder's path: delta = softmax(logits) - onehot (per sample, not / N),
    default batch_mean=True -> the cells' gradients and dh_0 equal torch's for the MEAN
    cross-entropy; the output layer's are Linear.backward's of that delta, delta^T h_T and
    sum(delta), i.e. N times torch's (the course does not average them)."""
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    N, T, I, H, O = 5, 4, 3, 6, 7
    model, ref = paired_models(I, H, O, 2, batch_mean=True)
    x, y = rng.normal(size=(N, T, I)), rng.integers(0, O, size=N)
    h0 = torch.zeros(2, N, H, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(ref(torch.tensor(x), h0), torch.tensor(y)).backward()
    logits = model.forward(x)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    delta = softmax - np.eye(O)[y]
    dh0 = model.backward(delta)
    np.testing.assert_allclose(dh0, h0.grad.numpy(), **TOL)
    assert_same_parameters(model, ref, grads=True, tol=TOL, output_factor=N)
    np.testing.assert_allclose(model.output_layer.dLdW, delta.T @ model.hiddens[-1][-1], **TOL)
    np.testing.assert_allclose(model.output_layer.dLdb.ravel(), delta.sum(axis=0), **TOL)
    assert RNNPhonemeClassifier(I, H, O).batch_mean                # the course's default


def test_training_with_adam_follows_torch():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    N, T, I, H, O = 8, 6, 4, 5, 3
    model, ref = paired_models(I, H, O, layers=2)
    optimizer, optimizer_ref = Adam(model, lr=0.01), torch.optim.Adam(ref.parameters(), lr=0.01)
    criterion = CrossEntropyLoss()
    for _ in range(5):
        x, y = rng.normal(size=(N, T, I)), rng.integers(0, O, size=N)
        loss = criterion.forward(model.forward(x), np.eye(O)[y])
        model.backward(criterion.backward())
        optimizer.step()

        optimizer_ref.zero_grad()
        loss_ref = torch.nn.functional.cross_entropy(
            ref(torch.tensor(x), torch.zeros(2, N, H, dtype=torch.float64)), torch.tensor(y))
        loss_ref.backward()
        optimizer_ref.step()
        np.testing.assert_allclose(loss, loss_ref.item(), rtol=1e-8)
    assert_same_parameters(model, ref, grads=False, tol={"rtol": 1e-8, "atol": 1e-10})


def test_state_dict_round_trip_and_parameter_count():
    model = RNNPhonemeClassifier(4, 5, 3, num_layers=2)
    # layer 0: 5*4 + 5*5 + 5 + 5, layer 1: 5*5 + 5*5 + 5 + 5, linear: 3*5 + 3
    assert model.num_parameters() == 55 + 60 + 18
    copy = RNNPhonemeClassifier(4, 5, 3, num_layers=2)
    copy.load_state_dict(model.state_dict())
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    np.testing.assert_array_equal(copy.forward(x), model.forward(x))


@pytest.mark.parametrize("call, message", [
    (lambda m: m.forward(np.zeros((2, 3, 5))), r"expected shape \(any, any, 4\), got \(2, 3, 5\)"),
    (lambda m: m.forward(np.zeros((2, 3, 4)), np.zeros((1, 2, 5))),
     r"h_0: expected shape \(2, 2, 5\), got \(1, 2, 5\)"),
    (lambda m: m.init_weights([[None] * 4], [None, None]), r"expected 2 sets of RNN weights, got 1"),
])
def test_classifier_shape_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(RNNPhonemeClassifier(4, 5, 3, num_layers=2))
