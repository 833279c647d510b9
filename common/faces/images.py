"""Decoding and loading face images: ``decode_jpeg`` (Pillow, uint8), the ``FaceImages`` dataset
that decodes in the DataLoader workers, ``collate_images`` (a channels_last uint8 batch, so the copy to
the GPU is 4x smaller than float and all augmentation happens there: ``common.faces.augment``) and
``make_loader`` with the settings that keep a GPU fed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from common.engine.distributed import ShardedBatchSampler

if TYPE_CHECKING:
    from .folders import ImageList

__all__ = ["decode_jpeg", "FaceImages", "collate_images", "make_loader", "default_workers"]


def decode_jpeg(path, size: int | None = None) -> torch.Tensor:
    """Decode ``path`` into a uint8 ``(3, H, W)`` tensor (a channels_last view of HWC memory).

    ``size``: resize (bilinear, Pillow) when the image is not ``size`` x ``size``.
    Raises ``ValueError`` naming the file when it is not a readable JPEG.
    """
    try:
        with Image.open(path) as im:
            if im.format not in ("JPEG", "MPO"):
                raise ValueError(f"{path} is a {im.format} image, not a JPEG: HW2P2 expects "
                                 "JPEG files; convert or delete it.")
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.array(im)                          # (H, W, 3) uint8, writable
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path} is not a readable JPEG ({err}); the file is probably corrupt "
                         "or truncated: re-extract the data set or delete the file.") from err
    return torch.from_numpy(arr).permute(2, 0, 1)          # (3, H, W), HWC memory


class FaceImages(torch.utils.data.Dataset):
    """``(image uint8 (3, H, W), label)`` per item; decoding runs in the DataLoader worker."""

    def __init__(self, paths, labels=None, size: int | None = None):
        self.paths = [Path(p) for p in paths]
        self.labels = (np.full(len(self.paths), -1, dtype=np.int64) if labels is None
                       else np.asarray(labels, dtype=np.int64))
        if len(self.labels) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        self.size = size

    @classmethod
    def from_list(cls, images: ImageList, size: int | None = None) -> FaceImages:
        return cls(images.paths, images.labels, size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return decode_jpeg(self.paths[i], self.size), int(self.labels[i])


def collate_images(batch):
    """Stack ``[(uint8 (3, H, W), label), ...]`` into uint8 ``(B, 3, H, W)`` channels_last + labels.

    Decoded images are HWC in memory, so stacking them along a new leading dim of an NHWC
    buffer is a plain copy; in a worker the buffer lives in shared memory (as in
    torch's default_collate) so that it is not copied again on its way to the main process.
    """
    images, labels = zip(*batch)
    c, h, w = images[0].shape
    for im in images:
        if im.shape != (c, h, w):
            raise ValueError(f"images of different sizes in one batch: {tuple(im.shape)} vs "
                             f"{(c, h, w)}; pass size= to FaceImages to resize them")
    out = torch.empty((len(images), h, w, c), dtype=torch.uint8)
    if torch.utils.data.get_worker_info() is not None:
        out = out.share_memory_()
    torch.stack([im.permute(1, 2, 0) for im in images], out=out)
    return out.permute(0, 3, 1, 2), torch.as_tensor(labels, dtype=torch.int64)


def make_loader(dataset, batch_size: int, *, shuffle: bool = False, workers: int = 0,
                device=None, batch_sampler=None, drop_last: bool = False, seed: int = 0,
                prefetch_factor: int = 4):
    """A DataLoader with the settings that keep a GPU fed.

    uint8 batches from ``collate_images``; pinned memory only when ``device`` is CUDA (so
    ``.to(device, non_blocking=True)`` overlaps the copy); persistent workers; a seeded
    generator for the shuffle order. In data-parallel training (``fit`` under
    ``common.engine.distributed``) each process loads only its share of every batch
    (``ShardedBatchSampler``; an ``IdentityBatchSampler``'s identities stay whole).
    """
    cuda = device is not None and torch.device(device).type == "cuda"
    kw = {"num_workers": workers, "collate_fn": collate_images, "pin_memory": cuda,
          "persistent_workers": workers > 0}
    if workers > 0:
        kw["prefetch_factor"] = prefetch_factor
    g = None
    if batch_sampler is None:
        g = torch.Generator().manual_seed(seed)
        sampler = (torch.utils.data.RandomSampler(dataset, generator=g) if shuffle
                   else torch.utils.data.SequentialSampler(dataset))
        batch_sampler = torch.utils.data.BatchSampler(sampler, batch_size, drop_last)
    # data-parallel training: each rank decodes only its part of every batch (P x K: whole identities)
    batch_sampler = ShardedBatchSampler(batch_sampler, group=getattr(batch_sampler, "k", 1))
    return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, generator=g, **kw)


def default_workers() -> int:
    """DataLoader workers: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        n = os.cpu_count() or 1
    return max(0, min(8, n))
