"""HW1P2 input pipeline: frames per second of the starter-style pipeline vs ours, one run.

(a) starter: a Dataset whose ``__getitem__`` slices one (2c+1, D) window and returns
    tensors, batched by the default DataLoader collation (``--workers`` processes);
(b) ours: ``common.speech.frames`` (one preallocated tensor on the device, one gather per batch).

Both read the same padded storage, with the same batch size and context. Measured for the
data alone and for data + a training step (forward, backward, AdamW) of a BatchNorm/GELU MLP.
On a GPU it also reports the model FLOP utilisation (MFU) of the training step: achieved
matmul FLOP/s over the device's dense 16-bit peak (``_harness.PEAK_16BIT``).

    python benchmarks/hw1_pipeline.py                      # CPU-sized defaults
    python benchmarks/hw1_pipeline.py --frames 4000000 --hidden 2048 2048 2048 1536 1024 512 --workers 4
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _harness import peak_flops  # noqa: E402

from common.engine.device import amp_dtype, autocast  # noqa: E402
from common.speech.frames import FrameBatches, FrameStore  # noqa: E402


def synthetic_store(frames: int, dim: int, context: int, utt_len: int = 1000, seed: int = 0) -> FrameStore:
    """Random features laid out like ``load_frame_store`` (utterances padded by ``context``)."""
    rng = np.random.default_rng(seed)
    n_utt = -(-frames // utt_len)
    lengths = [utt_len] * n_utt
    total = n_utt * utt_len + 2 * context * n_utt
    storage = np.zeros((total, dim), np.float32)
    labels = np.full(total, 255, np.uint8)
    centers = np.empty(n_utt * utt_len, np.int64)
    row = context
    for i in range(n_utt):
        storage[row:row + utt_len] = rng.standard_normal((utt_len, dim), dtype=np.float32)
        labels[row:row + utt_len] = rng.integers(0, 40, utt_len)
        centers[i * utt_len:(i + 1) * utt_len] = np.arange(row, row + utt_len)
        row += utt_len + 2 * context
    return FrameStore(torch.from_numpy(storage), torch.from_numpy(labels), torch.from_numpy(centers),
                      context, [str(i) for i in range(n_utt)], lengths)


class StarterDataset(torch.utils.data.Dataset):
    """The starter notebook's pattern: one window per ``__getitem__``."""

    def __init__(self, store: FrameStore):
        self.x = store.features.numpy()
        self.y = store.labels.numpy()
        self.centers = store.centers.numpy()
        self.c = store.context

    def __len__(self):
        return len(self.centers)

    def __getitem__(self, i):
        t = self.centers[i]
        window = torch.tensor(self.x[t - self.c:t + self.c + 1])       # (2c+1, D) copy
        return window, torch.tensor(int(self.y[t]))


def make_model(in_dim: int, hidden: list[int], device) -> nn.Module:
    layers, width = [nn.Flatten()], in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.GELU(), nn.Dropout(0.1)]
        width = h
    layers.append(nn.Linear(width, 40))
    return nn.Sequential(*layers).to(device)


def matmul_flops_per_step(model: nn.Module, batch: int) -> float:
    """Forward 2*B*in*out per Linear, backward twice that: 6*B*sum(in*out)."""
    return 6.0 * batch * sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def training_loops(model: nn.Module, opt, device, dtype, fixed_from):
    """The timed iterators: ``forever(loader)`` (batches moved to ``device``, endlessly),
    ``training(loader)`` (data + one autocast cross-entropy step per batch) and ``model_only()``
    (the step alone, on one batch of ``fixed_from``)."""
    def forever(loader):
        while True:
            for x, y in loader:
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def step(x, y):
        with autocast(device, dtype):
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def training(loader):
        for x, y in forever(loader):
            step(x, y)
            yield

    def model_only():
        x, y = next(forever(fixed_from))
        while True:
            step(x, y)
            yield

    return forever, training, model_only


def timed(fn, batches: int, device) -> float:
    """Seconds for ``batches`` iterations of ``fn`` (after 3 warm-up iterations)."""
    it = fn()
    for _ in range(3):
        next(it)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=300_000)
    p.add_argument("--dim", type=int, default=28)
    p.add_argument("--context", type=int, default=30)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--batches", type=int, default=20, help="timed batches per measurement")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the starter pipeline")
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 256])
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = amp_dtype(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    store = synthetic_store(args.frames, args.dim, args.context)
    on_device = store.to(device)
    print(f"device {name}; {len(store):,} frames, context {args.context}, batch {args.batch}, "
          f"starter workers {args.workers}, autocast {dtype}")

    starter = torch.utils.data.DataLoader(StarterDataset(store), batch_size=args.batch, shuffle=True,
                                          num_workers=args.workers, pin_memory=device.type == "cuda",
                                          persistent_workers=args.workers > 0, drop_last=True)
    ours = FrameBatches(on_device, args.batch, shuffle=True, drop_last=True)

    model = make_model((2 * args.context + 1) * args.dim, args.hidden, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n_params = sum(p.numel() for p in model.parameters())

    forever, training, model_only = training_loops(model, opt, device, dtype, ours)

    frames = args.batches * args.batch
    rows = {}
    rows["data: starter"] = timed(lambda: forever(starter), args.batches, device)
    rows["data: ours"] = timed(lambda: forever(ours), args.batches, device)
    rows["data+step: starter"] = timed(lambda: training(starter), args.batches, device)
    rows["data+step: ours"] = timed(lambda: training(ours), args.batches, device)
    rows["step alone (fixed batch)"] = timed(model_only, args.batches, device)

    print(f"model: MLP {args.hidden}, {n_params:,} parameters")
    for k, sec in rows.items():
        print(f"  {k:26s} {frames / sec:14,.0f} frames/s   {1e3 * sec / args.batches:8.2f} ms/batch")
    print(f"ratio data alone (ours / starter):      {rows['data: starter'] / rows['data: ours']:.1f}x")
    print(f"ratio data + training step:             {rows['data+step: starter'] / rows['data+step: ours']:.1f}x")
    overhead = rows["data+step: ours"] / rows["step alone (fixed batch)"] - 1
    print(f"our pipeline's share over the step:     {100 * overhead:+.1f}%")
    if device.type == "cuda":
        achieved = matmul_flops_per_step(model, args.batch) * args.batches / rows["data+step: ours"]
        peak = peak_flops(name)
        mfu = f"{100 * achieved / peak:.1f}% of {peak / 1e12:.0f} TFLOP/s" if peak else "peak unknown for this device"
        print(f"training step: {achieved / 1e12:.1f} TFLOP/s achieved, MFU {mfu}")


if __name__ == "__main__":
    main()
