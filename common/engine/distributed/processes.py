"""Starting the processes: ``launch`` (fork one per GPU from a notebook, or run under torchrun),
``gpus_to_use`` (the notebook's GPUS), ``local_device``."""
from __future__ import annotations

import os
import pickle
import socket
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from .group import barrier, get_rank, setup, teardown

__all__ = ["launch", "under_torchrun", "gpu_count", "gpus_to_use", "local_device"]

# torch.cuda.is_available() through NVML instead of cuInit: a kernel that only asked whether
# there is a GPU can still fork processes that use one (torch's "poison fork" note)
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

_TORCHRUN_LAUNCHED = False        # launch ran under torchrun (its other ranks have exited since); read here only


def under_torchrun() -> bool:
    """True in a process started by ``torchrun`` (or any launcher that sets RANK/WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


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
