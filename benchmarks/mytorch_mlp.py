"""MLP training step (forward, cross-entropy, backward, optimizer): mytorch (NumPy) against
PyTorch on the CPU, measured in the same run with the same number of threads.

    python benchmarks/mytorch_mlp.py [--sizes 1708 1024 1024 512 40 --batch 1024
                                      --optimizer adam --repeats 7 --threads 1]

float32 and identical initial weights and batches. The two models are first checked to
agree after one step; then each library runs ``--repeats`` rounds (after two warm-up steps),
interleaved so that a busy machine slows both alike. Prints the median time per step of
each and the ratio mytorch / torch (goal: within 1.5x).
"""
import argparse
import functools

from _harness import cpu_name, interleaved_times, parse_with_threads


def mytorch_train_step(model, loss, opt, X, labels):
    L = loss.forward(model.forward(X), labels)
    model.backward(loss.backward())
    opt.step()
    return L


def torch_train_step(model, opt, X, labels):
    import torch

    opt.zero_grad(set_to_none=True)
    L = torch.nn.functional.cross_entropy(model(X), labels)
    L.backward()
    opt.step()
    return L.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1708, 1024, 1024, 512, 40])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], nargs="+", default=["sgd", "adam"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parse_with_threads(parser, device=None)

    import numpy as np
    import torch

    import mytorch
    from mytorch.models import MLP

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.batch, args.sizes[0]), dtype=np.float32)
    labels = rng.integers(0, args.sizes[-1], args.batch)
    tX, tlabels = torch.from_numpy(X), torch.from_numpy(labels)

    print(f"MLP {'-'.join(map(str, args.sizes))}, batch {args.batch}, float32, "
          f"{args.threads} thread(s), {cpu_name()}, numpy {np.__version__}, torch {torch.__version__}")
    for opt_name in args.optimizer:
        model = MLP(args.sizes, seed=0, dtype=np.float32)
        ref = torch.nn.Sequential(*[
            m for i, (a, b) in enumerate(zip(args.sizes[:-1], args.sizes[1:]))
            for m in ([torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(args.sizes) - 2 else []))])
        with torch.no_grad():
            lins = [m for m in ref if isinstance(m, torch.nn.Linear)]
            for lin, mine in zip(lins, [layer for layer in model.layers if hasattr(layer, "W")]):
                lin.weight.copy_(torch.from_numpy(mine.W))
                lin.bias.copy_(torch.from_numpy(mine.b[:, 0]))
        if opt_name == "sgd":
            opt = mytorch.optim.SGD(model, lr=0.01, momentum=0.9)
            topt = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.9)
        else:
            opt = mytorch.optim.Adam(model, lr=1e-4)
            topt = torch.optim.Adam(ref.parameters(), lr=1e-4)
        loss = mytorch.nn.CrossEntropyLoss()

        mytorch_step = functools.partial(mytorch_train_step, model, loss, opt, X, labels)
        torch_step = functools.partial(torch_train_step, ref, topt, tX, tlabels)

        L1, tL1 = mytorch_step(), torch_step()
        L2, tL2 = mytorch_step(), torch_step()               # the second loss saw one update
        assert abs(L1 - tL1) < 1e-4 and abs(L2 - tL2) < 1e-3, (L1, tL1, L2, tL2)
        t = interleaved_times({"mytorch": mytorch_step, "torch": torch_step}, args.repeats)
        med = {k: wall for k, (wall, _) in t.items()}
        print(f"{opt_name:>5}: mytorch {1e3 * med['mytorch']:8.1f} ms/step   "
              f"torch {1e3 * med['torch']:8.1f} ms/step   ratio mytorch/torch "
              f"{med['mytorch'] / med['torch']:.2f}x   (median of {args.repeats}, "
              f"losses agree: {L2:.5f} vs {tL2:.5f})")


if __name__ == "__main__":
    main()
