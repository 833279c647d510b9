"""CTC prefix beam search: common.speech.decoding.ctc_beam_search against pyctcdecode, as users run them.

    python benchmarks/ctc_decoding.py [--B 64 --min-T 300 --max-T 1500 --C 41 --widths 1 10 50
                                       --threads 1 --device cpu --no-unpruned]

One run, the same posteriors for everyone (random but peaky: a softmax of unit noise plus 6 on the
class of a random path, runs of 1-6 frames, blank between about half of them), no LM; each contender
timed ``--repeat`` times (default 3, the fastest pass counts; pyctcdecode unpruned once: minutes at
width 50), one after the other. Contenders at each width:

- pyctcdecode, DEFAULT settings (token_min_logp=-5, beam_prune_logp=-10), one utterance at a time
  (its only mode): what a user gets;
- pyctcdecode unpruned (both at -1e9: its Python loop over every symbol), one at a time;
- ours with ITS default pruning, batched (all B utterances in one call: (B, K) NumPy arrays per frame);
- ours with its default pruning, one utterance per call (the plain-Python path of a batch of one);
- ours unpruned, batched (the exact prefix beam search at that width: the agreement reference).

Prints utterances per second of each, the speed ratios against both pyctcdecode settings (goals on
one CPU thread at width 10: batched >= 20x pyctcdecode default, one at a time >= 2x), and the top-1
agreement of each pair (share of utterances with the same best hypothesis; goal >= 97%).
pyctcdecode declares numpy<2; install it with ``pip install --no-deps pyctcdecode pygtrie``
(without it, ours alone is timed).
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


def pyctcdecode_decoder(C):
    """(decoder, labels -> ids function) or None when pyctcdecode is not installed."""
    try:
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        return None
    import logging
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    labels = [""] + [chr(0x4E00 + i) for i in range(C - 1)]                  # one character per class
    to_id = {ch: i for i, ch in enumerate(labels)}
    return build_ctcdecoder(labels), lambda text: [to_id[ch] for ch in text]


def run_all(log_probs, lengths, width, device, decoder=None, unpruned=True, repeat=1):
    """{contender: (seconds, best hypotheses)} for one width (see the module docstring)."""
    import torch

    from common.speech.decoding import ctc_beam_search

    B = len(lengths)
    out = {}

    def timed(name, fn, passes=repeat):
        seconds = []
        for _ in range(passes):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            best = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        out[name] = (min(seconds), best)

    lp_dev = log_probs.to(device)
    ctc_beam_search(lp_dev[:2, :50], lengths.clamp(max=50)[:2], beam_width=width)      # warm-up
    timed("ours batched", lambda: [h[0][0] for h in ctc_beam_search(lp_dev, lengths, beam_width=width)])
    timed("ours one at a time", lambda: [ctc_beam_search(log_probs[b:b + 1, :int(lengths[b])],
                                                         beam_width=width)[0][0][0] for b in range(B)])
    timed("ours unpruned batched", lambda: [h[0][0] for h in ctc_beam_search(
        lp_dev, lengths, beam_width=width, prune_log_prob=None, beam_prune_log_prob=None)])
    if decoder is not None:
        dec, to_ids = decoder
        utterances = [log_probs[b, :lengths[b]].double().numpy() for b in range(B)]
        timed("pyctcdecode default", lambda: [to_ids(dec.decode_beams(u, beam_width=width)[0][0]) for u in utterances])
        if unpruned:
            timed("pyctcdecode unpruned", lambda: [to_ids(dec.decode_beams(u, beam_width=width, beam_prune_logp=-1e9,
                                                                         token_min_logp=-1e9)[0][0])
                                                   for u in utterances], passes=1)
    return out


def agreement(a, b) -> float:
    return sum(x == y for x, y in zip(a, b)) / len(a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, default=64)
    parser.add_argument("--min-T", type=int, default=300)
    parser.add_argument("--max-T", type=int, default=1500)
    parser.add_argument("--C", type=int, default=41)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per contender (the fastest counts)")
    parser.add_argument("--no-pyctcdecode", action="store_true", help="time ours only (e.g. on a GPU)")
    parser.add_argument("--no-unpruned", action="store_true", help="skip pyctcdecode unpruned (minutes at width 50)")
    args = parse_with_threads(parser)

    import numpy as np
    import torch

    from common.speech.decoding.ctc import BEAM_PRUNE_LOG_PROB, PRUNE_LOG_PROB

    log_probs, lengths = peaky_posteriors(args.B, args.min_T, args.max_T, args.C)
    assert log_probs.min() > np.log(1e-15)                    # pyctcdecode clips below 1e-15
    device = torch.device(args.device)
    decoder = None if args.no_pyctcdecode else pyctcdecode_decoder(args.C)
    if decoder is None and not args.no_pyctcdecode:
        print("pyctcdecode is not installed (pip install --no-deps pyctcdecode pygtrie): timing ours only")
    where = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(f"CTC prefix beam search, B={args.B} utterances of {args.min_T}-{args.max_T} frames "
          f"({int(lengths.sum())} frames), C={args.C}, no LM, fastest of {args.repeat} timed passes each "
          f"(pyctcdecode unpruned: 1), {args.threads} thread(s), "
          f"{cpu_name()}; ours on {where} with prune_log_prob={PRUNE_LOG_PROB}, "
          f"beam_prune_log_prob={BEAM_PRUNE_LOG_PROB}; pyctcdecode default: token_min_logp=-5, beam_prune_logp=-10")
    for width in args.widths:
        out = run_all(log_probs, lengths, width, device, decoder, unpruned=not args.no_unpruned, repeat=args.repeat)
        print(f"width {width}:")
        for name, (seconds, _) in out.items():
            print(f"  {name:24s} {args.B / seconds:9.2f} utt/s  ({seconds:7.2f} s)")
        for ours in ("ours batched", "ours one at a time"):
            for theirs in ("pyctcdecode default", "pyctcdecode unpruned"):
                if theirs in out:
                    print(f"  {ours} vs {theirs}: {out[theirs][0] / out[ours][0]:6.1f}x faster, "
                          f"same best {agreement(out[ours][1], out[theirs][1]):5.1%}")
        names = list(out)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if not (a.startswith("ours") and b.startswith("pyctc")):
                    print(f"  same best, {a} / {b}: {agreement(out[a][1], out[b][1]):5.1%}")


if __name__ == "__main__":
    main()
