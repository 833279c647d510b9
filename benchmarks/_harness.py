"""Shared helpers of the benchmarks: thread pinning, interleaved timing, machine facts, GPU peaks.

``pin_threads`` (or ``parse_with_threads``, which calls it) must run before numpy or torch is
imported (the BLAS libraries read the variables once). ``interleaved_times`` runs the contenders
in turn each round, so that a busy shared machine slows all of them alike, and reports medians of
wall and process CPU time.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# dense 16-bit tensor-core peaks (FLOP/s, vendors' data sheets): bf16, or fp16 where the device has
# no bf16 (T4, V100, P100: what autocast uses there). First match of the name wins (specific first).
PEAK_16BIT = [("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200 NVL", 835e12),
              ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12), ("L40S", 362e12), ("L40", 181e12),
              ("L4", 121e12), ("A10G", 70e12), ("A10", 125e12), ("T4", 65e12), ("V100-PCIE", 112e12),
              ("V100", 125e12), ("P100-PCIE", 18.7e12), ("P100", 21.2e12)]


def peak_flops(device_name: str) -> float | None:
    """The 16-bit peak of a device named like ``torch.cuda.get_device_name()``; None if unknown."""
    return next((v for k, v in PEAK_16BIT if k.lower() in device_name.lower()), None)


def pin_threads(n: int) -> None:
    """Give numpy's BLAS and torch the same ``n`` threads (call before importing them)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def parse_with_threads(parser, argv=None, threads: int = 1, device: str | None = "cpu"):
    """A benchmark's arguments plus ``--threads`` (and ``--device`` unless ``device`` is None), with
    numpy's BLAS and torch pinned to that many threads. Call it first in ``main``: before numpy or
    torch is imported anywhere (this imports torch after setting the variables)."""
    parser.add_argument("--threads", type=int, default=threads)
    if device is not None:
        parser.add_argument("--device", default=device)
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    return args


def interleaved_times(fns: dict, repeats: int) -> dict:
    """{name: (median wall s, median process CPU s)}; one warm-up call each, then rounds."""
    for fn in fns.values():
        fn()
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)

    def median(xs):
        return sorted(xs)[len(xs) // 2]

    return {name: (median(wall[name]), median(cpu[name])) for name in fns}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_threads() -> str:
    """What numpy's BLAS really uses (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    pools = [f"{p['internal_api']} {p['num_threads']} ({p.get('architecture')} kernels)"
             for p in threadpool_info() if p["user_api"] == "blas"]
    return ", ".join(pools) or "none found"
