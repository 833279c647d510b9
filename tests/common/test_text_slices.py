"""BPTTSlices: epochs of at most N tokens that together are the batcher's passes, window for window."""
import numpy as np
import pytest
import torch

from common.text import BPTTBatcher
from common.text.slices import BPTTSlices


def _batcher():
    return BPTTBatcher(np.arange(10_000) % 97, 8, 35, variable=True, seed=3)


def _windows(it):
    return [(b.inputs.clone(), b.targets.clone(), b.reset) for b in it]


def test_the_slices_of_a_pass_are_the_pass_window_for_window():
    ref, sliced = _batcher(), BPTTSlices(_batcher(), max_tokens=2_000)
    n = sliced.slices_per_pass
    assert n == 5                                                   # 8 rows x 1249 targets / 2000
    for pass_ in range(2):
        ref.set_epoch(pass_)
        whole = _windows(ref)
        got = []
        for j in range(n):
            sliced.set_epoch(pass_ * n + j)
            part = _windows(sliced)
            assert len(part) == len(sliced) > 0
            assert sum(x.numel() for x, _, _ in part) <= 2_000 + 8 * 45      # at most one window over
            got += part
        assert len(got) == len(whole)
        for (a, b, r), (c, d, s) in zip(got, whole):
            assert torch.equal(a, c) and torch.equal(b, d) and r == s
        assert [r for _, _, r in got].count(True) == 1             # only the pass's first window resets


def test_no_limit_is_the_batcher_itself():
    ref, sliced = _batcher(), BPTTSlices(_batcher())
    for epoch in range(3):
        ref.set_epoch(epoch)
        sliced.set_epoch(epoch)
        a, b = _windows(ref), _windows(sliced)
        assert len(a) == len(b) and all(torch.equal(x[0], y[0]) for x, y in zip(a, b))


def test_state_round_trip_and_bad_values():
    s = BPTTSlices(_batcher(), 1_000)
    s.set_epoch(7)
    t = BPTTSlices(_batcher(), 1_000)
    t.load_state_dict(s.state_dict())
    assert t.epoch == 7 and _windows(t)[0][0].equal(_windows(s)[0][0])
    with pytest.raises(ValueError, match="EPOCH_TOKENS must be a positive"):
        BPTTSlices(_batcher(), 0)
