"""Language-model batches as the homework makes them: one stream, ``B`` rows, BPTT windows.

The corpus is concatenated into one stream of token ids and cut into ``batch_size`` equal rows
(the tail that does not fill a row is dropped); row ``b`` is read left to right, so the hidden
state after one window is the right initial state for the next window of the same row::

    stream = torch.tensor(np.concatenate(articles))
    batches = BPTTBatcher(stream, batch_size=80, bptt=70, variable=True, seed=0)
    for batch in batches:              # batch.inputs, batch.targets: (B, L); batch.reset at the epoch start
        ...

With ``variable=True`` the window length is drawn per window (AWD-LSTM): ``bptt`` with
probability ``p_full`` else ``bptt / 2``, plus Gaussian noise of ``std``, at least ``min_len``,
so that the window borders move from epoch to epoch. The lengths are a function of
(``seed``, epoch): ``set_epoch`` (called by ``fit`` through ``stateful=``) fixes the epoch,
otherwise each pass over the batcher advances it. Every target position of every row is
predicted exactly once per epoch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .corpus import DataFormatError

__all__ = ["BPTTBatch", "BPTTBatcher", "window_lengths"]


class BPTTBatch(NamedTuple):
    inputs: torch.Tensor      # (B, L) token ids
    targets: torch.Tensor     # (B, L) the next token of each input
    reset: bool               # first window of the epoch: start from a zero state

    def to(self, device, non_blocking: bool = True) -> BPTTBatch:
        return BPTTBatch(self.inputs.to(device, non_blocking=non_blocking),
                         self.targets.to(device, non_blocking=non_blocking), self.reset)


def window_lengths(total: int, bptt: int, *, variable: bool, rng: np.random.Generator | None = None,
                   p_full: float = 0.95, std: float = 5.0, min_len: int = 5) -> list[int]:
    """Window lengths that add up to exactly ``total`` target positions."""
    lengths, pos = [], 0
    while pos < total:
        if variable:
            mean = bptt if rng.random() < p_full else bptt / 2
            length = max(min_len, int(round(rng.normal(mean, std))))
        else:
            length = bptt
        length = min(length, total - pos)
        lengths.append(length)
        pos += length
    return lengths


class BPTTBatcher:
    """Windows of ``batch_size`` parallel streams; see the module docstring."""

    def __init__(self, stream, batch_size: int, bptt: int = 70, *, variable: bool = False, p_full: float = 0.95,
                 std: float = 5.0, min_len: int = 5, seed: int = 0, device=None):
        stream = torch.as_tensor(np.asarray(stream) if not torch.is_tensor(stream) else stream)
        if stream.ndim != 1 or stream.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise DataFormatError(f"the stream must be a 1-D array of integer token ids, got {stream.dtype} "
                                  f"of shape {tuple(stream.shape)}")
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch_size and bptt must be positive, got {batch_size} and {bptt}")
        per_row = len(stream) // batch_size
        if per_row < 2:
            raise DataFormatError(f"the corpus has {len(stream)} tokens: too few for {batch_size} streams of at "
                                  "least 2 tokens; use a smaller batch size or more text")
        # (B, N): row b is the b-th consecutive slice of the stream
        self.rows = stream[:per_row * batch_size].long().view(batch_size, per_row).to(device)
        self.batch_size, self.bptt, self.variable = batch_size, bptt, variable
        self.p_full, self.std, self.min_len, self.seed = p_full, std, min_len, seed
        self.epoch, self._fixed = 0, False

    @property
    def tokens_per_epoch(self) -> int:
        """Target positions per epoch (each predicted once): B * (N - 1)."""
        return self.batch_size * (self.rows.size(1) - 1)

    def lengths(self, epoch: int | None = None) -> list[int]:
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch]) if self.variable else None
        return window_lengths(self.rows.size(1) - 1, self.bptt, variable=self.variable, rng=rng,
                              p_full=self.p_full, std=self.std, min_len=self.min_len)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._fixed = int(epoch), True

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])

    def __len__(self) -> int:
        return len(self.lengths())

    def __iter__(self):
        pos = 0
        for i, length in enumerate(self.lengths()):
            yield BPTTBatch(self.rows[:, pos:pos + length], self.rows[:, pos + 1:pos + 1 + length], i == 0)
            pos += length
        if not self._fixed:
            self.epoch += 1
        self._fixed = False
