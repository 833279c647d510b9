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
  (``sharding``: each source holds its own ``Sharding``, which ``fit`` sets through
  ``sharded(loader)``): the same global batch, the same steps per epoch, the same learning-rate
  schedule, so GPUS changes the speed, not the optimisation. ``FrameBatches`` (HW1),
  ``BucketBatchSampler`` (speech) and ``ShardedBatchSampler`` (any batch sampler) do it at the
  index level, so each rank loads only its shard; ``ShardedLoader`` splits the batches of any
  other loader as they arrive.
- ``reduce_sums`` adds the metric sums of all ranks; ``is_main_process`` guards file writes.

Adding ``GPUS`` to a notebook (every Part 2 notebook has it: hw1p2, hw2p2, hw3p2, las, hw4p1, hw4p2)::

    GPUS = None                                        # parameters cell: None = every visible GPU
    from common.engine.distributed import get_rank, gpus_to_use, launch, local_device   # before any CUDA call
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
``fit(..., ddp_options={"find_unused_parameters": True})``; ``Validation(extra=...)`` runs on rank 0 only.
One ``launch`` per notebook: under torchrun the other ranks exit after it, so every training stage
(LM pretraining, then the main run; several models in turn) goes into the one ``train()``, which
returns what the kernel needs (histories); weights come back through the checkpoints rank 0 wrote.

Tested on the CPU with the gloo backend (tests/distributed); NCCL on GPUs.

Modules: ``group`` (process group, collectives), ``processes`` (launch, GPUS), ``sharding`` (batches
split between ranks), ``ddp`` (the model wrapper).
"""
from .ddp import DataParallelModel, broadcast_buffers, wrap_model
from .group import (barrier, broadcast_object, broadcast_tensor, gather_objects, get_rank, get_world_size,
                    is_distributed, is_main_process, reduce_sums, setup, teardown)
from .processes import gpu_count, gpus_to_use, launch, local_device, under_torchrun
from .sharding import (Sharding, ShardedBatchSampler, ShardedLoader, shard_slice, sharded, sharding_of, shards_itself,
                       split_batch)

__all__ = ["launch", "setup", "teardown", "is_distributed", "get_rank", "get_world_size", "is_main_process",
           "under_torchrun", "gpu_count", "gpus_to_use", "local_device", "barrier", "broadcast_tensor",
           "broadcast_object", "gather_objects", "reduce_sums", "Sharding", "sharded", "sharding_of", "shard_slice",
           "ShardedBatchSampler", "ShardedLoader", "split_batch", "shards_itself", "wrap_model", "DataParallelModel",
           "broadcast_buffers"]
