"""Choosing ctc_beam_search's pruning defaults: top-1 agreement with the unpruned search, and speed.

    python benchmarks/ctc_pruning.py [--widths 10 16 --lm-weight 0.5 --bonus 1.0]

Posteriors: the HW3P2 demo model's dev set (``ctc_demo_posteriors.py``, trained once and cached),
and, when ``data/real/`` holds the real-speech set, nothing more yet (see RESULTS.md). For each
pruning setting (token floor ``prune_log_prob``, beam margin ``beam_prune_log_prob``) and width,
without an LM and with a phoneme 4-gram fused (the notebook's LM: trained on the train
transcripts), the share of utterances whose best hypothesis equals the unpruned search's at the
same width, one utterance at a time and batched (all of dev in one call), with the time per frame
(1 thread; a shared machine inflates all times alike: compare within a run).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import cpu_name, parse_with_threads  # noqa: E402

SETTINGS = [(None, None), (-5.0, -10.0), (-8.0, -12.0), (-10.0, -12.0), (-10.0, -15.0), (-12.0, -20.0)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small")
    p.add_argument("--widths", type=int, nargs="+", default=[10, 16])
    p.add_argument("--lm-weight", type=float, default=0.5)
    p.add_argument("--bonus", type=float, default=1.0)
    p.add_argument("--root", default=None, help="posteriors of a model trained on this HW3P2-layout folder "
                   "(e.g. data/real/11-785-f24-hw3p2, the real-speech set) instead of the demo")
    p.add_argument("--epochs", type=int, default=None, help="training epochs of that model (default 8, real 40)")
    args = parse_with_threads(p, argv, device=None)
    import torch
    from ctc_demo_posteriors import demo_posteriors

    from common.lm import NGramLM
    from common.speech.decoding import ctc_beam_search

    epochs = args.epochs or (8 if args.root is None else 40)
    data = demo_posteriors(args.size, epochs, root=args.root)
    utts = [lp[None].double() for lp in data["log_probs"]]
    lm = NGramLM.train([t.tolist() for t in data["train_targets"]], vocab_size=41, order=4)
    frames = sum(u.shape[1] for u in utts)
    lengths = torch.tensor([u.shape[1] for u in utts])
    padded = torch.nn.utils.rnn.pad_sequence([u[0] for u in utts], batch_first=True)      # one call, all of dev
    where = f"HW3P2 demo ({args.size})" if args.root is None else f"{args.root} ({epochs} epochs)"
    print(f"{where} dev posteriors: {len(utts)} utterances, {frames} frames, 41 classes; "
          f"1 thread, {cpu_name()}; agreement = same best hypothesis as the unpruned search")
    fusions = {"no LM": {}, f"4-gram x{args.lm_weight} +{args.bonus}": {"lm": lm, "lm_weight": args.lm_weight,
                                                                       "insertion_bonus": args.bonus}}
    for width in args.widths:
        for name, kw in fusions.items():
            print(f"width {width}, {name}:")
            ref = ref_batched = None
            for floor, margin in SETTINGS:
                start = time.perf_counter()
                best = [ctc_beam_search(u, beam_width=width, prune_log_prob=floor, beam_prune_log_prob=margin,
                                        **kw)[0][0][0] for u in utts]
                dt = time.perf_counter() - start
                start = time.perf_counter()
                batched = [h[0][0] for h in ctc_beam_search(padded, lengths, beam_width=width, prune_log_prob=floor,
                                                            beam_prune_log_prob=margin, **kw)]
                dt_batched = time.perf_counter() - start
                ref = best if ref is None else ref
                ref_batched = batched if ref_batched is None else ref_batched
                same = sum(a == b for a, b in zip(best, ref)) / len(utts)
                same_batched = sum(a == b for a, b in zip(batched, ref_batched)) / len(utts)
                print(f"  floor {floor!s:>6} margin {margin!s:>6}: agreement {same:7.1%} one at a time "
                      f"({dt / frames * 1e6:6.1f} us/frame), {same_batched:7.1%} batched "
                      f"({dt_batched / frames * 1e6:6.1f} us/frame)", flush=True)


if __name__ == "__main__":
    main()
