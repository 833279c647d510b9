"""BPTT batches: every target once per epoch, rows read left to right, state carried exactly."""
import numpy as np
import pytest
import torch

from common.text import BPTTBatcher, DataFormatError, window_lengths


def test_windows_cover_the_stream_exactly_once_per_epoch():
    stream = torch.arange(1003)                          # token id = position: coverage is visible
    batches = BPTTBatcher(stream, batch_size=4, bptt=12, variable=True, std=3, seed=5)
    for epoch in range(3):
        batches.set_epoch(epoch)
        got = list(batches)
        assert len(got) == len(batches)
        assert [b.reset for b in got] == [True] + [False] * (len(got) - 1)
        inputs = torch.cat([b.inputs for b in got], dim=1)
        targets = torch.cat([b.targets for b in got], dim=1)
        rows = stream[:1000].view(4, 250)                # the tail (3 tokens) does not fill a row
        assert torch.equal(inputs, rows[:, :-1]) and torch.equal(targets, rows[:, 1:])
        assert sum(b.targets.size(1) for b in got) == 249
        assert batches.tokens_per_epoch == 4 * 249


def test_window_lengths_vary_by_epoch_and_repeat_for_the_same_epoch():
    batches = BPTTBatcher(np.arange(20000), 8, 35, variable=True, seed=1)
    first, again, second = batches.lengths(0), batches.lengths(0), batches.lengths(1)
    assert first == again and first != second
    assert sum(first) == sum(second) == 20000 // 8 - 1
    assert min(first[:-1]) >= 5 and 10 < np.mean(first) < 40
    # without set_epoch each pass is the next epoch; with it the epoch is the one set
    fresh = BPTTBatcher(np.arange(20000), 8, 35, variable=True, seed=1)
    assert [b.inputs.size(1) for b in fresh] == first
    assert [b.inputs.size(1) for b in fresh] == second
    fresh.set_epoch(0)
    assert [b.inputs.size(1) for b in fresh] == first
    fresh.load_state_dict(batches.state_dict())
    assert fresh.lengths() == batches.lengths()
    assert window_lengths(10, 4, variable=False) == [4, 4, 2]


def test_state_carried_across_windows_equals_one_pass_over_the_rows():
    torch.manual_seed(0)
    emb, lstm = torch.nn.Embedding(50, 6), torch.nn.LSTM(6, 9, batch_first=True)
    stream = torch.randint(0, 50, (403,))
    batches = BPTTBatcher(stream, batch_size=3, bptt=10, variable=True, std=4, seed=2)
    outs, state = [], None
    for b in batches:
        state = None if b.reset else tuple(s.detach() for s in state)
        out, state = lstm(emb(b.inputs), state)
        outs.append(out)
    whole, _ = lstm(emb(batches.rows[:, :-1]))
    torch.testing.assert_close(torch.cat(outs, dim=1), whole)


def test_bad_streams_are_clear_errors():
    with pytest.raises(DataFormatError, match="too few"):
        BPTTBatcher(np.arange(5), batch_size=4)
    with pytest.raises(DataFormatError, match="integer token ids"):
        BPTTBatcher(np.zeros(100, dtype=np.float32), batch_size=4)
    with pytest.raises(DataFormatError, match="too few"):
        BPTTBatcher(np.array([], dtype=np.int64), batch_size=1)
