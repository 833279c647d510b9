"""The HW3 recurrent pieces (common.speech.layers): pyramidal time reduction with odd lengths,
the pBLSTM over packed sequences against a hand-written LSTM, and locked dropout."""
import pytest
import torch

from common.speech.layers import BLSTM, LockedDropout, PyramidalBLSTM, length_mask, reverse_padded, time_reduce


def test_time_reduce_odd_lengths_by_hand():
    x = torch.arange(1.0, 31.0).reshape(2, 5, 3)             # (B=2, T=5, D=3), no zeros inside
    lengths = torch.tensor([5, 3])
    x[1, 3:] = 99.0                                           # padding garbage must not leak in
    out, new_lengths = time_reduce(x, lengths)
    f = lambda b, t: x[b, t].tolist()                         # noqa: E731
    zero = [0.0] * 3
    expected = torch.tensor([
        [f(0, 0) + f(0, 1), f(0, 2) + f(0, 3), f(0, 4) + zero],    # length 5 -> 3, last frame paired with 0
        [f(1, 0) + f(1, 1), f(1, 2) + zero, zero + zero],           # length 3 -> 2, then padding
    ])
    assert out.shape == (2, 3, 6)
    assert torch.equal(out, expected)
    assert new_lengths.tolist() == [3, 2]


@pytest.mark.parametrize("factor", [2, 3])
def test_time_reduce_lengths_are_ceil(factor):
    lengths = torch.tensor([1, 2, 3, 4, 5, 6, 7])
    out, new = time_reduce(torch.randn(7, 7, 2), lengths, factor)
    assert new.tolist() == [-(-n // factor) for n in lengths.tolist()]
    assert out.shape == (7, -(-7 // factor), 2 * factor)


def _lstm_by_hand(x, w_ih, w_hh, b_ih, b_hh):
    """x (T, D_in) -> (T, H) with the LSTM equations (gates i, f, g, o as in torch)."""
    H = w_hh.shape[1]
    h, c, out = torch.zeros(H, dtype=x.dtype), torch.zeros(H, dtype=x.dtype), []
    for x_t in x:
        z = w_ih @ x_t + b_ih + w_hh @ h + b_hh
        i, f, g, o = z[:H].sigmoid(), z[H:2 * H].sigmoid(), z[2 * H:3 * H].tanh(), z[3 * H:].sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        out.append(h)
    return torch.stack(out)


def test_pyramidal_blstm_matches_hand_computation_with_odd_lengths():
    torch.manual_seed(0)
    layer = PyramidalBLSTM(input_size=3, hidden_size=4).double()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 5])                          # odd, even, odd
    out, new_lengths = layer(x, lengths)
    assert out.shape == (3, 4, 8) and new_lengths.tolist() == [4, 2, 3]
    lstm = layer.blstm.lstm
    fwd = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    bwd = [lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse, lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse]
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            frames = x[b, :n]
            if n % 2:                                          # odd: the last frame is paired with zeros
                frames = torch.cat([frames, torch.zeros(1, 3, dtype=x.dtype)])
            pairs = frames.reshape(-1, 6)                      # (ceil(n/2), 2 D)
            expected = torch.cat([_lstm_by_hand(pairs, *fwd),
                                  _lstm_by_hand(pairs.flip(0), *bwd).flip(0)], dim=1)
            m = len(pairs)
            torch.testing.assert_close(out[b, :m], expected, rtol=1e-10, atol=1e-12)
            assert torch.all(out[b, m:] == 0)                  # padding stays zero


def test_packing_matters_for_the_backward_direction():
    """The same layer run over the padded batch without packing differs (the backward LSTM
    would start in the padding): the hand comparison above could fail."""
    torch.manual_seed(1)
    layer = BLSTM(2, 3).double()
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    lengths = torch.tensor([6, 3])
    packed, _ = layer(x, lengths)
    padded, _ = layer.lstm(x.masked_fill(~length_mask(lengths, 6)[:, :, None], 0.0))
    assert torch.allclose(packed[0], padded[0])                # full-length utterance: identical
    assert not torch.allclose(packed[1, :3, 3:], padded[1, :3, 3:])  # shorter one: backward half differs


def test_reverse_padded_by_hand():
    x = torch.arange(10.0).reshape(2, 5)
    out = reverse_padded(x, torch.tensor([5, 3]))
    assert out.tolist() == [[4.0, 3.0, 2.0, 1.0, 0.0], [7.0, 6.0, 5.0, 8.0, 9.0]]
    assert torch.equal(reverse_padded(out, torch.tensor([5, 3])), x)


def test_padded_blstm_equals_packed_blstm():
    """packed=False (two padded one-directional LSTMs, the backward one over per-utterance reversed
    input) gives the packed layer's outputs and gradients when it has the same weights."""
    torch.manual_seed(3)
    packed = PyramidalBLSTM(3, 4).double()
    padded = PyramidalBLSTM(3, 4, packed=False).double()
    lstm = packed.blstm.lstm
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(padded.blstm.forward_lstm, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0"))
            getattr(padded.blstm.backward_lstm, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0_reverse"))
    x = torch.randn(4, 9, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([9, 2, 5, 8])
    out_packed, n_packed = packed(x, lengths)
    out_padded, n_padded = padded(x, lengths)
    torch.testing.assert_close(out_padded, out_packed, rtol=1e-10, atol=1e-12)
    assert torch.equal(n_packed, n_padded)
    g_packed, = torch.autograd.grad(out_packed.square().sum(), x)
    g_padded, = torch.autograd.grad(out_padded.square().sum(), x)
    torch.testing.assert_close(g_padded, g_packed, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="one layer"):
        BLSTM(3, 4, num_layers=2, packed=False)


def test_locked_dropout_same_mask_over_time():
    torch.manual_seed(0)
    p = 0.4
    drop = LockedDropout(p).train()
    x = torch.randn(8, 50, 300).abs() + 0.1                   # no zeros of its own
    out = drop(x)
    mask = out / x                                             # (B, T, D) in {0, 1/(1-p)}
    assert torch.allclose(mask, mask[:, :1].expand_as(mask))  # one mask per utterance and feature, every frame
    values = mask[:, 0].flatten()
    assert torch.all((values == 0) | torch.isclose(values, torch.tensor(1 / (1 - p))))
    assert abs(float((values == 0).float().mean()) - p) < 0.05
    assert not torch.equal(mask[0, 0], mask[1, 0])            # a new mask per utterance
    assert not torch.equal(drop(x), out)                       # and per call


def test_locked_dropout_identity_in_eval_and_at_zero():
    x = torch.randn(4, 10, 6)
    assert LockedDropout(0.5).eval()(x) is x
    assert LockedDropout(0.0).train()(x) is x


def test_locked_dropout_gradient_uses_the_mask():
    torch.manual_seed(2)
    drop = LockedDropout(0.5).train()
    x = torch.randn(2, 5, 7, requires_grad=True)
    out = drop(x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, out.detach() / x.detach())


def test_locked_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="must be in"):
        LockedDropout(1.0)
