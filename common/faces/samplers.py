"""``IdentityBatchSampler``: P identities x K images per batch, for batch-hard triplet mining."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["IdentityBatchSampler"]


class IdentityBatchSampler(torch.utils.data.Sampler):
    """Batches of ``identities_per_batch`` (P) identities x ``images_per_identity`` (K) images.

    Batch-hard triplet mining needs positives in every batch: a random batch of 256 from
    8,631 identities rarely holds two images of a person. Identities with fewer than K
    images are sampled with replacement. One epoch has about ``len(labels) / (P * K)``
    batches (``num_batches`` overrides); each ``__iter__`` draws a new, seeded order.
    ``set_epoch`` / ``state_dict`` / ``load_state_dict``: pass it to ``fit(stateful=...)`` and a
    resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(self, labels, identities_per_batch: int, images_per_identity: int,
                 num_batches: int | None = None, seed: int = 0):
        labels = np.asarray(labels)
        self.by_id = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if identities_per_batch > len(self.by_id):
            raise ValueError(f"identities_per_batch={identities_per_batch} but the data has only "
                             f"{len(self.by_id)} identities")
        self.p, self.k = identities_per_batch, images_per_identity
        self.num_batches = num_batches or max(1, len(labels) // (self.p * self.k))
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return self.num_batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        n_ids = len(self.by_id)
        order = rng.permutation(n_ids)
        pos = 0
        for _ in range(self.num_batches):
            if pos + self.p > n_ids:              # walk through identities, reshuffle at the end
                order, pos = rng.permutation(n_ids), 0
            batch = []
            for c in order[pos:pos + self.p]:
                idx = self.by_id[c]
                batch.extend(rng.choice(idx, self.k, replace=len(idx) < self.k).tolist())
            pos += self.p
            yield batch
