"""Conv2d forward + backward: mytorch (NumPy, one GEMM per kernel offset) against
torch.nn.functional.conv2d on the CPU, measured in the same run with the same threads.

    python benchmarks/mytorch_conv.py [--N 32 --C 64 --O 64 --H 56 --k 3 --repeats 5 --threads 1]

float32, stride 1, padding 1 (a ResNet block's 3x3 convolution). Both compute Z, dLdA, dLdW
and dLdb for the same input, weights and upstream gradient; the outputs are compared first.
The two are timed alternately (mytorch, torch, mytorch, ...) so that both see the same
machine load; the median wall time and the median CPU time of this process are printed, with
the ratio mytorch / torch (goal: within 3x). With one thread on a shared machine the CPU-time
ratio is the steadier figure: time spent descheduled does not count.

numpy's OpenBLAS picks its kernels from the CPU unless OPENBLAS_CORETYPE says otherwise (some
machines pin it to Haswell, AVX2, while torch's oneDNN uses AVX-512 where the CPU has it); the
kernels in use are printed.
"""
import argparse

from _harness import blas_threads, interleaved_times, parse_with_threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=32)
    parser.add_argument("--C", type=int, default=64, help="input channels")
    parser.add_argument("--O", type=int, default=64, help="output channels")
    parser.add_argument("--H", type=int, default=56, help="height = width")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parse_with_threads(parser, device=None)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from mytorch.nn import Conv2d

    N, C, O, H, k = args.N, args.C, args.O, args.H, args.k
    pad = k // 2
    rng = np.random.default_rng(0)
    f32 = np.float32
    A = rng.standard_normal((N, C, H, H), dtype=f32)
    layer = Conv2d(C, O, k, stride=1, padding=pad,
                   weight_init_fn=lambda *s: (rng.standard_normal(s) / np.sqrt(C * k * k)).astype(f32),
                   bias_init_fn=lambda n: rng.standard_normal(n).astype(f32))
    conv = layer.conv2d_stride1
    dLdZ = rng.standard_normal((N, O, H + 2 * pad - k + 1, H + 2 * pad - k + 1), dtype=f32)

    def run_mytorch():
        Z = layer.forward(A)
        return Z, layer.backward(dLdZ)

    tA = torch.from_numpy(A).requires_grad_()
    tW = torch.from_numpy(conv.W.copy()).requires_grad_()
    tb = torch.from_numpy(conv.b.copy()).requires_grad_()
    t_dLdZ = torch.from_numpy(dLdZ)

    def run_torch():
        tA.grad = tW.grad = tb.grad = None
        Z = F.conv2d(tA, tW, tb, padding=pad)
        Z.backward(t_dLdZ)
        return Z, tA.grad

    (Z, dLdA), (tZ, t_dLdA) = run_mytorch(), run_torch()
    for name, mine, ref in (("Z", Z, tZ), ("dLdA", dLdA, t_dLdA), ("dLdW", conv.dLdW, tW.grad),
                            ("dLdb", conv.dLdb, tb.grad)):
        ref = ref.detach().numpy()
        err = np.abs(mine - ref).max() / np.abs(ref).max()
        if mine.dtype != np.float32 or err > 1e-4:
            raise SystemExit(f"{name} differs: dtype {mine.dtype}, max relative error {err:.2e}")
    def torch_forward():
        with torch.no_grad():
            return F.conv2d(tA, tW, tb, padding=pad)

    t = interleaved_times({"mytorch": run_mytorch, "torch": run_torch,
                           "mytorch forward": lambda: layer.forward(A),
                           "torch forward": torch_forward}, args.repeats)
    print(f"Conv2d forward+backward, float32, N={N} C={C}->{O} {H}x{H} k={k} padding={pad}, "
          f"CPU, median of {args.repeats}, timed alternately")
    print(f"  threads: torch {torch.get_num_threads()}, numpy BLAS {blas_threads()}")
    print("                          wall ms    CPU ms")
    for name in ("mytorch", "torch", "mytorch forward", "torch forward"):
        print(f"  {name:<22}{t[name][0] * 1e3:8.1f}  {t[name][1] * 1e3:8.1f}")
    for what, a, b in (("forward+backward", "mytorch", "torch"),
                       ("forward alone", "mytorch forward", "torch forward")):
        print(f"  ratio mytorch / torch, {what:<17} wall {t[a][0] / t[b][0]:5.2f}x   "
              f"CPU {t[a][1] / t[b][1]:5.2f}x   (goal <= 3x)")


if __name__ == "__main__":
    main()
