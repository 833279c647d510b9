"""Padded batches of variable-length utterances and a length-bucketing batch sampler.

Re-exported by ``common.speech.utterances`` (import them from there). The sampler puts
utterances of similar length together, so that a batch holds about ``max_frames`` padded
frames whatever the lengths, and far fewer of them are padding (benchmarks/padding.py).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from common.engine.distributed import Sharding

__all__ = ["BucketBatchSampler", "SpeechBatch", "collate_utterances", "padding_fraction"]


class BucketBatchSampler:
    """Batches of indices whose padded size ``len(batch) * max(length)`` stays within
    ``max_frames`` (an utterance longer than the budget is a batch of its own).

    Every epoch uses every utterance exactly once (``drop_last`` drops the last batch of the
    length order, the longest utterances' remainder). With ``shuffle`` the lengths are
    jittered by up to ``length_noise`` (relative) before sorting, so batches change from
    epoch to epoch, and the batch order is shuffled; all of it is a function of
    (seed, epoch), so a run is reproducible. ``state_dict()`` holds the epoch and the number
    of batches already handed out: after ``load_state_dict`` the next iteration continues
    that epoch's order where it stopped (with DataLoader workers, that count runs ahead of
    the batches consumed by the prefetch depth; checkpoints at epoch ends are exact).
    ``set_epoch(e)`` for a new epoch starts it from its first batch.

    Data-parallel training (``sharding`` set by ``common.engine.distributed.sharded``, as ``fit`` does): the
    batches are those of one process, except that each holds at least one utterance per rank
    (an over-budget utterance gets company, a short remainder joins the batch before it); rank
    r takes utterances r, r + world, ... of each batch (they are length-sorted, so every rank's
    part pads alike). The parts are disjoint and cover the epoch; ``state_dict`` counts batches
    of all ranks together, so a checkpoint resumes with any number of processes.
    """
    shards_itself = True
    sharding = Sharding()          # this rank's share; fit sets it while it iterates

    def __init__(self, lengths, max_frames: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, length_noise: float = 0.05):
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if len(self.lengths) == 0:
            raise ValueError("BucketBatchSampler needs at least one utterance")
        if max_frames <= 0:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        self.max_frames, self.shuffle, self.seed = int(max_frames), shuffle, int(seed)
        self.drop_last, self.length_noise = drop_last, float(length_noise)
        self.epoch, self.position = 0, 0
        self._cache = None

    def _batches(self, min_size: int = 1) -> list[list[int]]:
        if self._cache is not None and self._cache[:2] == (self.epoch, min_size):
            return self._cache[2]
        rng = np.random.default_rng([self.seed, self.epoch])
        keys = self.lengths.astype(np.float64)
        if self.shuffle:
            keys = keys * np.exp(rng.uniform(-self.length_noise, self.length_noise, len(keys)))
            order = rng.permutation(len(keys))                       # random ties
            order = order[np.argsort(keys[order], kind="stable")]
        else:
            order = np.argsort(keys, kind="stable")
        batches, current, longest = [], [], 0
        for i in order.tolist():
            t = int(self.lengths[i])
            if len(current) >= min_size and (len(current) + 1) * max(longest, t) > self.max_frames:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, t)
        if current and not self.drop_last:
            if len(current) < min_size and batches:
                batches[-1].extend(current)
            else:
                batches.append(current)
        if self.shuffle:
            batches = [batches[k] for k in rng.permutation(len(batches))]
        self._cache = (self.epoch, min_size, batches)
        return batches

    def __len__(self) -> int:
        return len(self._batches(self.sharding.world))

    def __iter__(self):
        rank, world, equal_steps = self.sharding.rank, self.sharding.world, self.sharding.equal_steps
        batches = self._batches(world)
        start = self.position if 0 < self.position < len(batches) else 0
        for k in range(start, len(batches)):
            self.position = k + 1
            if world == 1:
                yield list(batches[k])
            elif len(batches[k]) >= world or not equal_steps:
                part = list(batches[k][rank::world])
                if part:
                    yield part

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                "max_frames": self.max_frames, "num_utterances": len(self.lengths)}

    def load_state_dict(self, state: dict) -> None:
        if state["num_utterances"] != len(self.lengths) or state["max_frames"] != self.max_frames:
            raise ValueError(f"sampler state is for {state['num_utterances']} utterances and "
                             f"max_frames={state['max_frames']}, this sampler has {len(self.lengths)} "
                             f"and {self.max_frames}: resume with the same data and batch budget")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]


@dataclass
class SpeechBatch:
    """A padded batch. ``features`` (B, T, D) float zero-padded; ``targets`` (B, L) long padded
    with the pad id; both None-safe for a test batch (targets None)."""
    features: torch.Tensor
    feature_lengths: torch.Tensor
    targets: torch.Tensor | None
    target_lengths: torch.Tensor | None
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device, non_blocking: bool = True) -> SpeechBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if torch.is_tensor(v):
                moved[k] = v.to(device, non_blocking=non_blocking)
        return SpeechBatch(**moved)

    def pin_memory(self) -> SpeechBatch:  # DataLoader(pin_memory=True) calls it
        return SpeechBatch(**{f.name: (getattr(self, f.name).pin_memory() if torch.is_tensor(getattr(self, f.name))
                                       else getattr(self, f.name)) for f in fields(self)})

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) True on real frames."""
        t = torch.arange(self.features.shape[1], device=self.features.device)
        return t[None, :] < self.feature_lengths[:, None]

    @property
    def target_mask(self) -> torch.Tensor | None:
        if self.targets is None:
            return None
        t = torch.arange(self.targets.shape[1], device=self.targets.device)
        return t[None, :] < self.target_lengths[:, None]


def collate_utterances(items, pad_id: int = 0) -> SpeechBatch:
    """Utterances ``(features (T, D), target (L,) | None)`` (with ``.id``, or a third element the
    id) -> SpeechBatch, features zero-padded and targets padded with ``pad_id``."""
    items = list(items)
    if not items:
        raise ValueError("collate_utterances got an empty batch")
    feats = [torch.as_tensor(it[0]) for it in items]
    ids = [getattr(it, "id", None) or (str(it[2]) if len(it) > 2 else str(k)) for k, it in enumerate(items)]
    lengths = torch.tensor([len(x) for x in feats], dtype=torch.long)
    x = feats[0].new_zeros((len(feats), int(lengths.max()), feats[0].shape[1]), dtype=torch.float32)
    for k, f in enumerate(feats):
        x[k, :len(f)] = f
    has_target = [it[1] is not None for it in items]
    if not any(has_target):
        return SpeechBatch(x, lengths, None, None, ids)
    if not all(has_target):
        raise ValueError("a batch mixes utterances with and without targets")
    ys = [torch.as_tensor(it[1], dtype=torch.long) for it in items]
    target_lengths = torch.tensor([len(y) for y in ys], dtype=torch.long)
    y = torch.full((len(ys), int(target_lengths.max())), pad_id, dtype=torch.long)
    for k, t in enumerate(ys):
        y[k, :len(t)] = t
    return SpeechBatch(x, lengths, y, target_lengths, ids)


def padding_fraction(lengths_per_batch) -> float:
    """Share of padded frames over all batches: sum(B * max - sum) / sum(B * max), from the
    lengths of each batch (a list of lists or arrays)."""
    padded = real = 0
    for lengths in lengths_per_batch:
        lengths = np.asarray(lengths, dtype=np.int64)
        if len(lengths):
            padded += len(lengths) * int(lengths.max())
            real += int(lengths.sum())
    return 0.0 if padded == 0 else (padded - real) / padded
