"""Splitting every batch between the ranks, so that GPUS changes the speed, not the optimisation.

A batch source that can shard (``FrameBatches``, ``BucketBatchSampler``, ``ShardedBatchSampler``,
``ShardedLoader``) holds its own ``sharding`` (a ``Sharding``: rank, world size, equal_steps),
``Sharding()`` (one process, no split) by default; ``fit`` sets it for the loop it runs through
``sharded(loader, equal_steps)`` and puts the previous one back afterwards. No module-level state:
a sampler's length and batches depend only on the sampler.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch

from .group import gather_objects, get_rank, get_world_size, is_distributed

__all__ = ["Sharding", "sharded", "sharding_of", "shard_slice", "ShardedBatchSampler", "ShardedLoader", "split_batch",
           "shards_itself"]


@dataclasses.dataclass(frozen=True)
class Sharding:
    """This rank's share of every batch. ``equal_steps``: every rank must take the same number of
    steps (training: DDP synchronises each backward), so a batch with fewer units than ranks is
    skipped by all; outside training a rank whose shard is empty just skips that batch."""
    rank: int = 0
    world: int = 1
    equal_steps: bool = False

    def keeps(self, units: int) -> bool:
        """Whether a batch of ``units`` items is used at all (by every rank)."""
        return units >= self.world if self.equal_steps else True

    def part(self, units: int) -> slice:
        """This rank's contiguous slice of ``units`` items."""
        return shard_slice(units, self.rank, self.world)


def _sharding_targets(loader) -> list:
    """The objects of ``loader`` that shard (the loader itself and/or its DataLoader's batch sampler)."""
    return [t for t in (loader, getattr(loader, "batch_sampler", None))
            if t is not None and getattr(t, "shards_itself", False)]


def sharding_of(loader) -> Sharding:
    """The sharding ``loader`` currently applies (``Sharding()`` for a loader that does not shard)."""
    targets = _sharding_targets(loader)
    return targets[0].sharding if targets else Sharding()


@contextlib.contextmanager
def sharded(loader, equal_steps: bool = True):
    """Inside: ``loader`` gives this rank its shard of every batch (in a distributed run; else unchanged)."""
    sharding = Sharding(get_rank(), get_world_size(), bool(equal_steps)) if is_distributed() else Sharding()
    targets = _sharding_targets(loader)
    previous = [t.sharding for t in targets]
    for t in targets:
        t.sharding = sharding
    try:
        yield
    finally:
        for t, p in zip(targets, previous):
            t.sharding = p


def shard_slice(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` items (the first ``n % world`` parts one longer)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def shards_itself(loader) -> bool:
    """Whether ``loader`` (or its DataLoader's batch sampler) splits batches between ranks by itself."""
    return bool(_sharding_targets(loader))


class _Sharder:
    """What ``ShardedBatchSampler`` and ``ShardedLoader`` share: the wrapped source, its sharding,
    the check that every rank drew the same first batch, attribute pass-through."""
    shards_itself = True
    sharding = Sharding()
    _source = "source"                        # the attribute holding the wrapped object

    def __len__(self) -> int:                 # the global count (a batch with fewer units than ranks is skipped)
        return len(getattr(self, self._source))

    def __iter__(self):
        s = self.sharding
        for k, batch in enumerate(getattr(self, self._source)):
            if s.world == 1:
                yield batch
                continue
            if k == 0:
                _check_same_on_ranks(self._key(batch))
            piece = self._piece(batch, s)
            if piece is not None:
                yield piece

    def __getattr__(self, name):              # set_epoch, state_dict, load_state_dict, ...
        if name in ("_source", "batch_sampler", "loader"):
            raise AttributeError(name)
        return getattr(getattr(self, self._source), name)


class ShardedBatchSampler(_Sharder):
    """A batch sampler of which each rank yields its contiguous part of every batch.

    With one process (or outside ``sharded()``) it yields the batches unchanged. ``group``:
    split only at multiples of it (P x K batches: K images of an identity stay on one rank).
    The ranks must draw the same batches (a seeded sampler): the first batch of every epoch
    is compared across ranks and a difference is an error. ``set_epoch``, ``state_dict`` and
    ``load_state_dict`` pass through to the sampler.
    """
    _source = "batch_sampler"

    def __init__(self, batch_sampler, group: int = 1):
        self.batch_sampler, self.group = batch_sampler, int(group)

    @staticmethod
    def _key(batch) -> list:
        return np.asarray(list(batch), dtype=np.int64).reshape(-1).tolist()

    def _piece(self, batch, s: Sharding):
        units = len(batch) // self.group
        if not s.keeps(units):
            return None
        part = s.part(units)
        return list(batch)[part.start * self.group:part.stop * self.group] or None


class ShardedLoader(_Sharder):
    """Any loader whose batches are split on arrival: each rank keeps its part of every batch
    (every rank still loads the whole batch; prefer a sharding sampler where loading costs)."""
    _source = "loader"

    def __init__(self, loader):
        self.loader = loader

    _key = staticmethod(lambda batch: _digest(batch))

    def _piece(self, batch, s: Sharding):
        n = _batch_size(batch)
        part = s.part(n)
        if not s.keeps(n) or part.start == part.stop:
            return None
        return split_batch(batch, s.rank, s.world)


def _check_same_on_ranks(key) -> None:
    """An error unless every rank's first batch gives the same ``key``."""
    seen = gather_objects(key)
    if any(other != seen[0] for other in seen[1:]):
        raise RuntimeError("the ranks drew different batches (the data order differs between processes): give the "
                           "sampler / DataLoader a seeded generator (DataLoader(..., generator=torch.Generator()"
                           ".manual_seed(SEED))) so that every rank draws the same order")


def split_batch(batch, rank: int, world: int):
    """Rank ``rank``'s part of a batch along dim 0: tensors, lists, tuples, dicts, dataclasses
    (e.g. SpeechBatch) and objects with a ``shard(rank, world)`` method; other values are kept."""
    if hasattr(batch, "shard") and callable(batch.shard):
        return batch.shard(rank, world)
    if torch.is_tensor(batch):
        return batch[shard_slice(batch.shape[0], rank, world)] if batch.dim() else batch
    if isinstance(batch, dict):
        return {k: split_batch(v, rank, world) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(split_batch(v, rank, world) for v in batch))
    if isinstance(batch, (tuple, list)):
        if batch and all(isinstance(v, (str, int, float)) for v in batch):
            return batch[shard_slice(len(batch), rank, world)]      # per-item ids / labels
        return type(batch)(split_batch(v, rank, world) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: split_batch(getattr(batch, f.name), rank, world)
                                             for f in dataclasses.fields(batch) if f.init})
    return batch


def _digest(batch) -> list:
    """Numbers that tell batches apart: shape and position-weighted sum of each tensor in it."""
    out = []
    for t in (batch if isinstance(batch, (tuple, list)) else [batch]):
        t = getattr(t, "features", t)
        if torch.is_tensor(t):
            flat = t.detach().double().nan_to_num().flatten()
            weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device).sqrt()
            out += [tuple(t.shape), round(float((flat * weights).sum()), 6)]
    return out


def _batch_size(batch) -> int:
    if torch.is_tensor(batch):
        return batch.shape[0]
    if isinstance(batch, dict):
        return _batch_size(next(iter(batch.values())))
    if isinstance(batch, (tuple, list)) and batch and not isinstance(batch[0], (str, int, float)):
        return _batch_size(batch[0])
    return len(batch)
