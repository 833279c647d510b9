"""Data-parallel scaling: HW2P2 training images per second with 1 process and with N (DDP).

The notebook's path end to end: demo faces decoded by DataLoader workers (``make_loader``, each
rank decoding only its shard of every batch), the batched augmentation on the device, a small
ResNet, ``fit`` (DDP, metric reduction, rank 0 checkpoints) started by ``common.engine.distributed.launch``.
The global batch is the same in both runs, so N processes take the same steps as one; the
ratio is (N-process images/s) / (1-process images/s), measured over the epochs after the first.

    python benchmarks/ddp_scaling.py                          # CPU: 1 vs 2 gloo processes (small, < 2 min)
    python benchmarks/ddp_scaling.py --size medium --image 112 --width 64 --batch 256 \\
        --workers 4 --epochs 3                                # GPUs: 1 vs every visible GPU (NCCL)

On a CPU each process stands for one device with ``--threads`` threads (1: N processes use N
cores against 1); with cores shared by other jobs the ratio says little about GPUs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _harness import cpu_name  # noqa: E402
from hw2_pipeline import small_resnet  # noqa: E402

from common.demo.faces import write_hw2p2  # noqa: E402
from common.engine.device import amp_dtype, make_grad_scaler  # noqa: E402
from common.engine.distributed import gpu_count, launch, local_device  # noqa: E402
from common.engine.options import Checkpointing, Precision, Validation  # noqa: E402
from common.engine.train import fit  # noqa: E402
from common.faces.augment import FaceAugment  # noqa: E402
from common.faces.folders import scan_split  # noqa: E402
from common.faces.images import FaceImages, make_loader


def train_rate(root: Path, args) -> dict:
    """One rank's training run; images/s of the whole run (all ranks) after the first epoch."""
    device = local_device()
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    train_list = scan_split(root / "cls_data" / "train")
    loader = make_loader(FaceImages.from_list(train_list, size=args.image), args.batch, shuffle=True,
                         drop_last=True, workers=args.workers, device=device, seed=0)
    cuda = device.type == "cuda"
    model = small_resnet(args.width, len(train_list.classes)).to(
        device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    augment = FaceAugment(size=args.image, channels_last=cuda)
    generator = torch.Generator(device=device).manual_seed(int(os.environ.get("RANK", 0)))
    dtype = amp_dtype(device)

    def loss(model, batch):
        x, y = batch
        x, y = augment(x.to(device, non_blocking=True), generator), y.to(device, non_blocking=True)
        return F.cross_entropy(model(x), y), {"n": y.numel()}

    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with tempfile.TemporaryDirectory() as ckpt:
        history = fit(model, optimizer, loader, loss, epochs=args.epochs, device=device,
                      precision=Precision(dtype, make_grad_scaler(device, dtype)), checkpoints=Checkpointing(ckpt),
                      validation=Validation(monitor="train_loss"))
    seconds = float(history["time_s"].iloc[1:].sum())
    images = len(loader) * args.batch * (args.epochs - 1)
    return {"images_per_s": images / seconds, "steps_per_epoch": len(loader),
            "loss": float(history["train_loss"].iloc[-1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=None, help="processes of the DDP run (default: GPUs, or 2)")
    parser.add_argument("--size", default="small", help="demo data size (tiny | small | medium)")
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64, help="global batch (split between the processes)")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers per process")
    parser.add_argument("--epochs", type=int, default=3, help="the first is warm-up, not timed")
    parser.add_argument("--threads", type=int, default=1, help="CPU runs: torch threads per process (a CPU "
                        "process stands for one device)")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is not timed)")
    gpus = gpu_count()
    procs = args.procs or (gpus if gpus > 1 else 2)
    where = f"{gpus} x {torch.cuda.get_device_name(0)}" if gpus else f"CPU ({cpu_name()}, {os.cpu_count()} cores)"
    with tempfile.TemporaryDirectory() as tmp:
        root = write_hw2p2(tmp, size=args.size, seed=0)
        t0 = time.perf_counter()
        one = launch(train_rate, 1, root, args)
        many = launch(train_rate, procs, root, args)
    ratio = many["images_per_s"] / one["images_per_s"]
    print(f"DDP scaling on {where}, torch {torch.__version__}; demo faces {args.size}, {args.image}px, "
          f"ResNet width {args.width}, global batch {args.batch}, {one['steps_per_epoch']} steps/epoch, "
          f"{args.workers} loader worker(s) per process, {args.epochs - 1} timed epoch(s)"
          + ("" if gpus else f", {args.threads} thread(s) per process"))
    print(f"  1 process : {one['images_per_s']:8.1f} images/s (final loss {one['loss']:.4f})")
    print(f"  {procs} processes: {many['images_per_s']:8.1f} images/s (final loss {many['loss']:.4f})")
    print(f"  ratio {procs} / 1: {ratio:.2f}x   ({time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
