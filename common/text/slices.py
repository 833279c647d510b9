"""Epochs shorter than a pass over the corpus: ``BPTTSlices`` cuts every pass of a ``BPTTBatcher``
into consecutive slices of at most ``max_tokens`` target tokens, one slice per epoch.

Why: ``fit`` checkpoints, validates and (with ``TIME_BUDGET``) decides to stop only at epoch ends.
On a large corpus a whole pass can take longer than the time budget (a 300k-word corpus: over three
minutes per LSTM pass on one CPU thread), so the budget could not stop training in time, and the
learning-rate schedule could not be sized to it. With slices, epoch ``e`` is slice ``e % n`` of pass
``e // n`` (``n`` slices per pass, of equal numbers of windows); slice ``j > 0`` continues the rows
where slice ``j - 1`` stopped (its first window is no ``reset``, so a recurrent model carries its state
on), and every target position is still predicted once per pass. ``max_tokens=None``: one slice per
pass, the batcher's own epochs.

It is a function of the epoch number (``set_epoch``, which ``fit`` calls through ``stateful=``), so a
resumed run reads exactly the windows the interrupted one would have read.
"""
from __future__ import annotations

import math

from .batching import BPTTBatcher

__all__ = ["BPTTSlices"]


class BPTTSlices:
    """One slice of at most ``max_tokens`` target tokens of a pass of ``batcher`` per epoch."""

    def __init__(self, batcher: BPTTBatcher, max_tokens: int | None = None):
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"EPOCH_TOKENS must be a positive number of tokens or None (a whole pass per epoch), "
                             f"got {max_tokens!r}")
        self.batcher, self.max_tokens = batcher, max_tokens
        self.epoch, self._fixed = 0, False

    @property
    def slices_per_pass(self) -> int:
        if self.max_tokens is None:
            return 1
        return max(1, min(len(self.batcher.lengths(0)), math.ceil(self.batcher.tokens_per_epoch / self.max_tokens)))

    def _window_range(self, epoch: int) -> tuple[int, int, int]:
        """(pass, first window, end window) of ``epoch``."""
        n = self.slices_per_pass
        pass_, j = divmod(epoch, n)
        windows = len(self.batcher.lengths(pass_))
        return pass_, j * windows // n, (j + 1) * windows // n

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._fixed = int(epoch), True

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "max_tokens": self.max_tokens, "batcher": self.batcher.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "batcher" not in state:            # a checkpoint that saved the batcher itself (whole passes)
            self.batcher.load_state_dict(state)
            self.epoch = int(state["epoch"])
            return
        self.batcher.load_state_dict(state["batcher"])
        self.epoch = int(state["epoch"])

    def __len__(self) -> int:
        _, lo, hi = self._window_range(self.epoch)
        return hi - lo

    def __iter__(self):
        pass_, lo, hi = self._window_range(self.epoch)
        self.batcher.set_epoch(pass_)
        for i, batch in enumerate(self.batcher):
            if i >= hi:
                break
            if i >= lo:
                yield batch
        if not self._fixed:
            self.epoch += 1
        self._fixed = False
