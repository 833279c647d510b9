"""The model side of data parallelism: ``wrap_model`` (DDP for this rank's device) and
``broadcast_buffers`` (rank 0's BatchNorm statistics on every rank)."""
from __future__ import annotations

import torch
from torch.nn.parallel import DistributedDataParallel

from .group import broadcast_tensor, is_distributed

__all__ = ["DataParallelModel", "wrap_model", "broadcast_buffers"]


class DataParallelModel(DistributedDataParallel):
    """DDP that passes attribute lookups on to the wrapped model (``model.classifier``,
    ``model.class_logits``), so task code written for one process runs unchanged."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":              # not set yet (inside DDP's own __init__)
                raise
            return getattr(self.module, name)


def wrap_model(model: torch.nn.Module, device, **ddp_options) -> torch.nn.Module:
    """``model`` wrapped in DDP for this rank's ``device`` (unchanged without a process group).

    DDP copies rank 0's parameters and buffers to every rank when it wraps, so the ranks start
    identical whatever each built; ``ddp_options`` go to DistributedDataParallel (e.g.
    ``find_unused_parameters=True`` for a model with parameters some steps do not use).
    """
    if not is_distributed():
        return model
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return DataParallelModel(model, device_ids=[index], output_device=index, **ddp_options)
    return DataParallelModel(model, **ddp_options)


def broadcast_buffers(*modules) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank: after an epoch each rank's
    statistics saw only its shards; evaluation and checkpoints use rank 0's."""
    if not is_distributed():
        return
    for module in modules:
        if module is None:
            continue
        for buf in module.buffers():
            buf.copy_(broadcast_tensor(buf))
