"""Transformer LM generation with and without the key/value cache (hw4p1.ipynb's TransformerLM).

    python benchmarks/lm_generation.py [--tokens 200 --batch 8 --prefix 16 --d-model 256 --layers 4 --threads 1]

Greedy continuation of ``batch`` random prefixes by ``tokens`` tokens, (a) uncached: every step
reruns the model over the whole sequence, (b) cached: the prefix once, then only the newest token
against the cached keys and values. The two must give the same tokens (asserted); prints the
tokens per second of each and the ratio (b) / (a). One run each, after a short warm-up.
"""
import argparse
import time

from _harness import cpu_name, parse_with_threads


def generation_steps(model):
    """The two step functions of ``common.text.generate`` for a TransformerLM: (uncached, cached).
    Uncached reruns the model over the whole sequence; cached feeds the prefix once, then only the
    newest token against the model's key/value cache."""
    def uncached(tokens, state):
        return model(tokens)[0][:, -1], None

    def cached(tokens, state):
        new = tokens if state is None else tokens[:, -1:]
        logits, state = model(new, model.new_cache() if state is None else state)
        return logits[:, -1], state

    return uncached, cached


def timed_generation(step, prefix, tokens: int, device, warmup: int = 5):
    """(tokens (B, P + tokens), seconds) of a greedy ``generate`` after a ``warmup``-token warm-up."""
    import torch

    from common.text import generate

    generate(step, prefix, warmup)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    out = generate(step, prefix, tokens)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prefix", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    args = parse_with_threads(parser)

    import torch

    from tests.hw4.nbcode import notebook_models

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = notebook_models().TransformerLM(args.vocab, args.d_model, args.heads, args.layers, 4 * args.d_model,
                                            0.0, args.prefix + args.tokens).to(device).eval()
    prefix = torch.randint(0, args.vocab, (args.batch, args.prefix), device=device)

    uncached, cached = generation_steps(model)

    out_a, t_a = timed_generation(uncached, prefix, args.tokens, device)
    out_b, t_b = timed_generation(cached, prefix, args.tokens, device)
    assert torch.equal(out_a, out_b), "cached generation differs from uncached generation"
    n = args.batch * args.tokens
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {args.threads} thread(s)"
    print(f"TransformerLM d_model {args.d_model}, {args.layers} layers, vocab {args.vocab}; batch {args.batch}, "
          f"prefix {args.prefix}, {args.tokens} new tokens each, greedy; {where}")
    print(f"(a) uncached: {n / t_a:8.0f} tokens/s ({t_a:.2f} s)")
    print(f"(b) cached  : {n / t_b:8.0f} tokens/s ({t_b:.2f} s)   same tokens: yes")
    print(f"ratio (b)/(a): {t_a / t_b:.2f}x")


if __name__ == "__main__":
    main()
