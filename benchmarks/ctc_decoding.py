"""CTC prefix beam search: common.speech.decoding.ctc_beam_search (batched tensors) against pyctcdecode.

    python benchmarks/ctc_decoding.py [--B 64 --min-T 300 --max-T 1500 --C 41 --widths 1 10 50
                                       --threads 1 --device cpu]

One run per width (no repeats: pyctcdecode takes minutes at width 50). Both decoders get the same
random but peaky posteriors (a softmax of scaled noise plus a path of random tokens), without an LM,
with pyctcdecode's pruning opened up (beam_prune_logp and token_min_logp very low) so that both
search the same space at equal beam width. Prints utterances per second of each, the ratio (goal at
width 10 on the CPU: >= 20x), and the share of utterances whose best hypothesis is the same.
pyctcdecode declares numpy<2; install it with ``pip install --no-deps pyctcdecode pygtrie`` (without
it, ours alone is timed). The whole run takes about 25 minutes on one CPU core, nearly all of it
pyctcdecode at width 50.
"""
import argparse
import time

from _harness import cpu_name, parse_with_threads


def peaky_posteriors(B, min_T, max_T, C, seed=0):
    """(B, max_T, C) float32 log probs and (B,) lengths: per frame, noise plus 6 on the class of a
    random path (runs of 1-6 frames of one token, blank between about half of them)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_T, max_T + 1, size=B)
    logits = 1.0 * rng.standard_normal((B, max_T, C))
    for b in range(B):
        t = 0
        while t < max_T:
            run = int(rng.integers(1, 7))
            token = 0 if rng.random() < 0.5 else int(rng.integers(1, C))
            logits[b, t:t + run, token] += 6.0
            t += run
    log_probs = torch.log_softmax(torch.tensor(logits), dim=-1).float()
    return log_probs, torch.tensor(lengths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, default=64)
    parser.add_argument("--min-T", type=int, default=300)
    parser.add_argument("--max-T", type=int, default=1500)
    parser.add_argument("--C", type=int, default=41)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--no-pyctcdecode", action="store_true", help="time ours only (e.g. on a GPU)")
    args = parse_with_threads(parser)

    import numpy as np
    import torch

    from common.speech.decoding import ctc_beam_search

    log_probs, lengths = peaky_posteriors(args.B, args.min_T, args.max_T, args.C)
    assert log_probs.min() > np.log(1e-15)                    # pyctcdecode clips below 1e-15
    device = torch.device(args.device)
    decoder = None
    if not args.no_pyctcdecode:
        try:
            from pyctcdecode import build_ctcdecoder
        except ImportError:
            print("pyctcdecode is not installed (pip install --no-deps pyctcdecode pygtrie): timing ours only")
            args.no_pyctcdecode = True
    if not args.no_pyctcdecode:
        import logging
        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        labels = [""] + [chr(0x4E00 + i) for i in range(args.C - 1)]       # one character per class
        to_id = {ch: i for i, ch in enumerate(labels)}
        decoder = build_ctcdecoder(labels)
        utterances = [log_probs[b, :lengths[b]].double().numpy() for b in range(args.B)]

    where = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(f"CTC prefix beam search, B={args.B} utterances of {args.min_T}-{args.max_T} frames "
          f"({int(lengths.sum())} frames), C={args.C}, no LM, one run per width, "
          f"{args.threads} thread(s), {cpu_name()}; ours on {where}")
    print(f"  {'width':>5} {'ours utt/s':>11} {'pyctcdecode utt/s':>18} {'ratio':>8} {'same best':>10}")
    for width in args.widths:
        lp_dev = log_probs.to(device)
        ctc_beam_search(lp_dev[:2, :50], lengths.clamp(max=50)[:2], beam_width=width)   # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        ours = ctc_beam_search(lp_dev, lengths, beam_width=width)
        t_ours = time.perf_counter() - start
        if decoder is None:
            print(f"  {width:>5} {args.B / t_ours:>11.1f} {'-':>18} {'-':>8} {'-':>10}")
            continue
        start = time.perf_counter()
        theirs = [decoder.decode_beams(u, beam_width=width, beam_prune_logp=-1e9, token_min_logp=-1e9)
                  for u in utterances]
        t_theirs = time.perf_counter() - start
        same = np.mean([ours[b][0][0] == [to_id[ch] for ch in theirs[b][0][0]] for b in range(args.B)])
        print(f"  {width:>5} {args.B / t_ours:>11.1f} {args.B / t_theirs:>18.2f} "
              f"{t_theirs / t_ours:>7.1f}x {same:>10.0%}")


if __name__ == "__main__":
    main()
