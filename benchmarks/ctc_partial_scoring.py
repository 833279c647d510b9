"""Joint CTC/attention beam search: pre-beam partial CTC prefix scoring (ESPnet) against full scoring.

    python benchmarks/ctc_partial_scoring.py [--V 1000 --utterances 32 --batch 8 --beam 10 --frames 250]

A 1,000-token subword vocabulary (HW4P2 with subwords). Per utterance a random target of 15-25
tokens; CTC log probabilities (``--frames`` encoder frames, at most 200 used by the path) peaky
along it (each token held 2-6 frames, blanks between, unit noise plus 12 on the path class: P ~ 0.99
as a trained head's); the "attention decoder" is a step function whose log probabilities favour the
next token of the target after the longest target prefix of the history (+5 over unit noise: its top
token is wrong now and then, and now and then its top 15 miss the right one too).
``seq2seq_beam_search`` with ``CTCPrefixScorer`` at weight 0.5: ``pre_beam=None`` scores every token of
every hypothesis (full), ``pre_beam=k`` the k best by the decoder (k = 1.5, 3 and 6 x beam: ESPnet's
ratio and wider) UNION the tokens the CTC head supports in the utterance (posterior >= the scorer's
``pre_beam_floor`` in some frame, 0.1 by default; ``--floors`` sweeps it, ``none``: the decoder's k
best only, ESPnet's pre-beam); the decoder alone (no CTC) for scale. Prints the time of each, the
ratios (goal >= 5x at V = 1,000 on one CPU thread), the share of utterances with the same best
hypothesis as full scoring (goal >= 97%) and the mean number of supported tokens per utterance.
"""
import argparse
import math
import time

from _harness import cpu_name, parse_with_threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=1000)
    p.add_argument("--utterances", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--frames", type=int, default=250)
    p.add_argument("--ctc-weight", type=float, default=0.5)
    p.add_argument("--pre-beams", type=int, nargs="*", default=None, help="default: 1.5, 3 and 6 x beam")
    p.add_argument("--floors", nargs="*", default=["0.1", "none"],
                   help="pre_beam_floor as probabilities ('none': no union with the CTC's tokens)")
    args = parse_with_threads(p, argv)

    import numpy as np
    import torch

    from common.speech.decoding import CTCPrefixScorer, seq2seq_beam_search

    V, K, blank, sos, eos = args.V, args.beam, 0, 1, 2
    rng = np.random.default_rng(0)
    targets, lps = [], []
    for _ in range(args.utterances):
        target = rng.integers(3, V, size=int(rng.integers(15, 26))).tolist()
        logits = rng.standard_normal((args.frames, V)).astype(np.float32)
        t = 0
        for tok in target:
            run = int(rng.integers(2, 7))
            logits[t:t + run, tok] += 12.0
            t += run
            gap = int(rng.integers(0, 3))
            logits[t:t + gap, blank] += 12.0
            t += gap
        logits[t:, blank] += 12.0
        targets.append(target)
        lps.append(torch.log_softmax(torch.from_numpy(logits), -1))
    pad = torch.full((V,), eos)

    def decode(pre_beam, floor=None):
        best = []
        for start in range(0, args.utterances, args.batch):
            batch = range(start, min(start + args.batch, args.utterances))
            B = len(batch)
            goal = torch.stack([torch.cat([torch.tensor(targets[i] + [eos]), pad])[:V] for i in batch])  # (B, V)
            noise = torch.randn(B * K, 64, V, generator=torch.Generator().manual_seed(start))

            def step(tokens, state, B=B, goal=goal, noise=noise):
                # favours the target's next token after the longest target prefix of the history
                pos = tokens.shape[1] - 1
                rows = torch.arange(B * K) // K
                history = tokens[:, 1:]
                matched = (history == goal[rows, :pos]).long().cumprod(1).sum(1) if pos else torch.zeros(B * K).long()
                out = noise[:, pos % 64].clone()
                out[torch.arange(B * K), goal[rows, matched.clamp(max=V - 1)]] += 5.0
                return out.log_softmax(-1), state

            lp = torch.stack([lps[i] for i in batch])
            scorer = CTCPrefixScorer(lp, torch.full((B,), args.frames), blank=blank, eos=eos, beam_width=K,
                                     pre_beam_floor=floor)
            if scorer.support is not None:
                support.append(float((scorer.support >= 0).sum(1).float().mean()))
            hyps = seq2seq_beam_search(step, B, sos, eos, 32, K, scorers=[(args.ctc_weight, scorer)] if pre_beam != 0
                                       else [], pre_beam=pre_beam or None)
            best += [h[0][0] if h else [] for h in hyps]
        return best

    print(f"joint CTC/attention beam search, V={V}, {args.utterances} utterances of {args.frames} frames, "
          f"batches of {args.batch}, beam {K}, CTC weight {args.ctc_weight}; 1 pass each, {args.threads} "
          f"thread(s), {cpu_name()}")
    out = {}
    pre_beams = args.pre_beams or [math.ceil(1.5 * K), 3 * K, 6 * K]
    floors = [None if f == "none" else math.log(float(f)) for f in args.floors]
    runs = [("full (pre_beam=None)", None, None)]
    for floor, name in zip(floors, args.floors):
        runs += [(f"pre_beam={k}, floor {name}", k, floor) for k in pre_beams]
    support = []
    for name, pre_beam, floor in runs + [("no CTC", 0, None)]:
        support.clear()
        start = time.perf_counter()
        out[name] = (decode(pre_beam, floor), time.perf_counter() - start)
        correct = sum(h == t for h, t in zip(out[name][0], targets)) / args.utterances
        extra = f"   {np.mean(support):.1f} tokens always scored (CTC-supported, eos)" if support else ""
        print(f"  {name:28s} {out[name][1]:7.2f} s   best = target {correct:5.1%}{extra}")
    full, t_full = out["full (pre_beam=None)"]
    for name, _, _ in runs[1:]:
        part, t_part = out[name]
        same = sum(a == b for a, b in zip(full, part)) / args.utterances
        print(f"  {name}: {t_full / t_part:.1f}x faster than full; same best hypothesis {same:.1%}")


if __name__ == "__main__":
    main()
