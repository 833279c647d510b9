"""AWD-LSTM regularisers: masks shared over time / over a word's occurrences, identity in eval,
weight drop equal to an LSTM run with the dropped weights."""
import pytest
import torch
import torch.nn.functional as F

from common.nn_regularizers import EmbeddingDropout, LockedDropout, WeightDrop


def test_locked_dropout_one_mask_per_sequence_shared_over_time():
    torch.manual_seed(0)
    x = torch.rand(4, 50, 16) + 0.5                     # no zeros in the input
    drop = LockedDropout(0.5).train()
    y = drop(x)
    ratio = y / x                                        # the mask (0 or 2)
    assert torch.equal(ratio, ratio[:, :1].expand_as(ratio))             # same at every time step
    assert set(ratio.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(ratio[0, 0], ratio[1, 0])                    # different per sequence
    drop.eval()
    assert drop(x) is x


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(1)
    emb = torch.nn.Embedding(20, 8)
    drop = EmbeddingDropout(emb, 0.5).train()
    tokens = torch.arange(20).repeat(3, 1)               # every word three times
    out = drop(tokens)
    dropped = (out == 0).all(-1)                         # (3, 20)
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[:1].expand_as(dropped))        # a word is dropped everywhere
    kept = ~dropped[0]
    assert torch.allclose(out[0, kept], emb.weight[kept] * 2)           # survivors rescaled by 1/(1-p)
    drop.eval()
    assert torch.equal(drop(tokens), emb(tokens))


def _plain_lstm(weight_drop, weight_hh):
    lstm = torch.nn.LSTM(5, 7, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(weight_drop.module.weight_ih_l0)
        lstm.bias_ih_l0.copy_(weight_drop.module.bias_ih_l0)
        lstm.bias_hh_l0.copy_(weight_drop.module.bias_hh_l0)
        lstm.weight_hh_l0.copy_(weight_hh)
    return lstm


def test_weight_drop_runs_the_lstm_with_one_dropped_weight_matrix():
    torch.manual_seed(2)
    wd = WeightDrop(torch.nn.LSTM(5, 7, batch_first=True), ["weight_hh_l0"], p=0.5)
    x = torch.randn(3, 11, 5)
    raw = wd.weight_hh_l0_raw
    torch.manual_seed(3)
    y, _ = wd.train()(x)
    torch.manual_seed(3)                                 # the same draw, done by hand
    dropped = F.dropout(raw.detach(), 0.5, True)
    assert (dropped == 0).float().mean().item() == pytest.approx(0.5, abs=0.1)
    ref, _ = _plain_lstm(wd, dropped)(x)
    torch.testing.assert_close(y, ref)
    y.square().sum().backward()                          # gradients reach the raw weights
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    # eval: the full weights, and again after switching back and forth
    ref_eval, _ = _plain_lstm(wd, raw.detach())(x)
    wd.eval()
    torch.testing.assert_close(wd(x)[0], ref_eval)
    wd.train()(x)
    torch.testing.assert_close(wd.eval()(x)[0], ref_eval)
    assert sorted(n for n, _ in wd.named_parameters()) == [
        "module.bias_hh_l0", "module.bias_ih_l0", "module.weight_ih_l0", "weight_hh_l0_raw"]


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="has no parameter 'weight_hh_l9'"):
        WeightDrop(torch.nn.LSTM(2, 2), ["weight_hh_l9"])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LockedDropout(1.0)
