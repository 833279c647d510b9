"""SpecAugment masks: structure, independence, determinism."""
import numpy as np
import pytest
import torch

from common.speech.specaugment import freq_mask, spec_augment, time_mask


def _runs(mask_1d):
    """Lengths of the runs of True in a 1-D boolean array."""
    m = np.concatenate([[0], np.asarray(mask_1d, dtype=int), [0]])
    d = np.diff(m)
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def test_time_mask_bands_and_untouched_values():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 50, 8) + 1.0                     # no natural zeros
    y = time_mask(x, num_masks=2, max_width=7, generator=g)
    masked = y == 0
    frames = masked.all(dim=2)                          # a time mask covers whole frames
    assert torch.equal(masked, frames[:, :, None].expand_as(masked))
    assert torch.equal(y[~masked], x[~masked])          # everything else unchanged
    for b in range(64):
        runs = _runs(frames[b].numpy())
        assert len(runs) <= 2 and runs.sum() <= 14
    assert frames.any()                                  # some masking happened
    assert not torch.equal(frames[0], frames[1]) or not torch.equal(frames[1], frames[2])


def test_freq_mask_is_constant_over_time():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 20, 28) + 1.0
    y = freq_mask(x, num_masks=2, max_width=5, generator=g)
    masked = y == 0
    bins = masked.all(dim=1)                             # (B, F)
    assert torch.equal(masked, bins[:, None, :].expand_as(masked))
    for b in range(32):
        runs = _runs(bins[b].numpy())
        assert len(runs) <= 2 and all(r <= 10 for r in runs)


def test_masks_stay_within_lengths():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(40, 30, 4) + 1.0
    lengths = torch.randint(5, 31, (40,), generator=g)
    y = time_mask(x, num_masks=3, max_width=10, lengths=lengths, generator=g)
    frames = (y == 0).all(dim=2)
    for b in range(40):
        assert not frames[b, lengths[b]:].any()


def test_independent_per_sample_and_deterministic_under_seed():
    x = torch.rand(128, 40, 16) + 1.0
    a = spec_augment(x, generator=torch.Generator().manual_seed(5))
    b = spec_augment(x, generator=torch.Generator().manual_seed(5))
    c = spec_augment(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    patterns = {(a[i] == 0).numpy().tobytes() for i in range(128)}
    assert len(patterns) > 64                            # samples get their own masks
    assert a.dtype == x.dtype and a.shape == x.shape


def test_zero_width_or_count_is_identity_and_bad_shape_raises():
    x = torch.rand(4, 10, 3)
    assert torch.equal(time_mask(x, num_masks=0), x)
    assert torch.equal(freq_mask(x, max_width=0), x)
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        spec_augment(torch.rand(10, 3))


def test_padded_batch_padding_untouched_and_lengths_respected():
    from common.speech.utterances import collate_utterances
    g = torch.Generator().manual_seed(3)
    items = [(torch.rand(t, 6) + 1.0, None) for t in (30, 7, 18, 1)]
    batch = collate_utterances(items)
    y = spec_augment(batch.features, time_masks=3, time_width=8, freq_masks=2, freq_width=3,
                     lengths=batch.feature_lengths, mask_value=-5.0, generator=g)
    pad = ~batch.mask                                          # (B, T) padding frames
    assert torch.equal(y[pad], batch.features[pad])            # still exact zeros, not -5
    assert (y[batch.mask] == -5.0).any()                       # masking happened on real frames
    # same generator state without lengths: the masks reach into the padding
    y2 = spec_augment(batch.features, freq_masks=2, freq_width=3, time_masks=0,
                      mask_value=-5.0, generator=torch.Generator().manual_seed(3))
    assert (y2[pad] == -5.0).any()


def test_time_fraction_scales_masks_with_each_utterance_length():
    g = torch.Generator().manual_seed(7)
    x = torch.rand(200, 400, 4) + 1.0
    lengths = torch.where(torch.arange(200) % 2 == 0, torch.tensor(100), torch.tensor(400))
    y = spec_augment(x, time_masks=1, time_width=30, freq_masks=0, lengths=lengths, time_fraction=0.05,
                     generator=g)
    widths = np.array([(y[b] == 0).all(dim=1).sum().item() for b in range(200)])
    short, long = widths[0::2], widths[1::2]
    assert short.max() <= 5 and long.max() <= 20               # floor(0.05 * length), under time_width=30
    assert long.max() == 20 and short.max() == 5               # the whole range U{0..cap} is drawn
    assert 1.5 < long.mean() / max(short.mean(), 1e-9)        # longer utterances get wider masks
    # the absolute cap still holds for very long utterances; without a fraction, widths ignore the length
    y = spec_augment(x, time_masks=1, time_width=8, freq_masks=0, lengths=lengths, time_fraction=0.5, generator=g)
    assert max((y[b] == 0).all(dim=1).sum().item() for b in range(200)) <= 8
    y = spec_augment(x, time_masks=1, time_width=30, freq_masks=0, lengths=lengths, generator=g)
    assert max((y[b] == 0).all(dim=1).sum().item() for b in range(0, 200, 2)) > 5
    with pytest.raises(ValueError, match="time_fraction"):
        spec_augment(x, time_fraction=1.5, lengths=lengths)


def test_time_fraction_default_none_keeps_the_old_draws():
    x = torch.rand(16, 50, 6) + 1.0
    a = spec_augment(x, generator=torch.Generator().manual_seed(3))
    b = spec_augment(x, generator=torch.Generator().manual_seed(3), time_fraction=None)
    assert torch.equal(a, b)
