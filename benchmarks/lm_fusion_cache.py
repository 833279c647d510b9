"""Neural-LM shallow fusion in beam search: NeuralLM with the key/value cache against without.

    python benchmarks/lm_fusion_cache.py [--tokens 200 --beam 10 --batch 2 --d-model 256 --layers 2]

The LM is HW4P2's ``Decoder(cross_attention=False)`` (the notebook's model cells, the shape HW4P1
exports), random weights, eval mode. ``seq2seq_beam_search`` runs ``--tokens`` steps with a cheap
step function (a fixed random table over the previous token; eos never wins, so every hypothesis
reaches the full length) and the LM fused at weight 0.5: ``NeuralLM(model, cached=False)`` reruns
each hypothesis's whole history at every step, ``NeuralLM(model)`` feeds one token per step to the
per-row caches. Prints the time of each, the ratio (goal >= 3x at 200 tokens on one CPU thread) and
checks that both return the same hypotheses and scores.
"""
import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, parse_with_threads  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, nargs="+", default=[50, 200])
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--vocab", type=int, default=31)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-ff", type=int, default=1024)
    args = parse_with_threads(p, argv)

    import torch

    from common.lm import NeuralLM
    from common.notebook.cells import notebook_namespace
    from common.speech.decoding import seq2seq_beam_search

    ns = notebook_namespace(REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", ("model",))
    device = torch.device(args.device)
    V, sos, eos = args.vocab, 0, 2
    torch.manual_seed(0)
    model = ns["Decoder"](V, args.d_model, args.heads, args.layers, args.d_ff, dropout=0.0,
                          max_len=max(args.tokens) + 8, cross_attention=False).to(device).eval()
    table = torch.randn(V, V, device=device).log_softmax(-1)
    table[:, eos] = -1e4                                     # eos never wins: full-length hypotheses

    def step(tokens, state):
        return table[tokens[:, -1]], state

    print(f"beam search with a fused transformer LM (hw4p2 Decoder, d_model {args.d_model}, {args.layers} layers, "
          f"d_ff {args.d_ff}, V={V}), batch {args.batch} x beam {args.beam}; {device} "
          f"({cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}, {args.threads} thread(s))")
    print(f"  {'tokens':>6} {'uncached s':>11} {'cached s':>9} {'ratio':>7}  same result")
    for n in args.tokens:
        out = {}
        for cached in (False, True):
            lm = NeuralLM(model, sos=sos, eos=eos, vocab_size=V, cached=cached)
            start = time.perf_counter()
            out[cached] = seq2seq_beam_search(step, args.batch, sos, eos, n, beam_width=args.beam, device=device,
                                              scorers=[(0.5, lm)])
            if device.type == "cuda":
                torch.cuda.synchronize()
            out[cached, "s"] = time.perf_counter() - start
        same = all([s for s, _ in a] == [s for s, _ in b] and all(abs(x - y) < 1e-3 for (_, x), (_, y) in zip(a, b))
                   for a, b in zip(out[False], out[True]))
        slow, fast = out[False, "s"], out[True, "s"]
        print(f"  {n:6d} {slow:11.2f} {fast:9.2f} {slow / fast:6.1f}x  {same}")


if __name__ == "__main__":
    main()
