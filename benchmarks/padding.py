"""Share of padded frames with and without length bucketing, at the same frame budget.

On the demo corpus (``small``: 1,200 training utterances) in the HW3P2 (mfcc) and HW4P2
(fbank) layouts, over several epochs of the training split:
(a) random:  the utterances shuffled, then packed in that order into batches of at most
             ``--max-frames`` padded frames (``len(batch) * longest``): a budget, no bucketing;
(b) fixed:   the starter's shuffled batches of a fixed size (the mean size of (a));
(c) ours:    ``BucketBatchSampler`` (lengths jittered 5%, sorted, packed, batch order shuffled);
(d) ours without the jitter (``length_noise=0``: the same batches every epoch, in a new order).
Printed: padding fraction = padded / (real + padded) frames, batches per epoch, and the ratio
of the padding fractions (a) / (c). Padded frames are compute spent on nothing.

    python benchmarks/padding.py [--size small] [--max-frames 20000] [--epochs 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.demo.speech import write_hw3p2, write_hw4p2  # noqa: E402
from common.speech.utterances import BucketBatchSampler, load_hw3p2, load_hw4p2, padding_fraction  # noqa: E402


def random_budget_batches(lengths, max_frames: int, rng) -> list[np.ndarray]:
    """Shuffled order, packed greedily under the same padded-frame budget (no sorting)."""
    batches, current, longest = [], [], 0
    for i in rng.permutation(len(lengths)).tolist():
        t = int(lengths[i])
        if current and (len(current) + 1) * max(longest, t) > max_frames:
            batches.append(np.array(current))
            current, longest = [], 0
        current.append(i)
        longest = max(longest, t)
    return batches + [np.array(current)] if current else batches


def measure(name: str, lengths: np.ndarray, max_frames: int, epochs: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sampler = BucketBatchSampler(lengths, max_frames, seed=seed)
    exact = BucketBatchSampler(lengths, max_frames, seed=seed, length_noise=0.0)
    rows = {"random": [], "fixed": [], "bucketed": [], "exact": []}
    counts = {k: [] for k in rows}
    for epoch in range(epochs):
        a = random_budget_batches(lengths, max_frames, rng)
        size = max(1, round(len(lengths) / len(a)))
        perm = rng.permutation(len(lengths))
        b = [perm[i:i + size] for i in range(0, len(perm), size)]
        sampler.set_epoch(epoch)
        c = [np.array(batch) for batch in sampler]
        exact.set_epoch(epoch)
        d = [np.array(batch) for batch in exact]
        for key, batches in (("random", a), ("fixed", b), ("bucketed", c), ("exact", d)):
            rows[key].append(padding_fraction([lengths[x] for x in batches]))
            counts[key].append(len(batches))
    out = {k: (float(np.mean(v)), float(np.mean(counts[k]))) for k, v in rows.items()}
    print(f"\n{name}: {len(lengths)} utterances, {lengths.sum():,} frames (mean {lengths.mean():.0f}, "
          f"min {lengths.min()}, max {lengths.max()}), budget {max_frames:,} padded frames per batch, "
          f"{epochs} epochs")
    print(f"  {'batching':<34}{'padding fraction':>17}{'batches/epoch':>15}")
    for key, label in (("random", "(a) shuffled, same frame budget"), ("fixed", "(b) shuffled, fixed batch size"),
                       ("bucketed", "(c) BucketBatchSampler"), ("exact", "(d) (c) without length jitter")):
        print(f"  {label:<34}{out[key][0]:>17.1%}{out[key][1]:>15.1f}")
    ratio = out["random"][0] / out["bucketed"][0]
    print(f"  ratio padding (a)/(c): {ratio:.1f}x; frames computed per epoch (real + padding) (a)/(c): "
          f"{(lengths.sum() / (1 - out['random'][0])) / (lengths.sum() / (1 - out['bucketed'][0])):.2f}x")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--max-frames", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / "data" / "demo_bench"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    hw3 = write_hw3p2(args.data_dir, size=args.size, seed=0)
    hw4 = write_hw4p2(args.data_dir, size=args.size, seed=0)
    print(f"demo corpus ({args.size}) ready in {time.perf_counter() - t0:.0f} s under {args.data_dir}")
    train3 = load_hw3p2(hw3, "train-clean-100", progress=False)
    train4 = load_hw4p2(hw4, "train-clean-100", progress=False, dtype=np.float16)
    measure("HW3P2 (mfcc, 28 dims)", train3.feature_lengths, args.max_frames, args.epochs)
    measure("HW4P2 (fbank, 80 dims)", train4.feature_lengths, args.max_frames, args.epochs)


if __name__ == "__main__":
    main()
