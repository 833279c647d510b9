"""Recurrent encoder pieces shared by the HW3 notebooks (CTC in hw3p2, the LAS listener).

- ``LockedDropout``: variational dropout, one mask per sequence shared by every time step
  (re-exported from ``common.nn_regularizers``, the AWD-LSTM regularisers).
- ``time_reduce``: pyramidal time reduction, frame pairs concatenated, odd lengths padded.
- ``BLSTM``: a bidirectional LSTM run over packed sequences (padding never enters the state).
- ``PyramidalBLSTM``: ``time_reduce`` then ``BLSTM``: half the frames, twice the features in.

All take a padded batch (B, T, D) plus ``lengths`` (B,) and return the same pair.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..nn_regularizers import LockedDropout

__all__ = ["LockedDropout", "time_reduce", "BLSTM", "PyramidalBLSTM", "length_mask"]


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) bool, True on the real frames ``t < lengths[b]``."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def time_reduce(x: torch.Tensor, lengths: torch.Tensor, factor: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate every ``factor`` consecutive frames: (B, T, D) -> (B, ceil(T/f), f*D).

    Frames beyond each utterance's length are zeroed first, so an odd-length utterance's
    last output frame is [x_last, 0] and never mixes in another frame's padding; the new
    lengths are ``ceil(lengths / factor)`` (no frame dropped).
    """
    B, T, D = x.shape
    x = x.masked_fill(~length_mask(lengths, T)[:, :, None], 0.0)
    pad = (-T) % factor
    if pad:
        x = torch.cat([x, x.new_zeros(B, pad, D)], dim=1)
    x = x.reshape(B, (T + pad) // factor, factor * D)
    return x, (lengths + factor - 1) // factor


class BLSTM(nn.Module):
    """Bidirectional LSTM over packed sequences: (B, T, D_in), lengths -> (B, T, 2H), lengths.

    Packing makes the backward direction start at each utterance's own last frame instead of
    at the batch's padding; outputs beyond a length are 0.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T = x.shape[1]
        if len(lengths) and int(lengths.min()) < 1:
            raise ValueError(f"BLSTM: every sequence needs at least one frame, got lengths {lengths.tolist()}")
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)      # (B, T, 2H)
        return out, lengths


class PyramidalBLSTM(nn.Module):
    """Listen-Attend-Spell's pBLSTM: halve time by concatenating frame pairs, then a BLSTM.

    (B, T, D_in), lengths -> (B, ceil(T/2), 2H), ceil(lengths/2).
    """

    def __init__(self, input_size: int, hidden_size: int, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.blstm = BLSTM(factor * input_size, hidden_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = time_reduce(x, lengths, self.factor)
        return self.blstm(x, lengths)
