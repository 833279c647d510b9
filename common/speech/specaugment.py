"""SpecAugment time and frequency masking as batched torch ops (Park et al., 2019).

Everything runs on the tensor's device: one call masks a whole (B, T, F) batch with
independent random masks per sample, no Python loop over samples, no CPU round trip.
Masked entries are set to ``mask_value`` (0 = the mean after per-utterance CMVN).

Time masks of a fixed width hurt short utterances most: 4 masks of up to 30 frames can hide most of
a 100-frame word. ``time_fraction`` caps each mask at that fraction of the utterance's own length
(adaptive time masking, Park et al., 2020, "SpecAugment on large scale datasets": width at most
p_S x length), so a long utterance keeps ``time_width`` and a short one gets proportionally less.
"""
from __future__ import annotations

import torch

__all__ = ["time_mask", "freq_mask", "spec_augment"]


def _band_mask(batch: int, size: int, num_masks: int, max_width: int, limit: torch.Tensor | None,
               device, generator, fraction: float | None = None) -> torch.Tensor:
    """(batch, size) boolean mask, True inside ``num_masks`` random bands per row.

    Each band has width ~ U{0..w[b]} and lies within ``[0, limit[b])`` (default: size), where
    w[b] = max_width, or min(max_width, floor(fraction * limit[b])) with ``fraction``.
    """
    if num_masks <= 0 or max_width <= 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    if limit is None:
        limit = torch.full((batch,), size, device=device)
    limit = torch.as_tensor(limit).to(device=device, dtype=torch.long).clamp(max=size)
    if fraction is None:
        width = torch.randint(0, max_width + 1, (batch, num_masks), device=device, generator=generator)
    else:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"time_fraction must be in [0, 1] (a share of each utterance's frames), got {fraction}")
        cap = torch.clamp((fraction * limit).floor().long(), max=max_width)       # (B,)
        u = torch.rand(batch, num_masks, device=device, generator=generator)
        width = (u * (cap[:, None] + 1)).floor().long().clamp(max=cap[:, None])   # U{0..cap[b]}
    width = torch.minimum(width, limit[:, None])                                 # (B, M)
    room = (limit[:, None] - width + 1).clamp(min=1)                             # start choices
    start = (torch.rand(batch, num_masks, device=device, generator=generator) * room).long()
    pos = torch.arange(size, device=device)                                      # (size,)
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])      # (B, M, size)
    return inside.any(dim=1)


def time_mask(x: torch.Tensor, num_masks: int = 2, max_width: int = 10, lengths=None,
              mask_value: float = 0.0, generator: torch.Generator | None = None,
              fraction: float | None = None) -> torch.Tensor:
    """Mask ``num_masks`` bands of up to ``max_width`` consecutive frames per sample.

    x: (B, T, F); ``lengths`` (B,) keeps masks inside each sample's real frames. ``fraction``:
    each band also at most ``fraction`` of the sample's length (``lengths``, else T).
    Returns a new tensor; ``x`` is not modified.
    """
    B, T, _ = x.shape
    mask = _band_mask(B, T, num_masks, max_width, lengths, x.device, generator, fraction)  # (B, T)
    return x.masked_fill(mask[:, :, None], mask_value)


def freq_mask(x: torch.Tensor, num_masks: int = 2, max_width: int = 4, mask_value: float = 0.0,
              generator: torch.Generator | None = None, lengths=None) -> torch.Tensor:
    """Mask ``num_masks`` bands of up to ``max_width`` feature bins per sample (all frames).

    x: (B, T, F); with ``lengths`` (B,) the padding frames (t >= length) are left as they are.
    Returns a new tensor.
    """
    B, T, F = x.shape
    mask = _band_mask(B, F, num_masks, max_width, None, x.device, generator)[:, None, :]  # (B, 1, F)
    if lengths is not None:
        real = torch.arange(T, device=x.device)[None, :] < torch.as_tensor(lengths, device=x.device)[:, None]
        mask = mask & real[:, :, None]                                           # (B, T, F)
    return x.masked_fill(mask, mask_value)


def spec_augment(x: torch.Tensor, *, time_masks: int = 2, time_width: int = 10, freq_masks: int = 2,
                 freq_width: int = 4, lengths=None, mask_value: float = 0.0,
                 generator: torch.Generator | None = None, time_fraction: float | None = None) -> torch.Tensor:
    """Frequency then time masking of a (B, T, F) batch (the SpecAugment LD-style policy
    without time warping). With ``lengths`` (B,) of a padded batch, time masks lie inside each
    sample's real frames and padding frames are never changed. ``time_fraction`` (e.g. 0.05):
    each time mask at most that share of its utterance's frames (and at most ``time_width``);
    None: ``time_width`` frames whatever the length (the previous behaviour)."""
    if x.dim() != 3:
        raise ValueError(f"spec_augment expects (batch, time, features), got shape {tuple(x.shape)}")
    x = freq_mask(x, freq_masks, freq_width, mask_value, generator, lengths=lengths)
    return time_mask(x, time_masks, time_width, lengths, mask_value, generator, fraction=time_fraction)
