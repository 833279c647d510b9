"""Data-parallel training (PyTorch DDP) on several GPUs, from a notebook or from ``torchrun``.

One process per GPU, each with a full copy of the model; every batch is split between the
processes ("ranks"), DistributedDataParallel averages the gradients, so every rank takes the
same optimizer step and the weights stay identical. ``fit`` does the DDP part by itself when a
process group is running; a notebook only starts the processes::

    def train():                        # the training cell's work, on this rank's GPU
        ...
        return fit(...)

    history = launch(train, GPUS)       # GPUS > 1: one forked process per GPU; else train() here

- ``launch`` forks the processes (``torch.multiprocessing.start_processes(start_method="fork")``,
  as ``accelerate.notebook_launcher`` does, without the extra dependency): a forked child shares
  the notebook's variables (data, model, functions defined in cells), nothing is pickled. The
  kernel must not have used CUDA before (a forked child cannot); importing this module makes
  ``torch.cuda.is_available()`` use NVML, which keeps that check fork-safe. Under ``torchrun``
  (``python -m common.notebook.run_script``) the processes already exist: ``launch`` runs ``fn`` on
  each and only rank 0 continues after it.
- Batch sources split every batch of the single-process run into one shard per rank
  (``sharded``): the same global batch, the same steps per epoch, the same learning-rate
  schedule, so GPUS changes the speed, not the optimisation. ``FrameBatches`` (HW1),
  ``BucketBatchSampler`` (speech) and ``ShardedBatchSampler`` (any batch sampler) do it at the
  index level, so each rank loads only its shard; ``ShardedLoader`` splits the batches of any
  other loader as they arrive.
- ``reduce_sums`` adds the metric sums of all ranks; ``is_main_process`` guards file writes.

Adding ``GPUS`` to a notebook (every Part 2 notebook has it: hw1p2, hw2p2, hw3p2, las, hw4p1, hw4p2)::

    GPUS = None                                        # parameters cell: None = every visible GPU
    from .distributed import get_rank, gpus_to_use, launch, local_device   # before any CUDA call
    GPUS = gpus_to_use(GPUS)
    device = get_device() if GPUS == 1 else torch.device("cpu")   # no CUDA in the kernel before training
    ...                                                 # data, model, optimizer cells unchanged

    def use_device(new_device):                        # model, scaler, generators onto a device
        global device, dtype, scaler
        device, dtype = new_device, amp_dtype(new_device, enabled=AMP)
        model.to(device)
        scaler = make_grad_scaler(device, dtype)

    def train():
        if GPUS > 1:
            use_device(local_device())
        return fit(model, ..., stateful={"sampler": sampler})

    history = launch(train, GPUS)
    if GPUS > 1:
        use_device(get_device())                       # evaluate in the kernel afterwards

Rules: any loader other than the samplers above must shuffle with a seeded generator (unseeded
shuffles that differ between ranks are an error); ``compute_loss`` calls ``model(...)`` for the
forward pass; parameters that get no gradient in some steps need
``fit(..., ddp_options={"find_unused_parameters": True})``; ``extra_eval`` runs on rank 0 only.
One ``launch`` per notebook: under torchrun the other ranks exit after it, so every training stage
(LM pretraining, then the main run; several models in turn) goes into the one ``train()``, which
returns what the kernel needs (histories); weights come back through the checkpoints rank 0 wrote.

Tested on the CPU with the gloo backend (tests/distributed); NCCL on GPUs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import random
import socket
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ["launch", "setup", "teardown", "is_distributed", "get_rank", "get_world_size", "is_main_process",
           "under_torchrun", "gpu_count", "gpus_to_use", "local_device", "barrier", "broadcast_tensor",
           "broadcast_object", "gather_objects", "reduce_sums", "sharded", "shard", "shard_slice",
           "ShardedBatchSampler", "ShardedLoader", "split_batch", "wrap_model", "DataParallelModel",
           "broadcast_buffers"]

# torch.cuda.is_available() through NVML instead of cuInit: a kernel that only asked whether
# there is a GPU can still fork processes that use one (torch's "poison fork" note)
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

_SHARDING: dict | None = None     # set by ``sharded()``: {"equal_steps": bool}
_TORCHRUN_LAUNCHED = False        # launch ran under torchrun (its other ranks have exited since)


# ------------------------------------------------------------------ process group
def under_torchrun() -> bool:
    """True in a process started by ``torchrun`` (or any launcher that sets RANK/WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


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


def gpu_count() -> int:
    """Visible CUDA devices, counted through NVML where possible (does not initialise CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpus_to_use(requested: int | None = None) -> int:
    """The notebook's GPUS: under torchrun its world size; None: every visible GPU (at least 1)."""
    if under_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if requested is not None and int(requested) != world:
            print(f"GPUS={requested} ignored: torchrun started {world} process(es)")
        return world
    if requested is None:
        return max(1, gpu_count())
    if int(requested) < 1:
        raise ValueError(f"GPUS must be >= 1 (or None for every visible GPU), got {requested}")
    visible = gpu_count()
    if int(requested) > 1 and visible and int(requested) > visible:
        raise ValueError(f"GPUS={requested} but only {visible} GPU(s) are visible: use GPUS=None or <= {visible}")
    return int(requested)


def local_device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` on a GPU machine, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(index: int, fn, args, kwargs, nprocs: int, port: int, backend, result_path: str) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(nprocs), LOCAL_WORLD_SIZE=str(nprocs),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if not torch.cuda.is_available():       # CPU ranks share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nprocs))
    setup(backend)
    try:
        result = fn(*args, **kwargs)
        if index == 0:
            with open(result_path, "wb") as f:
                pickle.dump(result, f)
        barrier()
    finally:
        teardown()


def launch(fn: Callable, nprocs: int, *args, backend: str | None = None, **kwargs):
    """Run ``fn(*args, **kwargs)`` on ``nprocs`` ranks and return rank 0's result.

    - ``nprocs <= 1`` (and not under torchrun): ``fn`` runs in this process, no process group.
    - under torchrun: the group is set up from its variables, ``fn`` runs on every rank; rank 0
      returns the result, the other ranks exit when ``fn`` is done, so the code after ``launch``
      (evaluation, submission) runs once.
    - else: ``nprocs`` processes are forked (one per GPU, or CPU processes with gloo when there
      is no GPU); an exception in any rank stops all and is raised here with its traceback.
    """
    if under_torchrun():
        global _TORCHRUN_LAUNCHED
        if _TORCHRUN_LAUNCHED:       # only rank 0 gets here again: the others exited after the first launch
            raise RuntimeError("launch runs once under torchrun: its other ranks exited after the first launch, so a "
                               "second one would wait for them forever. Put every training stage (pretraining, "
                               "the main run, several models) in the one function that launch runs")
        _TORCHRUN_LAUNCHED = True
        marker = os.environ.get("IDL_RUN_SCRIPT_SYNC")     # common.notebook.run_script: the other ranks may go on
        if marker and os.environ.get("LOCAL_RANK", "0") == "0" and Path(marker).is_dir():
            (Path(marker) / "launched").touch()
        setup(backend)
        result = fn(*args, **kwargs)
        barrier()
        rank = get_rank()
        teardown()
        if rank != 0:
            sys.exit(0)
        return result
    if nprocs <= 1:
        return fn(*args, **kwargs)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        raise RuntimeError(
            "launch forks one process per GPU, and a forked process cannot use CUDA once this process has. "
            "Restart the kernel and run the cells before training with GPUS > 1 (they then keep the data and "
            "model on the CPU until the training cell), or set GPUS = 1")
    with tempfile.TemporaryDirectory() as tmp:
        result_path = str(Path(tmp) / "result.pkl")
        torch.multiprocessing.start_processes(
            _worker, args=(fn, args, kwargs, nprocs, _free_port(), backend, result_path),
            nprocs=nprocs, join=True, start_method="fork")
        with open(result_path, "rb") as f:
            return pickle.load(f)


# ------------------------------------------------------------------ collectives
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


# ------------------------------------------------------------------ sharding
@contextlib.contextmanager
def sharded(equal_steps: bool = True):
    """Inside: the batch sources give this rank its shard of every batch (when distributed).

    ``equal_steps``: every rank must take the same number of steps (training: DDP synchronises
    each backward), so a batch with fewer items than ranks is skipped by all; outside training
    (evaluation) a rank whose shard is empty just skips that batch.
    """
    global _SHARDING
    previous = _SHARDING
    _SHARDING = {"equal_steps": bool(equal_steps)} if is_distributed() else None
    try:
        yield
    finally:
        _SHARDING = previous


def shard() -> tuple[int, int, bool]:
    """(rank, world size, equal_steps) inside ``sharded()`` of a distributed run, else (0, 1, False)."""
    if _SHARDING is None or not is_distributed():
        return 0, 1, False
    return dist.get_rank(), dist.get_world_size(), _SHARDING["equal_steps"]


def shard_slice(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` items (the first ``n % world`` parts one longer)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def _keep(n: int, world: int, equal_steps: bool) -> bool:
    return n >= world if equal_steps else True


class ShardedBatchSampler:
    """A batch sampler of which each rank yields its contiguous part of every batch.

    With one process (or outside ``sharded()``) it yields the batches unchanged. ``group``:
    split only at multiples of it (P x K batches: K images of an identity stay on one rank).
    The ranks must draw the same batches (a seeded sampler): the first batch of every epoch
    is compared across ranks and a difference is an error. ``set_epoch``, ``state_dict`` and
    ``load_state_dict`` pass through to the sampler.
    """
    shards_itself = True

    def __init__(self, batch_sampler, group: int = 1):
        self.batch_sampler, self.group = batch_sampler, int(group)

    def __len__(self) -> int:          # the global count (a batch with fewer units than ranks is skipped)
        return len(self.batch_sampler)

    def __iter__(self):
        rank, world, equal_steps = shard()
        for k, batch in enumerate(self.batch_sampler):
            if world == 1:
                yield batch
                continue
            if k == 0:
                _check_same_on_ranks(np.asarray(list(batch), dtype=np.int64).reshape(-1).tolist())
            units = len(batch) // self.group
            if not _keep(units, world, equal_steps):
                continue
            part = shard_slice(units, rank, world)
            piece = list(batch)[part.start * self.group:part.stop * self.group]
            if piece:
                yield piece

    def __getattr__(self, name):         # set_epoch, state_dict, load_state_dict, ...
        if name == "batch_sampler":
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)


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


class ShardedLoader:
    """Any loader whose batches are split on arrival: each rank keeps its part of every batch
    (every rank still loads the whole batch; prefer a sharding sampler where loading costs)."""
    shards_itself = True

    def __init__(self, loader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        rank, world, equal_steps = shard()
        for k, batch in enumerate(self.loader):
            if world == 1:
                yield batch
                continue
            if k == 0:
                _check_same_on_ranks(_digest(batch))
            n = _batch_size(batch)
            part = shard_slice(n, rank, world)
            if not _keep(n, world, equal_steps) or part.start == part.stop:
                continue
            yield split_batch(batch, rank, world)

    def __getattr__(self, name):
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


def shards_itself(loader) -> bool:
    """Whether ``loader`` (or its DataLoader's batch sampler) splits batches between ranks by itself."""
    return bool(getattr(loader, "shards_itself", False)
                or getattr(getattr(loader, "batch_sampler", None), "shards_itself", False))


# ------------------------------------------------------------------ the model
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
