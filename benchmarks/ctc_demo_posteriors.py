"""Dev-set CTC posteriors of a model trained on the HW3P2 demo corpus, for the decoding benchmarks.

    python benchmarks/ctc_demo_posteriors.py [--size small --epochs 8 --out data/demo/ctc_posteriors_small.pt]
    python benchmarks/ctc_demo_posteriors.py --root data/real/11-785-f24-hw3p2 --epochs 40   # real speech

Trains the HW3P2 shape (Conv1d stem, two pyramidal BiLSTMs, linear; ``hw3_training.build_model``)
with CTC on the demo train split and saves the dev split's log probabilities (a list of (T_i, 41)
float32 tensors), the dev targets, and the train targets (to fit a phoneme n-gram). Cached: an
existing file is returned as it is. ``ctc_pruning.py`` uses it to choose the pruning defaults.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, parse_with_threads  # noqa: E402


def demo_posteriors(size="small", epochs=8, out=None, max_frames=12000, seed=0, root=None):
    import numpy as np
    import torch
    from hw3_training import build_model

    from common.demo.speech import write_hw3p2
    from common.speech.utterances import BucketBatchSampler, collate_utterances, load_hw3p2

    if root is None:
        out = Path(out or REPO_ROOT / "data" / "demo" / f"ctc_posteriors_{size}.pt")
    else:                                                     # e.g. data/real/11-785-f24-hw3p2
        out = Path(out or Path(root) / f"ctc_posteriors_{epochs}_epochs.pt")
    if out.exists():
        return torch.load(out, weights_only=False)          # our own file: numpy arrays inside
    if root is None:
        root = write_hw3p2(REPO_ROOT / "data" / "demo" / str(size), size=size, seed=0)
    train = load_hw3p2(root, "train-clean-100", progress=False)
    dev = load_hw3p2(root, "dev-clean", progress=False)
    torch.manual_seed(seed)
    model = build_model(train.dim, 96, 128, 41, packed=False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    sampler = BucketBatchSampler(train.feature_lengths, max_frames, seed=seed)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        start, total = time.perf_counter(), 0.0
        model.train()
        for idx in sampler:
            b = collate_utterances([train[i] for i in idx])
            logits, lengths = model(b.features, b.feature_lengths)
            loss = ctc(logits.log_softmax(-1).transpose(0, 1), b.targets, lengths, b.target_lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        print(f"epoch {epoch}: loss {total / len(sampler):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    log_probs = []
    with torch.no_grad():
        for i in range(len(dev)):
            x, _ = dev[i]
            logits, lengths = model(x[None], torch.tensor([len(x)]))
            log_probs.append(logits[0, :int(lengths[0])].log_softmax(-1).float())
    data = {"log_probs": log_probs, "dev_targets": [np.asarray(t) for t in dev.targets],
            "train_targets": [np.asarray(t) for t in train.targets], "size": str(size), "epochs": epochs,
            "root": str(root)}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, out)
    return data


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--out", default=None)
    p.add_argument("--root", default=None, help="an HW3P2-layout folder instead of the demo (e.g. data/real/...)")
    args = parse_with_threads(p, argv, device=None)
    data = demo_posteriors(args.size, args.epochs, args.out, root=args.root)
    print(f"{len(data['log_probs'])} dev utterances")


if __name__ == "__main__":
    main()
