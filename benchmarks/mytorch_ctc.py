"""CTC loss forward + backward: mytorch (NumPy, log space) against torch.nn.functional.ctc_loss
on the CPU, measured in the same run with the same number of threads.

    python benchmarks/mytorch_ctc.py [--N 16 --T 400 --C 41 --L 80 --repeats 5 --threads 1]

Prints the median time of each and the ratio mytorch / torch (goal: within 5x).
"""
import argparse

from _harness import interleaved_times, parse_with_threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=16)
    parser.add_argument("--T", type=int, default=400)
    parser.add_argument("--C", type=int, default=41)
    parser.add_argument("--L", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    args = parse_with_threads(parser, device=None)

    import numpy as np
    import torch

    from mytorch.nn import CTCLoss

    N, T, C, L = args.N, args.T, args.C, args.L
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(T, N, C))
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)                     # (T, N, C)
    target = rng.integers(1, C, size=(N, L))
    input_lengths = rng.integers(T * 3 // 4, T + 1, size=N)
    input_lengths[0] = T
    target_lengths = rng.integers(L * 3 // 4, L + 1, size=N)
    target_lengths[0] = L

    loss = CTCLoss(BLANK=0, convention="torch")

    def run_mytorch():
        value = loss.forward(probs, target, input_lengths, target_lengths)
        return value, loss.backward()

    t_args = [torch.tensor(a) for a in (target, input_lengths, target_lengths)]

    def torch_runner(dtype):
        t_probs = torch.tensor(probs, dtype=dtype)

        def run_torch():
            log_probs = t_probs.log().requires_grad_()
            value = torch.nn.functional.ctc_loss(log_probs, *t_args, reduction="sum") / N
            value.backward()
            return value.item(), log_probs.grad
        return run_torch

    run_torch = torch_runner(torch.float64)

    (mine, _), (ref, _) = run_mytorch(), run_torch()
    if not np.isclose(mine, ref, rtol=1e-9):
        raise SystemExit(f"losses differ: mytorch {mine} vs torch {ref}")
    t = interleaved_times({"mytorch": run_mytorch, "torch": run_torch,
                           "torch32": torch_runner(torch.float32)}, args.repeats)
    t_mine, t_torch, t_torch32 = (t[k][0] for k in ("mytorch", "torch", "torch32"))
    print(f"CTC loss forward+backward, float64, N={N} T={T} C={C} L={L}, "
          f"{args.threads} thread(s), CPU, median of {args.repeats}")
    print(f"  loss                      {mine:.6f} (torch {ref:.6f})")
    print(f"  mytorch (NumPy, log space) {t_mine * 1e3:8.1f} ms")
    print(f"  torch ctc_loss (CPU)       {t_torch * 1e3:8.1f} ms")
    print(f"  ratio mytorch / torch      {t_mine / t_torch:8.2f}x   (goal <= 5x)")
    print(f"  (torch in float32:         {t_torch32 * 1e3:8.1f} ms, ratio {t_mine / t_torch32:.2f}x)")


if __name__ == "__main__":
    main()
