"""RNNCell and GRUCell against torch.nn.RNNCell / torch.nn.GRUCell with copied weights,
unrolled over several time steps (gradients accumulate across steps), float64. RNNCell's
parameter gradients are torch's / N with the course's batch_mean=True (the default) and
torch's with batch_mean=False; dx and dh are torch's either way.
Tolerance: rtol=1e-9, atol=1e-10 (both sides compute the same float64 sums)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mytorch.nn import GRUCell, RNNCell
from mytorch.nn.gru_cell import WEIGHT_NAMES

TOL = {"rtol": 1e-9, "atol": 1e-10}
sizes = st.integers(1, 6)


def unroll_torch(cell, xs, h0, deltas):
    """Run ``cell`` over xs (T, N, I) from h0 with loss sum_t <h_t, deltas[t]>; return the
    hidden states and the gradients of xs and h0."""
    xs = torch.tensor(xs, requires_grad=True)
    h0 = torch.tensor(h0, requires_grad=True)
    h, hs, loss = h0, [], 0.0
    for t in range(len(xs)):
        h = cell(xs[t], h)
        hs.append(h)
        loss = loss + (h * torch.tensor(deltas[t])).sum()
    loss.backward()
    return torch.stack(hs).detach().numpy(), xs.grad.numpy(), h0.grad.numpy()


def forward_through_time(cell, xs, h0):
    """[h0, h1, ..., hT] from the mytorch cell."""
    hs = [h0]
    for x in xs:
        hs.append(cell.forward(x, hs[-1]))
    return hs


def draw_problem(data, T, N, I, H):
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, N, I)), rng.normal(size=(N, H)), rng.normal(size=(T, N, H))


@given(st.data(), st.integers(1, 4), sizes, sizes, sizes, st.booleans())
def test_rnn_cell_matches_torch_through_time(data, T, N, I, H, batch_mean):
    xs, h0, deltas = draw_problem(data, T, N, I, H)
    ref = torch.nn.RNNCell(I, H, nonlinearity="tanh").double()
    cell = RNNCell(I, H, batch_mean=batch_mean)
    factor = 1.0 / N if batch_mean else 1.0
    cell.init_weights(*(p.detach().numpy() for p in
                        (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)))
    hs_ref, dxs_ref, dh0_ref = unroll_torch(ref, xs, h0, deltas)

    hs = forward_through_time(cell, xs, h0)
    np.testing.assert_allclose(np.stack(hs[1:]), hs_ref, **TOL)

    dh, dxs = np.zeros_like(h0), np.zeros_like(xs)
    for t in reversed(range(T)):
        dxs[t], dh = cell.backward(dh + deltas[t], hs[t + 1], xs[t], hs[t])
    np.testing.assert_allclose(dxs, dxs_ref, **TOL)
    np.testing.assert_allclose(dh, dh0_ref, **TOL)
    for mine, theirs in [(cell.dW_ih, ref.weight_ih), (cell.dW_hh, ref.weight_hh),
                         (cell.db_ih, ref.bias_ih), (cell.db_hh, ref.bias_hh)]:
        np.testing.assert_allclose(mine, theirs.grad.numpy() * factor, **TOL)


def test_rnn_cell_default_init_is_the_course_randn_order():
    """np.random.randn for W_ih, W_hh, b_ih, b_hh, in that order (the autograder seeds the
    global generator and compares with values saved from the reference cell)."""
    np.random.seed(11785)
    cell = RNNCell(10, 20)
    np.random.seed(11785)
    expected = [np.random.randn(20, 10), np.random.randn(20, 20), np.random.randn(20),
                np.random.randn(20)]
    for name, value in zip(("W_ih", "W_hh", "b_ih", "b_hh"), expected):
        np.testing.assert_array_equal(getattr(cell, name), value)
    uniform = RNNCell(10, 20, init="uniform")
    assert np.abs(uniform.W_hh).max() <= 1 / np.sqrt(20)
    with pytest.raises(ValueError, match="init must be"):
        RNNCell(2, 3, init="xavier")


def gru_weights_from_torch(ref):
    """torch stacks (r, z, n) along dim 0 of weight_ih/weight_hh/bias_ih/bias_hh."""
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in
                              (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh))
    H = ref.hidden_size
    split = lambda a: [a[k * H:(k + 1) * H] for k in range(3)]
    return [*split(w_ih), *split(w_hh), *split(b_ih), *split(b_hh)]


def test_gru_cell_default_init_is_the_course_randn_order():
    """Twelve np.random.randn draws, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh,
    bnh, and nothing else: the global generator's next draw is the course's too."""
    I, H = 5, 3
    np.random.seed(11785)
    cell = GRUCell(I, H)
    after = np.random.rand(4)
    np.random.seed(11785)
    shapes = [(H, I)] * 3 + [(H, H)] * 3 + [(H,)] * 6
    expected = [np.random.randn(*shape) for shape in shapes]
    for name, value in zip(WEIGHT_NAMES, expected):
        np.testing.assert_array_equal(getattr(cell, name), value, err_msg=name)
    np.testing.assert_array_equal(after, np.random.rand(4))
    uniform = GRUCell(I, H, init="uniform")
    assert all(np.abs(getattr(uniform, name)).max() <= 1 / np.sqrt(H) for name in WEIGHT_NAMES)
    with pytest.raises(ValueError, match="init must be"):
        GRUCell(2, 3, init="xavier")


@given(st.data(), st.integers(1, 4), sizes, sizes, sizes)
def test_gru_cell_matches_torch_through_time(data, T, N, I, H):
    xs, h0, deltas = draw_problem(data, T, N, I, H)
    ref = torch.nn.GRUCell(I, H).double()
    cell = GRUCell(I, H)
    cell.init_weights(*gru_weights_from_torch(ref))
    hs_ref, dxs_ref, dh0_ref = unroll_torch(ref, xs, h0, deltas)

    hs = forward_through_time(cell, xs, h0)
    np.testing.assert_allclose(np.stack(hs[1:]), hs_ref, **TOL)

    # GRUCell.backward uses the values of the LAST forward: re-run step t before its backward
    dh, dxs = np.zeros_like(h0), np.zeros_like(xs)
    for t in reversed(range(T)):
        cell.forward(xs[t], hs[t])
        dxs[t], dh = cell.backward(dh + deltas[t])
    np.testing.assert_allclose(dxs, dxs_ref, **TOL)
    np.testing.assert_allclose(dh, dh0_ref, **TOL)
    grads_ref = [p.grad.numpy() for p in (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)]
    H3 = [g[k * H:(k + 1) * H] for g in grads_ref for k in range(3)]
    for name, theirs in zip(WEIGHT_NAMES, H3):  # torch order r, z, n = the course's order
        np.testing.assert_allclose(getattr(cell, "d" + name), theirs, err_msg=name, **TOL)


def test_gru_cell_single_sample_matches_batch_of_one():
    rng = np.random.default_rng(0)
    cell = GRUCell(3, 4)
    x, h, delta = rng.normal(size=3), rng.normal(size=4), rng.normal(size=4)
    h_t = cell.forward(x, h)
    dx, dh = cell.backward(delta)
    assert h_t.shape == (4,) and dx.shape == (3,) and dh.shape == (4,)
    batched = GRUCell(3, 4)
    batched.init_weights(*(getattr(cell, name) for name in WEIGHT_NAMES))
    np.testing.assert_allclose(batched.forward(x[None], h[None])[0], h_t)
    dx_b, dh_b = batched.backward(delta[None])
    np.testing.assert_allclose(dx_b[0], dx)
    np.testing.assert_allclose(dh_b[0], dh)


def test_gradients_accumulate_until_zero_grad():
    rng = np.random.default_rng(1)
    cell = RNNCell(2, 3)
    x, h, delta = rng.normal(size=(4, 2)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    h_t = cell.forward(x, h)
    cell.backward(delta, h_t, x, h)
    once = cell.dW_ih.copy()
    cell.backward(delta, h_t, x, h)
    np.testing.assert_allclose(cell.dW_ih, 2 * once)
    cell.zero_grad()
    assert not cell.dW_ih.any() and not cell.db_hh.any()


@pytest.mark.parametrize("make, call, message", [
    (lambda: RNNCell(3, 4), lambda c: c.forward(np.zeros((2, 5)), np.zeros((2, 4))),
     r"expected shape \(any, 3\), got \(2, 5\)"),
    (lambda: RNNCell(3, 4), lambda c: c.forward(np.zeros((2, 3)), np.zeros((3, 4))),
     r"expected shape \(2, 4\), got \(3, 4\)"),
    (lambda: GRUCell(3, 4), lambda c: c.forward(np.zeros((2, 3)), np.zeros((2, 5))),
     r"expected shape \(2, 4\), got \(2, 5\)"),
    (lambda: GRUCell(3, 4), lambda c: c.init_weights(*[np.zeros((4, 4))] * 12),
     r"Wrx: expected shape \(4, 3\), got \(4, 4\)"),
])
def test_shape_errors_name_expected_and_received(make, call, message):
    with pytest.raises(ValueError, match=message):
        call(make())
