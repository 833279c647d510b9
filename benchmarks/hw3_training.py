"""HW3P2 training throughput: length bucketing against random batches, packed against padded LSTMs.

On the demo corpus in the HW3P2 layout (mfcc, per-utterance CMVN), with the notebook's model
shape (Conv1d stem + BatchNorm + GELU, two pyramidal BiLSTMs over packed sequences, linear
classifier, CTC loss in fp32, AdamW), at the same padded-frame budget per batch:
(a) random:   utterances shuffled and packed in that order under ``--max-frames`` padded frames;
(b) bucketed: ``BucketBatchSampler`` (what the notebook uses).
Measured: padded-frame fraction over an epoch (exact) and training utterances per second
(forward, CTC loss, backward, optimizer step) over the same random subset of utterances batched
both ways (interleaved rounds, medians). Then the BiLSTM alone (forward + backward) on the random
batches: packed sequences (``pack_padded_sequence``, what ``common.speech.layers.BLSTM`` does)
against one bidirectional call over the padded tensor (wrong: the backward direction starts in the
padding) and against ``BLSTM(packed=False)`` (two one-directional LSTMs over the padded tensor, the
backward one over each utterance reversed within its length: exact, like packing).

    python benchmarks/hw3_training.py                        # CPU-sized defaults (about a minute)
    python benchmarks/hw3_training.py --threads 1            # a CPU shared with other jobs
    python benchmarks/hw3_training.py --device cuda --size medium --hidden 384 --channels 512 \\
        --max-frames 80000 --utterances 1000                     # a GPU run
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, interleaved_times, parse_with_threads  # noqa: E402


def build_model(dim: int, channels: int, hidden: int, classes: int, packed: bool = True):
    from torch import nn

    from common.speech.layers import PyramidalBLSTM

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv1d(dim, channels, 5, padding=2, bias=False), nn.BatchNorm1d(channels),
                                      nn.GELU())
            self.rnns = nn.ModuleList([PyramidalBLSTM(channels, hidden, packed=packed),
                                       PyramidalBLSTM(2 * hidden, hidden, packed=packed)])
            self.out = nn.Linear(2 * hidden, classes)

        def forward(self, x, lengths):
            x = self.stem(x.transpose(1, 2)).transpose(1, 2)
            for rnn in self.rnns:
                x, lengths = rnn(x, lengths)
            return self.out(x), lengths

    return Model()


def ctc_training_pass(model, opt, ctc_loss, batches, device) -> None:
    """One pass over ``batches`` (padded utterance batches): forward, CTC loss in fp32, backward,
    optimizer step; then waits for the device."""
    import torch

    for b in batches:
        logits, out_lengths = model(b.features, b.feature_lengths)                # (B, T', C)
        loss = ctc_loss(logits.float().log_softmax(-1).transpose(0, 1), b.targets, out_lengths, b.target_lengths)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="small", help="demo corpus size (tiny | small | medium | a number)")
    p.add_argument("--data-dir", default=str(REPO_ROOT / "data" / "demo"))
    p.add_argument("--max-frames", type=int, default=12000, help="padded frames per batch (both samplers)")
    p.add_argument("--channels", type=int, default=96)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--utterances", type=int, default=96, help="utterances per timed round (the same for both)")
    p.add_argument("--rounds", type=int, default=3)
    args = parse_with_threads(p, argv, threads=2)

    import numpy as np
    import torch
    from padding import random_budget_batches
    from torch import nn

    from common.demo.speech import write_hw3p2
    from common.speech.layers import BLSTM
    from common.speech.utterances import BucketBatchSampler, collate_utterances, load_hw3p2, padding_fraction

    device = torch.device(args.device)
    root = write_hw3p2(Path(args.data_dir) / str(args.size), size=args.size, seed=0)
    store = load_hw3p2(root, "train-clean-100", progress=False)
    lengths = store.feature_lengths
    rng = np.random.default_rng(0)
    sampler = BucketBatchSampler(lengths, args.max_frames, seed=0)
    bucketed = [list(b) for b in sampler]
    random = [b.tolist() for b in random_budget_batches(lengths, args.max_frames, rng)]
    pad = {"random": padding_fraction([lengths[b] for b in random]),
           "bucketed": padding_fraction([lengths[b] for b in bucketed])}
    print(f"device {device} ({cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name()}), "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print(f"demo {args.size}: {len(store)} utterances, mean {lengths.mean():.0f} frames (min {lengths.min()}, "
          f"max {lengths.max()}); budget {args.max_frames:,} padded frames per batch")
    print(f"  random:   {len(random):4d} batches/epoch, padding {pad['random']:.1%}")
    print(f"  bucketed: {len(bucketed):4d} batches/epoch, padding {pad['bucketed']:.1%}")

    # the same utterances in both timed sets: a random subset, batched both ways under the budget
    subset = np.sort(rng.choice(len(store), min(args.utterances, len(store)), replace=False))
    sub_lengths = lengths[subset]
    grouped = {"bucketed": BucketBatchSampler(sub_lengths, args.max_frames, seed=0),
               "random": random_budget_batches(sub_lengths, args.max_frames, rng)}
    timed = {k: [[int(subset[i]) for i in b] for b in v] for k, v in grouped.items()}
    batches = {k: [collate_utterances([store[i] for i in b]).to(device) for b in v] for k, v in timed.items()}
    utts = {k: sum(len(b) for b in v) for k, v in batches.items()}

    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    models = {}
    for packed in (True, False):
        torch.manual_seed(0)
        model = build_model(store.dim, args.channels, args.hidden, 41, packed=packed).to(device)
        models[packed] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3))

    def train(name, packed):
        model, opt = models[packed]
        return lambda: ctc_training_pass(model, opt, ctc, batches[name], device)

    t0 = time.perf_counter()
    cases = {(k, p): train(k, p) for p in (True, False) for k in ("random", "bucketed")}
    times = interleaved_times(cases, args.rounds)
    speed = {c: utts[c[0]] / times[c][0] for c in times}
    print(f"\ntraining step (forward + CTC + backward + AdamW), {args.rounds} rounds, medians "
          f"({time.perf_counter() - t0:.0f} s):")
    for (k, p), v in speed.items():
        lstm_kind = "packed BiLSTMs" if p else "padded + reversal BiLSTMs"
        print(f"  {k:9s} {lstm_kind:26s}: {len(batches[k]):3d} batches, {utts[k]} utterances, "
              f"{times[(k, p)][0]:.2f} s, {v:.1f} utterances/s")
    for p, lstm_kind in ((True, "packed"), (False, "padded + reversal")):
        print(f"  ratio bucketed / random ({lstm_kind}): {speed[('bucketed', p)] / speed[('random', p)]:.2f}x "
              f"utterances/s")
    gain = speed[("bucketed", False)] / speed[("bucketed", True)]
    print(f"  ratio padded + reversal / packed (bucketed): {gain:.2f}x; padding "
          f"{pad['random'] / max(pad['bucketed'], 1e-9):.1f}x less with bucketing")

    # packed vs padded BiLSTM on the random batches (where padding is large)
    blstm = BLSTM(store.dim, args.hidden).to(device)
    exact = BLSTM(store.dim, args.hidden, packed=False).to(device)       # same result as packed
    xs = [(b.features, b.feature_lengths) for b in batches["random"]]

    def lstm(kind: str):
        def run():
            for x, n in xs:
                if kind == "packed":
                    out = blstm(x, n)[0]
                elif kind == "padded":
                    out = blstm.lstm(x)[0]
                else:
                    out = exact(x, n)[0]
                out.square().mean().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    kinds = ("padded", "packed", "reversed")
    lt = interleaved_times({k: lstm(k) for k in kinds}, args.rounds)
    frames = {"real": int(sum(int(n.sum()) for _, n in xs)), "padded": int(sum(x.shape[0] * x.shape[1] for x, _ in xs))}
    print(f"\nBiLSTM alone (hidden {args.hidden}, forward + backward) on the random batches "
          f"({frames['real']:,} real frames of {frames['padded']:,}):")
    labels = {"padded": "padded, one bidirectional call (reads padding: wrong)",
              "packed": "packed sequences (BLSTM)",
              "reversed": "padded, per-utterance reversal (BLSTM packed=False, exact)"}
    for k in kinds:
        print(f"  {labels[k]:60s}: {lt[k][0]:.3f} s, {frames['real'] / lt[k][0]:,.0f} real frames/s")
    print(f"  ratio packed / padded: {lt['padded'][0] / lt['packed'][0]:.2f}x speed; "
          f"reversed / packed: {lt['packed'][0] / lt['reversed'][0]:.2f}x speed")

if __name__ == "__main__":
    main()
