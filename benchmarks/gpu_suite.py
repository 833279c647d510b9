"""Every GPU measurement of benchmarks/ in one short run, and the minutes per epoch of each Part 2
notebook's default model on this device.

    python benchmarks/gpu_suite.py                  # on a GPU: under 6 minutes; table appended to RESULTS.md
    python benchmarks/gpu_suite.py --smoke          # CPU, tiny sizes, seconds (part of `make test`)
    python benchmarks/gpu_suite.py --json out.json --only hw1   # measures whose name contains "hw1"

(1) Per notebook (hw1p2, hw2p2, hw3p2, las, hw4p1, hw4p2): its default model, loss and optimizer,
    built by running the notebook's own cells (``gpu/notebooks.py``), trained with
    ``common.engine.train.train_epoch`` on synthetic tensors of the real data's shapes; printed: the
    projected minutes per epoch of the real training set.
(2) The GPU goals of the other benchmarks (``gpu/goals.py``): HW1 pipeline vs the starter with 4
    workers, its share over the step, MFU of the 20M MLP; HW2 device-side augmentation, AMP +
    channels_last; HW3 bucketing and the packed BiLSTM; CTC beam search vs pyctcdecode; HW4 K/V
    cache and SDPA; LM generation cache; DDP scaling with more than one GPU.
Each measurement runs under its own time limit inside a total budget (``--budget-s``); an error,
a timeout or an exhausted budget is printed in its row and the suite goes on. Without a CUDA
device the suite runs the smoke sizes. The table (measure, ours, baseline, ratio, goal, met?) is
printed, written with ``--json``, and appended with the device, torch and CUDA versions to
benchmarks/RESULTS.md after a GPU run (never in smoke mode).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import REPO_ROOT, cpu_name, pin_threads  # noqa: E402

RESULTS = HERE / "RESULTS.md"
COLUMNS = ("measure", "ours", "baseline", "ratio", "goal", "met")


class BudgetExceeded(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise BudgetExceeded in the main thread after ``seconds`` (SIGALRM; no limit elsewhere)."""
    if not hasattr(signal, "setitimer") or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise BudgetExceeded(f"stopped after its {seconds:.3g} s limit")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def measurements(device, smoke: bool, hw2_images: int) -> list[tuple[str, float, object]]:
    """(name, time limit in s, function returning rows), notebooks first."""
    from gpu import goals
    from gpu.notebooks import notebook_rows, notebook_specs, sizes

    cfg = sizes(smoke, hw2_images)
    out = [(f"{spec['key']} minutes per epoch", 45, (lambda spec=spec: notebook_rows(spec, cfg, smoke)))
           for spec in notebook_specs(smoke)]
    out += [("hw1 pipeline", 60, lambda: goals.hw1(device, smoke)),
            ("hw2 pipeline", 100, lambda: goals.hw2(device, smoke)),
            ("hw3 training", 60, lambda: goals.hw3(device, smoke)),
            ("ctc decoding", 60, lambda: goals.ctc(device, smoke)),
            ("hw4 decoding", 60, lambda: goals.hw4(device, smoke)),
            ("lm generation", 40, lambda: goals.lm(device, smoke)),
            ("ddp scaling", 150, lambda: goals.ddp(device, smoke))]
    return out


def failed(name: str, why: str) -> dict:
    return {"measure": name, "ours": "n/a", "baseline": "-", "ratio": "-", "goal": "-", "met": "error",
            "detail": why, "value": None, "error": why}


def run_all(device, smoke: bool, budget_s: float, only: str | None, hw2_images: int) -> tuple[list[dict], float]:
    import torch

    rows, start = [], time.perf_counter()
    for name, limit, fn in measurements(device, smoke, hw2_images):
        if only and only not in name:
            continue
        left = budget_s - (time.perf_counter() - start)
        if left < 5:
            rows.append(failed(name, f"skipped: the {budget_s:.0f} s budget is spent"))
            continue
        t0 = time.perf_counter()
        print(f"== {name} (limit {min(limit, left):.0f} s)", flush=True)
        try:
            with time_limit(min(limit, left)):
                got = fn()
        except BaseException as e:               # noqa: BLE001 -- a row of the table, whatever happened
            if isinstance(e, KeyboardInterrupt):
                raise
            first = (str(e).strip().splitlines() or [""])[0][:300]
            got = [failed(name, f"{type(e).__name__}: {first}")]
        for r in got:
            r["seconds"] = round(time.perf_counter() - t0, 1)
            print(f"   {r['measure']}: {r['ours']} (baseline {r['baseline']}, ratio {r['ratio']}, goal {r['goal']}, "
                  f"met {r['met']}) {r['detail']}", flush=True)
        rows += got
        if device.type == "cuda":                # free the row's models (gc takes ~1 s: GPU runs only)
            gc.collect()
            torch.cuda.empty_cache()
    return rows, time.perf_counter() - start


def environment(device) -> dict:
    import torch

    cuda = device.type == "cuda"
    return {"device": torch.cuda.get_device_name(device) if cuda else f"CPU ({cpu_name()})",
            "gpus": torch.cuda.device_count() if cuda else 0, "torch": torch.__version__,
            "cuda": torch.version.cuda or "none", "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}


def markdown(rows: list[dict]) -> str:
    def cell(v):
        return str(v).replace("|", "/").replace("\n", " ")
    lines = ["| " + " | ".join(COLUMNS + ("detail",)) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS + ("detail",)) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (seconds): the same code paths")
    p.add_argument("--json", metavar="OUT", help="write the rows and the environment to this JSON file")
    p.add_argument("--budget-s", type=float, default=330, help="total time budget (each measurement also has a limit)")
    p.add_argument("--only", help="run only the measurements whose name contains this text")
    p.add_argument("--hw2-images", type=int, default=None, help="HW2P2 training images per epoch (F24 estimate)")
    p.add_argument("--no-results", action="store_true", help="do not append the GPU table to benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")              # train_epoch's bars would flood the log
    if args.smoke:
        pin_threads(1)                                       # before torch loads: a shared CPU stays usable

    import torch
    from gpu.notebooks import HW2_TRAIN_IMAGES

    if not args.smoke and not torch.cuda.is_available():
        print("no CUDA device: running the smoke sizes on the CPU (--smoke)")
        args.smoke = True
        pin_threads(1)
    if args.smoke:
        torch.set_num_threads(1)
    device = torch.device("cpu" if args.smoke else "cuda")
    env = environment(device)
    print(f"gpu_suite{' --smoke' if args.smoke else ''}: {env['device']}, torch {env['torch']}, CUDA {env['cuda']}, "
          f"{env['date']}; budget {args.budget_s:.0f} s")
    rows, total = run_all(device, args.smoke, args.budget_s, args.only, args.hw2_images or HW2_TRAIN_IMAGES)
    table = markdown(rows)
    print(f"\n{table}\n\n{len(rows)} rows in {total:.0f} s; "
          f"{sum(r['met'] == 'error' for r in rows)} error(s)")
    if args.json:
        Path(args.json).write_text(json.dumps({**env, "smoke": args.smoke, "seconds": round(total, 1), "rows": rows},
                                              indent=1, default=str))
    if not args.smoke and not args.no_results and not args.only:
        with RESULTS.open("a") as f:                        # one append, never a rewrite
            f.write(f"\n## GPU suite (issue 16): `benchmarks/gpu_suite.py`, {env['device']}\n"
                    f"torch {env['torch']}, CUDA {env['cuda']}, {env['gpus']} GPU(s), {env['date']}, "
                    f"{total:.0f} s. Minutes per epoch: the notebook's default model on synthetic tensors of the "
                    f"real shapes, projected to the full F24 training set.\n\n{table}\n")
        print(f"appended to {RESULTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
