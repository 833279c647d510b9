"""HW2P2 input pipeline: training images per second, per-image CPU augmentation vs batched GPU ops.

(a) baseline: the usual torchvision-style pipeline written with Pillow, since torchvision is
    not needed here: every DataLoader worker decodes a JPEG, then crops/resizes, flips,
    jitters brightness/contrast/saturation/hue, converts to float, normalises and erases,
    one image at a time; default collation of float tensors.
(b) ours (the notebook): workers only decode JPEGs into uint8 (``common.faces.images``); the
    uint8 batch is copied to the device (pinned, non-blocking on CUDA) and augmented there
    as a batch (``common.faces.augment.FaceAugment``).

Same images (demo faces, 112x112 JPEGs), same augmentation parameters, same batch size and
the same small ResNet. Measured for the data alone and for data + a training step (forward,
backward, SGD). For (b) also the training step in fp32 against AMP (bf16/fp16 autocast) with
channels_last, which matters on a GPU; on a CPU the comparison is run with bf16 autocast
and reported as CPU-only (CPU autocast is not the GPU's tensor-core path).

    python benchmarks/hw2_pipeline.py                               # CPU-sized defaults (under a minute)
    python benchmarks/hw2_pipeline.py --threads 1                   # a CPU shared with other jobs
    python benchmarks/hw2_pipeline.py --batch 256 --batches 40 --workers 4 --width 64 \\
        --stem-stride 1 --size small                               # a GPU run
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.demo.faces import write_hw2p2  # noqa: E402
from common.engine.device import amp_dtype, autocast  # noqa: E402
from common.faces.augment import FaceAugment  # noqa: E402
from common.faces.folders import scan_split  # noqa: E402
from common.faces.images import FaceImages, make_loader

AUG = FaceAugment(size=112, crop_scale=(0.7, 1.0), crop_ratio=(0.85, 1.18), flip_p=0.5, brightness=0.3,
                  contrast=0.3, saturation=0.3, hue=0.02, erase_p=0.25, erase_scale=(0.02, 0.15))


class PILAugmented(torch.utils.data.Dataset):
    """Baseline: decode + augment one image per ``__getitem__`` on the CPU (as torchvision would)."""

    def __init__(self, paths, labels, aug: FaceAugment = AUG):
        self.paths, self.labels, self.aug = paths, labels, aug
        self.mean = torch.tensor(aug.mean).view(3, 1, 1)
        self.std = torch.tensor(aug.std).view(3, 1, 1)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        a = self.aug
        rng = np.random.default_rng((torch.initial_seed() + i) % 2**63)
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        area = rng.uniform(*a.crop_scale) * w * h
        r = math.exp(rng.uniform(math.log(a.crop_ratio[0]), math.log(a.crop_ratio[1])))
        cw, ch = min(w, math.sqrt(area * r)), min(h, math.sqrt(area / r))
        x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        img = img.resize((a.size, a.size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        if rng.random() < a.flip_p:
            img = ImageOps.mirror(img)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(1 - a.brightness, 1 + a.brightness))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(1 - a.contrast, 1 + a.contrast))
        img = ImageEnhance.Color(img).enhance(rng.uniform(1 - a.saturation, 1 + a.saturation))
        if a.hue:
            hsv = np.array(img.convert("HSV"))
            hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.uniform(-a.hue, a.hue) * 255)) % 256
            img = Image.fromarray(hsv, "HSV").convert("RGB")
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div_(255)
        x = (x - self.mean) / self.std
        if rng.random() < a.erase_p:
            area = rng.uniform(*a.erase_scale) * a.size * a.size
            r = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
            eh = int(min(a.size, max(1, math.sqrt(area * r))))
            ew = int(min(a.size, max(1, math.sqrt(area / r))))
            top, left = rng.integers(0, a.size - eh + 1), rng.integers(0, a.size - ew + 1)
            x[:, top:top + eh, left:left + ew] = 0
        return x, int(self.labels[i])


def small_resnet(width: int, num_classes: int, stem_stride: int = 1) -> nn.Module:
    """A ResNet-like network: stem, four stages of one residual block (3x3 convs), GAP, linear."""
    def block(c_in, c_out):
        body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                             nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 2, bias=False), nn.BatchNorm2d(c_out))
        return Residual(body, short)
    widths = [width, 2 * width, 4 * width, 8 * width]
    layers = [nn.Conv2d(3, width, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c = width
    for w in widths:
        layers.append(block(c, w))
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, body, short):
        super().__init__()
        self.body, self.short = body, short

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(loader, step, device, batches: int, warmup: int) -> float:
    """Images per second over ``batches`` batches after ``warmup`` (epochs cycle as needed)."""
    done, n_img, t0 = 0, 0, None
    while True:
        for batch in loader:
            if done == warmup:
                sync(device)
                t0 = time.perf_counter()
            step(batch)
            done += 1
            if done > warmup:
                n_img += batch[1].shape[0]
            if done == warmup + batches:
                sync(device)
                return n_img / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=12, help="timed batches per measurement")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is reported")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--width", type=int, default=16, help="ResNet width of the first stage (64: ResNet-18-like)")
    p.add_argument("--stem-stride", type=int, default=2, help="1: the notebook's default (4x the compute)")
    p.add_argument("--size", default="tiny", help="demo data size (tiny | small | medium)")
    p.add_argument("--data-dir", default=None, help="where the demo faces go (default: a temporary folder)")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the main process (1 on a shared, oversubscribed CPU: "
                        "spinning OpenMP threads there make timings erratic)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.data_dir = tmp.name
    root = write_hw2p2(args.data_dir, size=args.size, seed=0)
    train = scan_split(root / "cls_data" / "train")
    n_cls = len(train.classes)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device {name}; torch {torch.__version__}; {len(train)} demo faces 112x112; batch {args.batch}; "
          f"{args.workers} DataLoader workers; best of {args.rounds} interleaved rounds of {args.batches} "
          f"timed batches (after {args.warmup})")

    cuda = device.type == "cuda"
    loader_a = torch.utils.data.DataLoader(PILAugmented(train.paths, train.labels), batch_size=args.batch,
                                           shuffle=True, drop_last=True, num_workers=args.workers,
                                           pin_memory=cuda, persistent_workers=args.workers > 0)
    loader_b = make_loader(FaceImages.from_list(train), args.batch, shuffle=True, drop_last=True,
                           workers=args.workers, device=device)
    gen = torch.Generator(device=device).manual_seed(0)

    def data_a(batch):
        return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)

    def data_b(batch):
        return AUG(batch[0].to(device, non_blocking=True), gen), batch[1].to(device, non_blocking=True)

    def trainer(model, get, dtype=None, channels_last=False):
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step(batch):
            x, y = get(batch)
            x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            with autocast(device, dtype):
                loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def model(channels_last=False):
        torch.manual_seed(0)
        m = small_resnet(args.width, n_cls, args.stem_stride).to(device)
        return m.to(memory_format=torch.channels_last) if channels_last else m

    n_params = sum(q.numel() for q in model().parameters())
    print(f"model: small ResNet, width {args.width}, stem stride {args.stem_stride}, {n_params:,} parameters\n")
    def compare(title, cases):
        """Interleaved rounds (a, b, a, b, ...) so that a change of load hits every case alike;
        the best round of each case is reported."""
        print(title)
        best = {label: 0.0 for label, _, _ in cases}
        for _ in range(args.rounds):
            for label, loader, step in cases:
                best[label] = max(best[label], measure(loader, step, device, args.batches, args.warmup))
        for label, ips in best.items():
            print(f"  {label:58s} {ips:9.1f} img/s", flush=True)
        return list(best.values())

    a, b = compare("data only (decode + augment + copy to the device)", [
        ("(a) per-image PIL augmentation in workers", loader_a, data_a),
        ("(b) uint8 in workers, batched augmentation on the device", loader_b, data_b)])
    print(f"  ratio (b)/(a): {b / a:.2f}x\n")

    ta, tb = compare("data + training step (fp32)", [
        ("(a) per-image PIL augmentation + step", loader_a, trainer(model(), data_a)),
        ("(b) device-side augmentation + step", loader_b, trainer(model(), data_b))])
    print(f"  ratio (b)/(a): {tb / ta:.2f}x\n")

    amp = amp_dtype(device) if cuda else torch.bfloat16
    where = "GPU" if cuda else "CPU bf16 autocast (CPU-only figure: AMP's speed-up is a GPU tensor-core effect)"
    f32, cl, mixed = compare(f"(b) training step precision and memory format, {where}", [
        ("(b) fp32, contiguous (NCHW)", loader_b, trainer(model(), data_b)),
        ("(b) fp32, channels_last", loader_b, trainer(model(True), data_b, None, True)),
        (f"(b) {str(amp).replace('torch.', '')} autocast, channels_last", loader_b,
         trainer(model(True), data_b, amp, True))])
    print(f"  ratio channels_last/contiguous (fp32): {cl / f32:.2f}x; "
          f"ratio AMP+channels_last / fp32 contiguous: {mixed / f32:.2f}x")
    if tmp is not None:
        del loader_a, loader_b
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
