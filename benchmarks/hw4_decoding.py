"""HW4P2's transformer (hw4p2.ipynb's model cells): greedy decoding with and without the key/value
cache, and training with SDPA against a hand-written attention.

    python benchmarks/hw4_decoding.py [--lengths 50 200 400 --batch 2 --d-model 256 --dec-layers 2 --threads 1]

(1) Greedy decoding of ``batch`` utterances to exactly N tokens (the end token is made unreachable):
    (a) uncached: every step reruns the decoder over the whole prefix; (b) cached: the newest
    token only, against the cached self-attention keys/values and the cross-attention keys/values
    computed once. Same tokens asserted; tokens/s of each and the ratio (b)/(a) per N.
(2) Training steps (forward + backward of the joint CE + CTC loss) with
    ``F.scaled_dot_product_attention`` against ``common.speech.transformer.manual_attention``
    (softmax(q k^T / sqrt(d)) v written out), swapped into the notebook's ``attend``; target
    tokens/s of each and the ratio. Timings interleaved (``_harness``), medians.
"""
import argparse
import time

from _harness import REPO_ROOT, cpu_name, interleaved_times, parse_with_threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 400])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=1000, help="input frames per utterance (x4 fewer encoder frames)")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--enc-layers", type=int, default=2)
    parser.add_argument("--dec-layers", type=int, default=2)
    parser.add_argument("--d-ff", type=int, default=1024)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-tokens", type=int, default=100, help="target tokens per training utterance")
    parser.add_argument("--repeats", type=int, default=3, help="timed training steps per contender")
    args = parse_with_threads(parser)

    import torch
    import torch.nn.functional as F

    from common.notebook.cells import notebook_namespace
    from common.speech.transformer import manual_attention

    ns = notebook_namespace(REPO_ROOT / "hw4_transformer" / "hw4p2.ipynb", ("model",))
    device = torch.device(args.device)
    V, sos, blank = 31, 0, 1
    eos = V                                                   # never emitted: every row runs N steps
    torch.manual_seed(0)
    model = ns["SpeechTransformer"](V, d_model=args.d_model, n_heads=args.heads, enc_layers=args.enc_layers,
                                    dec_layers=args.dec_layers, d_ff=args.d_ff, dropout=0.0, channels=32,
                                    max_frames=4096, max_len=max(args.lengths) + 8).to(device).eval()
    x = torch.randn(args.batch, args.frames, 80, device=device)
    lengths = torch.full((args.batch,), args.frames, device=device)
    where = f"{device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
                           f" ({cpu_name()}, {args.threads} thread(s))")
    print(f"hw4p2 transformer d_model {args.d_model}, {args.enc_layers}+{args.dec_layers} layers, d_ff {args.d_ff}, "
          f"batch {args.batch}, {args.frames} frames; {where}")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    print("\n(1) greedy decoding, tokens/s (batch x N / s)")
    print(f"{'N':>5} {'uncached':>10} {'cached':>10} {'ratio':>7}")
    for n in args.lengths:
        out = {}
        for cached in (False, True):
            ns["greedy_decode"](model, x, lengths, sos, eos, 5, cached=cached)          # warm-up
            sync()
            t0 = time.perf_counter()
            out[cached] = ns["greedy_decode"](model, x, lengths, sos, eos, n, cached=cached)
            sync()
            out[cached, "s"] = time.perf_counter() - t0
        assert out[True] == out[False], f"cached and uncached decoding differ at N={n}"
        assert all(len(row) == n for row in out[True])
        rate = {c: args.batch * n / out[c, "s"] for c in (False, True)}
        print(f"{n:5d} {rate[False]:10.0f} {rate[True]:10.0f} {rate[True] / rate[False]:6.1f}x")

    print("\n(2) training steps (forward + backward, joint CE + CTC), target tokens/s")
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    B, L = args.train_batch, args.train_tokens
    xt = torch.randn(B, args.frames, 80, device=device)
    xl = torch.full((B,), args.frames, device=device)
    y = torch.randint(3, V, (B, L), device=device)

    def step():
        logits, ctc_logits, enc_lengths = model(xt, xl, torch.cat([torch.full((B, 1), sos, device=device), y], 1))
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), y.flatten()) + F.ctc_loss(
            ctc_logits.log_softmax(-1).transpose(0, 1), y, enc_lengths, torch.full((B,), L, device=device), blank=blank)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()

    def with_attention(fn):
        def run():
            ns["attend"] = fn
            step()
        return run

    times = interleaved_times({"sdpa": with_attention(F.scaled_dot_product_attention),
                               "manual": with_attention(manual_attention)}, args.repeats)
    ns["attend"] = F.scaled_dot_product_attention
    rate = {k: B * L / wall for k, (wall, _) in times.items()}
    print(f"{'attention':>10} {'tokens/s':>10}")
    for k in ("manual", "sdpa"):
        print(f"{k:>10} {rate[k]:10.0f}")
    print(f"SDPA / hand-written: {rate['sdpa'] / rate['manual']:.2f}x")


if __name__ == "__main__":
    main()
