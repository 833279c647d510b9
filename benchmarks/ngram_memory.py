"""NGramLM on a word-level vocabulary: the sparse store's memory and speed, against the dense table.

    python benchmarks/ngram_memory.py [--V 33278 --tokens 2000000 --order 3 --score-tokens 200000
                                       --rows 64 --threads 1]

A WikiText-2-sized synthetic corpus (no download): V word types with Zipfian frequencies, each
word followed half the time by one of its few "usual successors" (so bigrams and trigrams repeat
as in text), sentences of 5-40 words. Trains an interpolated Kneser-Ney n-gram with the sparse
store and reports the peak memory of training (tracemalloc: numpy's arrays), the training time,
the store's size next to the dense table (one row of V + 1 float64 per context) it replaces, the
time to score a held-out text (``perplexity``: order lookups per token) and one ``log_probs`` +
``final`` call for a batch of rows (the decoders' step). Then the small-vocabulary case the
decoders use: CTC beam search with shallow fusion of a phoneme 4-gram (C classes), dense against
sparse store, interleaved medians; ``store="auto"`` keeps the dense table there.
"""
import argparse
import resource
import time
import tracemalloc

from _harness import cpu_name, interleaved_times, parse_with_threads


def synthetic_corpus(V, tokens, seed=0, successors=4, follow=0.5):
    """Sentences of word ids: Zipfian unigrams, and with probability ``follow`` one of the previous
    word's ``successors`` fixed next words."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, V + 1)
    zipf = rng.choice(V, size=tokens, p=weights / weights.sum())
    table = rng.choice(V, size=(V, successors), p=weights / weights.sum())
    stream = zipf.copy()
    pick = rng.integers(0, successors, size=tokens)
    use = rng.random(tokens) < follow
    for i in range(1, tokens):                            # a Markov chain: sequential by nature
        if use[i]:
            stream[i] = table[stream[i - 1], pick[i]]
    cuts = np.cumsum(rng.integers(5, 41, size=tokens // 5))
    return [s.tolist() for s in np.split(stream, cuts[cuts < tokens]) if len(s)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--V", type=int, default=33278)
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--score-tokens", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parse_with_threads(parser)

    import numpy as np
    import torch

    from common.lm import NGramLM
    from common.speech.decoding import ctc_beam_search

    print(f"NGramLM sparse store: V={args.V}, {args.tokens} training tokens, order {args.order}, "
          f"{args.threads} thread(s), {cpu_name()}")
    start = time.perf_counter()
    corpus = synthetic_corpus(args.V, args.tokens + args.score_tokens)
    held_out, count = [], 0
    while count < args.score_tokens:
        held_out.append(corpus.pop())
        count += len(held_out[-1])
    print(f"  synthetic corpus: {len(corpus)} training sentences, {count} held-out tokens "
          f"({time.perf_counter() - start:.1f} s to generate)")

    tracemalloc.start()
    start = time.perf_counter()
    lm = NGramLM.train(corpus, args.V, order=args.order, smoothing="kneser_ney")
    train_s = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    contexts = sum(len(k) for k in lm.context_keys)
    dense = contexts * (args.V + 1) * 8
    store = lm.nbytes
    print(f"  store {lm.store!r}: {store / 2**20:.1f} MiB; the dense table would be {contexts} contexts x "
          f"{args.V + 1} x 8 B = {dense / 2**30:.1f} GiB: {dense / store:.0f}x the sparse store")
    print(f"  training: {train_s:.1f} s, peak traced memory {peak / 2**20:.0f} MiB "
          f"(process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB)")

    start = time.perf_counter()
    ppl = lm.perplexity(held_out)
    print(f"  perplexity of {count} held-out tokens: {ppl:.1f} in {time.perf_counter() - start:.2f} s")

    rng = np.random.default_rng(1)
    histories = [s[:rng.integers(0, len(s) + 1)] for s in rng.choice(np.array(corpus, dtype=object), args.rows)]
    state = lm.initial(args.rows)
    for t in range(max(len(h) for h in histories)):
        state = lm.advance(state, torch.tensor([h[t] if t < len(h) else -1 for h in histories]))
    stand_in = torch.randn(1024, args.V + 1, dtype=torch.float64)     # what a dense table's gather costs
    rows = torch.randint(0, 1024, (args.rows,))
    times = interleaved_times({"sparse": lambda: (lm.log_probs(state), lm.final(state)),
                               "gather": lambda: (stand_in[:, :args.V].index_select(0, rows),
                                                  stand_in[:, args.V].index_select(0, rows))}, args.repeats)
    print(f"  log_probs + final for {args.rows} rows (output {args.rows} x {args.V} float64): "
          f"{times['sparse'][0] * 1e3:.1f} ms; a dense table's gather of the same output "
          f"{times['gather'][0] * 1e3:.1f} ms ({times['sparse'][0] / times['gather'][0]:.1f}x)")

    # small vocabulary: fusion in the batched CTC beam search, dense table against sparse store
    C, order = 41, 4
    rng = np.random.default_rng(2)
    phones = [rng.integers(1, C, size=rng.integers(20, 80)).tolist() for _ in range(400)]
    lms = {store: NGramLM.train(phones, C, order=order, store=store) for store in ("dense", "sparse")}
    logits = torch.randn(32, 300, C, generator=torch.Generator().manual_seed(0)) * 3
    log_probs = logits.log_softmax(-1)
    times = interleaved_times({store: lambda m=m: ctc_beam_search(log_probs, beam_width=10, lm=m, lm_weight=0.5)
                               for store, m in lms.items()}, 3)
    print(f"  CTC beam search (32 x 300 frames, C={C}, width 10) with a phoneme {order}-gram: dense "
          f"{times['dense'][0]:.2f} s, sparse {times['sparse'][0]:.2f} s: sparse / dense = "
          f"{times['sparse'][0] / times['dense'][0]:.2f}x; store='auto' picks "
          f"{NGramLM.train(phones, C, order=order).store!r}")


if __name__ == "__main__":
    main()
