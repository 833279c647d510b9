"""Recurrent encoder pieces shared by the HW3 notebooks (CTC in hw3p2, the LAS listener).

- ``LockedDropout``: variational dropout, one mask per sequence shared by every time step
  (re-exported from ``common.nn_regularizers``, the AWD-LSTM regularisers).
- ``time_reduce``: pyramidal time reduction, frame pairs concatenated, odd lengths padded.
- ``BLSTM``: a bidirectional LSTM that never reads padding: over packed sequences, or (faster on
  a CPU, same result) two padded one-directional LSTMs with per-utterance reversal.
- ``PyramidalBLSTM``: ``time_reduce`` then ``BLSTM``: half the frames, twice the features in.

All take a padded batch (B, T, D) plus ``lengths`` (B,) and return the same pair.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from common.nn_regularizers import LockedDropout

__all__ = ["LockedDropout", "time_reduce", "reverse_padded", "BLSTM", "PyramidalBLSTM", "length_mask"]


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


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse every sequence of a padded batch within its own length: (B, T, ...) -> same shape,
    ``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``, the padding left in place."""
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    index = torch.where(t < n, n - 1 - t, t)                                   # (B, T)
    return x.gather(1, index.view(B, T, *[1] * (x.dim() - 2)).expand_as(x))


class BLSTM(nn.Module):
    """Bidirectional LSTM that never reads padding: (B, T, D_in), lengths -> (B, T, 2H), lengths.

    ``packed=True``: one bidirectional ``nn.LSTM`` over packed sequences, so the backward
    direction starts at each utterance's own last frame (cuDNN's fast path on a GPU).
    ``packed=False``: two one-directional LSTMs over the padded tensor, the backward one over
    each utterance reversed within its length (``reverse_padded``); the padding then comes after
    the real frames in both directions and cannot reach them: the same outputs, and several
    times faster on a CPU, where packed LSTMs take a slow path. Outputs beyond a length are 0.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 packed: bool = True):
        super().__init__()
        self.packed = packed
        if packed:
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        else:
            if num_layers != 1:
                raise ValueError("BLSTM(packed=False) is one layer; stack BLSTMs for more")
            self.forward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
            self.backward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T = x.shape[1]
        if len(lengths) and int(lengths.min()) < 1:
            raise ValueError(f"BLSTM: every sequence needs at least one frame, got lengths {lengths.tolist()}")
        if self.packed:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H)
            return out, lengths
        forward_out, _ = self.forward_lstm(x)                                  # (B, T, H)
        backward_out, _ = self.backward_lstm(reverse_padded(x, lengths))
        out = torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=-1)
        return out.masked_fill(~length_mask(lengths, T)[:, :, None], 0.0), lengths


class PyramidalBLSTM(nn.Module):
    """Listen-Attend-Spell's pBLSTM: halve time by concatenating frame pairs, then a BLSTM.

    (B, T, D_in), lengths -> (B, ceil(T/2), 2H), ceil(lengths/2).
    """

    def __init__(self, input_size: int, hidden_size: int, factor: int = 2, packed: bool = True):
        super().__init__()
        self.factor = factor
        self.blstm = BLSTM(factor * input_size, hidden_size, packed=packed)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = time_reduce(x, lengths, self.factor)
        return self.blstm(x, lengths)
