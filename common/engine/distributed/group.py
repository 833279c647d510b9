"""The process group and its collectives: join and leave it (``setup``/``teardown``), who am I
(``get_rank``, ``get_world_size``, ``is_main_process``), and the few collectives ``fit`` needs
(``barrier``, ``broadcast_tensor``/``broadcast_object``, ``gather_objects``, ``reduce_sums``).
Every function is a no-op (or the identity) without a process group."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["setup", "teardown", "is_distributed", "get_rank", "get_world_size", "is_main_process", "barrier",
           "broadcast_tensor", "broadcast_object", "gather_objects", "reduce_sums"]


def is_distributed() -> bool:
    """A process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0))


def get_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """Rank 0 (or no distribution): the one process that prints, writes files and logs."""
    return get_rank() == 0


def setup(backend: str | None = None) -> None:
    """Join the process group described by RANK, WORLD_SIZE, MASTER_ADDR/PORT (torchrun's variables).

    NCCL with one GPU per rank (``torch.cuda.set_device(LOCAL_RANK)``, so ``"cuda"`` means this
    rank's GPU), gloo on the CPU. A no-op when the group is already running.
    """
    if dist.is_initialized():
        return
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if cuda and backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend, rank=int(os.environ["RANK"]),
                            world_size=int(os.environ["WORLD_SIZE"]))
    _seed_rank(dist.get_rank())


def _seed_rank(rank: int) -> None:
    """Rank r > 0 draws from its own streams (dropout, augmentation from the global RNGs), seeded
    from rank 0's seed and r, so the shards of a batch do not get the same random masks."""
    if rank == 0:
        return
    seed = (torch.initial_seed() + 1_000_003 * rank) % 2**63
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)                 # CPU and every CUDA device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _comm_device(t: torch.Tensor) -> torch.device:
    """NCCL moves CUDA tensors only; gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_tensor(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """``t`` of rank ``src`` on every rank (same shape and dtype on all), on ``t``'s device."""
    if not is_distributed():
        return t
    comm = t.to(_comm_device(t))
    dist.broadcast(comm, src)
    return comm.to(t.device)


def broadcast_object(obj, src: int = 0):
    """A picklable object of rank ``src``, on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


def gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_sums(sums: dict) -> dict:
    """Sum each value (tensor or number) over the ranks; a key missing on a rank counts as 0.

    One all_gather of the key names and one all_reduce of all values together (float64).
    """
    if not is_distributed():
        return sums
    keys = list(dict.fromkeys(k for names in gather_objects(list(sums)) for k in names))   # rank 0's order first
    like = next((v for v in sums.values() if torch.is_tensor(v)), None)
    device = like.device if like is not None else torch.device("cpu")
    values = torch.stack([torch.as_tensor(sums.get(k, 0.0), dtype=torch.float64, device=device).reshape(())
                          for k in keys]) if keys else torch.zeros(0, dtype=torch.float64)
    comm = values.to(_comm_device(values))
    dist.all_reduce(comm)
    return dict(zip(keys, comm.to(device).unbind(0)))
